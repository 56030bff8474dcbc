import { isAbsolute, posix } from 'node:path';
import { z } from 'zod';
import { ValidationError, WardenError } from '../errors.js';

/**
 * One directory Warden sees at `local` (inside its own container) that the engine's host has at
 * `host`: the bind mount Warden's container was started with (`./workspaces:/workspace`).
 */
export const HostPathMapping = z
  .object({
    local: z.string().describe('Absolute path as Warden sees it (inside its container), e.g. /workspace.'),
    host: z.string().describe("The same directory's absolute path on the engine's host, e.g. /srv/warden/workspaces."),
  })
  .strict()
  .refine((m) => isAbsolute(m.local) && isAbsolute(m.host), { message: 'both sides must be absolute paths' })
  .refine((m) => posix.normalize(m.local) !== '/', { message: "mapping '/' would let every path through; map the mounted directories one by one" });
export type HostPathMapping = z.infer<typeof HostPathMapping>;

/**
 * How paths Warden sees translate to the engine host's paths. `undefined` (or `[]`): Warden runs on
 * the engine's host and every path is already a host path. Non-empty: Warden runs in a container and
 * only paths under a mapping can be bind-mounted (any other path names a directory of Warden's own
 * container, which the engine cannot mount).
 */
export type HostPathMap = readonly HostPathMapping[];

/**
 * Parse `WARDEN_HOST_PATH_MAP`: `local=host` pairs separated by commas, e.g.
 * `/workspace=/srv/warden/workspaces,/app/data=/srv/warden/data`. Empty or unset: no mapping.
 *
 * @example
 * parseHostPathMap('/workspace=/home/me/warden/workspaces')
 * // [{ local: '/workspace', host: '/home/me/warden/workspaces' }]
 */
export function parseHostPathMap(raw: string | undefined): HostPathMap {
  const out: HostPathMapping[] = [];
  for (const pair of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf('=');
    const parsed = HostPathMapping.safeParse(i > 0 ? { local: pair.slice(0, i).trim(), host: pair.slice(i + 1).trim() } : {});
    if (i <= 0 || !parsed.success) {
      const why = i <= 0 ? 'it is not local=host' : parsed.error!.issues.map((x) => x.message).join('; ');
      throw new WardenError('INVALID_ARGUMENT', `WARDEN_HOST_PATH_MAP entry '${pair}' is invalid (${why}); write absolute local=host pairs separated by commas, e.g. /workspace=/srv/warden/workspaces`);
    }
    out.push({ local: posix.normalize(parsed.data.local).replace(/\/$/, ''), host: posix.normalize(parsed.data.host).replace(/\/$/, '') || '/' });
  }
  // the longest local prefix wins when mappings nest
  return out.sort((a, b) => b.local.length - a.local.length);
}

/**
 * The engine host's path for a real (symlink-free, absolute) local path. Identity without a map;
 * with one, a path under no mapping is refused: the engine would mount whatever the host has there.
 */
export function toHostPath(field: string, localPath: string, map: HostPathMap | undefined): string {
  if (!map || map.length === 0) return localPath;
  for (const m of map) {
    if (localPath === m.local) return m.host;
    if (localPath.startsWith(`${m.local}/`)) return posix.join(m.host, localPath.slice(m.local.length + 1));
  }
  throw new ValidationError(
    `${field}: '${localPath}' is not under a directory shared with the engine's host (${map.map((m) => m.local).join(', ')}); Warden runs in a container, so only those can be mounted into a sandbox: put the files there (e.g. ${map[0]!.local}/<project>)`,
    [{ path: field, message: 'not under a mapped host directory' }],
  );
}

/**
 * The reverse of {@link toHostPath}: the local path of a host path recorded in a sandbox's labels (so a
 * refresh from inside the container finds the directory again). Paths under no mapping are returned as is.
 */
export function toLocalPath(hostPath: string, map: HostPathMap | undefined): string {
  for (const m of [...(map ?? [])].sort((a, b) => b.host.length - a.host.length)) {
    if (hostPath === m.host) return m.local;
    if (hostPath.startsWith(`${m.host === '/' ? '' : m.host}/`)) return posix.join(m.local, hostPath.slice(m.host === '/' ? 1 : m.host.length + 1));
  }
  return hostPath;
}
