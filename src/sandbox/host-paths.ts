import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ValidationError } from '../errors.js';

const ENGINE_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock'];
/** Never mounted, nor any directory that contains one of them. */
const FORBIDDEN_SOURCES = ['/', '/proc', '/sys', '/dev', '/boot', '/etc', '/var/run', '/run', '/var/lib/docker', '/var/lib/containerd', ...ENGINE_SOCKETS];
/** Nothing inside these either (kernel and device interfaces, the engine's data). */
const FORBIDDEN_TREES = ['/proc', '/sys', '/dev', '/boot', '/var/lib/docker', '/var/lib/containerd', '/run/containerd', '/run/docker', '/var/run/docker'];

/** What Warden keeps in its home that no sandbox may see: the server token, the database (and its WAL), the server log. */
const HOME_SECRETS = ['token', 'warden.db', 'server.log', 'secrets'];

const within = (path: string, dir: string): boolean => path === dir || dir === '/' || path.startsWith(`${dir}/`);

/**
 * Resolve and check a host path a spec wants mounted: it must exist, be of the expected kind, and
 * neither be nor contain something no policy may expose (the engine's socket and data root, /, /proc,
 * /etc, Warden's home, ...: `--mount /var/lib` would show every proxy's config with its keys), nor lie
 * inside the kernel's, the devices' or the engine's trees. `refused.trees` adds such trees of this
 * host (the engine's data root); `refused.home` is Warden's home: it and its parents are refused, and
 * inside it the token, the database and the server log.
 */
export async function checkHostPath(
  field: string,
  input: string,
  kind: 'dir' | 'any',
  refused: { trees?: readonly string[]; home?: string } = {},
): Promise<{ path: string; uid: number; gid: number }> {
  const abs = isAbsolute(input) ? input : resolve(input);
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new ValidationError(`${field}: '${input}' does not exist; create it first (mkdir -p ${abs}) or pass an existing path`, [
      { path: field, message: 'does not exist' },
    ]);
  }
  const st = await stat(real);
  if (kind === 'dir' && !st.isDirectory()) {
    throw new ValidationError(`${field}: '${input}' is not a directory`, [{ path: field, message: 'not a directory' }]);
  }
  if (st.isSocket() || ENGINE_SOCKETS.includes(real) || real.endsWith('/docker.sock')) {
    throw new ValidationError(`${field}: '${input}' is an engine socket; no policy can mount it into a sandbox`, [{ path: field, message: 'engine socket' }]);
  }
  // Warden's home: never it nor a parent (its agent state and workspaces inside it may be mounted)
  const home = refused.home;
  const forbidden = [...FORBIDDEN_SOURCES, ...(refused.trees ?? []), ...(home ? [home] : [])];
  const contained = forbidden.find((p) => within(p, real));
  if (contained) {
    const what = contained === real ? `the host's ${real}` : `${real}, which contains ${contained},`;
    throw new ValidationError(`${field}: mounting ${what} is refused; mount a project directory instead`, [{ path: field, message: 'forbidden host path' }]);
  }
  const inside = [...FORBIDDEN_TREES, ...(refused.trees ?? [])].find((p) => p !== '/' && within(real, p));
  if (inside) {
    throw new ValidationError(`${field}: ${real} lies inside ${inside}, which is refused; mount a project directory instead`, [{ path: field, message: 'forbidden host path' }]);
  }
  const secret = home ? HOME_SECRETS.map((n) => `${home}/${n}`).find((p) => within(real, p) || real.startsWith(`${p}-`)) : undefined;
  if (secret) {
    throw new ValidationError(`${field}: ${real} is Warden's own state (${secret}), which is refused; mount a project directory instead`, [{ path: field, message: 'forbidden host path' }]);
  }
  return { path: real, uid: st.uid, gid: st.gid };
}
