import type { SandboxRuntime } from '../runtime/sandbox-runtime.js';

/**
 * Run one of Warden's own short scripts in a sandbox (kill a tree, drain, read stats) and return its
 * stdout. It is dropped after `timeoutMs`: an exec whose sandbox is killed or removed meanwhile
 * may otherwise never end its stream.
 */
export async function runInternal(runtime: SandboxRuntime, unitId: string, cmd: string[], user: string, timeoutMs = 15_000): Promise<{ exitCode: number; stdout: string }> {
  const e = await runtime.exec(unitId, { cmd, env: {}, user, stdin: false });
  const out: Buffer[] = [];
  e.stdout.on('data', (d: Buffer) => out.push(d));
  e.stderr.resume();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      e.detach();
      resolve(-1);
    }, timeoutMs);
    timer.unref();
  });
  try {
    const exitCode = await Promise.race([e.wait(), timedOut]);
    return { exitCode, stdout: Buffer.concat(out).toString('utf8') };
  } finally {
    clearTimeout(timer);
  }
}
