import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ValidationError } from '../errors.js';

const ENGINE_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock'];
const FORBIDDEN_SOURCES = ['/', '/proc', '/sys', '/dev', '/boot', '/etc', '/var/run', '/run', '/var/lib/docker'];

/**
 * Resolve and check a host path a spec wants mounted: it must exist, be of the expected kind, and not
 * be something no policy may expose (the engine's socket, /, /proc, /etc, /var/lib/docker, ...).
 */
export async function checkHostPath(field: string, input: string, kind: 'dir' | 'any'): Promise<{ path: string; uid: number; gid: number }> {
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
  if (FORBIDDEN_SOURCES.includes(real)) {
    throw new ValidationError(`${field}: mounting the host's ${real} is not allowed; mount a project directory instead`, [{ path: field, message: 'forbidden host path' }]);
  }
  return { path: real, uid: st.uid, gid: st.gid };
}
