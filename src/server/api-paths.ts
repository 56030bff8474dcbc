import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { ValidationError } from '../errors.js';

/**
 * Host paths that reach a server through its API (workspace, configDir, mount sources) must lie under
 * the server's workspace root when one is set: an API client can only hand its sandboxes folders the
 * operator exposed. Relative paths are taken relative to the root. Rewrites the spec in place.
 */
export async function checkApiPaths(spec: { workspace?: string | undefined; configDir?: string | undefined; mounts?: Array<{ source: string }> }, root: string | undefined): Promise<void> {
  if (!root) return;
  const realRoot = await realpath(root);
  const inside = async (field: string, p: string): Promise<string> => {
    const abs = isAbsolute(p) ? p : join(realRoot, p);
    const real = await realpath(abs).catch(() => abs);
    const rel = relative(realRoot, real);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new ValidationError(`${field}: '${p}' is outside this server's workspace root ${root}; give a path under it (or relative to it), or start the server with --workspace-root DIR (WARDEN_WORKSPACE_ROOT) to allow another directory`, [{ path: field, message: 'outside the workspace root' }]);
    }
    return abs;
  };
  if (spec.workspace) spec.workspace = await inside('workspace', spec.workspace);
  if (spec.configDir) spec.configDir = await inside('configDir', spec.configDir);
  for (const [i, m] of (spec.mounts ?? []).entries()) m.source = await inside(`mounts.${i}.source`, m.source);
}
