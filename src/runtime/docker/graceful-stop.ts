import type Docker from 'dockerode';
import { engineRef, statusOf, translateEngineError } from './errors.js';

/** How often SIGTERM is sent again while a graceful stop waits. */
export const RESEND_EVERY_MS = 500;

/**
 * A graceful stop: SIGTERM to the container's PID 1, then SIGKILL when `timeoutMs` runs out.
 *
 * Unlike the engine's own stop, SIGTERM is sent again every RESEND_EVERY_MS until the container ends.
 * Why: right after a start the engine may answer before PID 1 (Warden's guard) has its signal mask in
 * place; a PID 1 drops every signal it has no handler for, so the engine's single SIGTERM could be lost
 * and the stop would then wait out the whole grace period (found by the API fuzzer: stop right after
 * refresh, 300 s). The guard acts on the first SIGTERM it receives and ignores the rest, so sending it
 * again changes nothing else. Earlier still, PID 1 may be the engine's `runc init` (a Go program) that
 * has not yet exec'd the entrypoint: a SIGTERM then ends the container at once with exit code 2 (Go's
 * runtime exits 2 when a PID 1 drops its re-raised signal). The stop still holds; only that code says so.
 */
export async function gracefulStop(docker: Docker, id: string, timeoutMs: number): Promise<void> {
  const c = docker.getContainer(engineRef(id));
  const signal = async (sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> => {
    try {
      await c.kill({ signal: sig });
      return true;
    } catch (err) {
      if (statusOf(err) === 409 || statusOf(err) === 304) return false; // not running (any more)
      throw translateEngineError(err, `stopping ${id}`);
    }
  };
  if (timeoutMs <= 0 || !(await signal('SIGTERM'))) {
    if (timeoutMs <= 0) await signal('SIGKILL');
    await waitEnded(c, id);
    return;
  }
  const ended = waitEnded(c, id).then(() => true);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.min(RESEND_EVERY_MS, left))));
    const done = await Promise.race([ended, tick]);
    clearTimeout(timer);
    if (done) return;
    if (!(await signal('SIGTERM'))) return void (await ended);
  }
  await signal('SIGKILL');
  await ended;
}

/** Resolves once the container is not running (at once when it is not). */
async function waitEnded(c: Docker.Container, id: string): Promise<void> {
  try {
    await c.wait({ condition: 'not-running' });
  } catch (err) {
    if (statusOf(err) === 404) return; // removed meanwhile: ended
    throw translateEngineError(err, `waiting for ${id} to stop`);
  }
}
