import { once } from 'node:events';
import type { SandboxApi } from '../client/api.js';
import type { ExitInfo } from '../sandbox/process.js';

/**
 * Run a command in a sandbox with the terminal attached: stdout and stderr to ours (with backpressure),
 * our stdin when `interactive`, SIGINT/SIGTERM forwarded to the command's process tree (a second one kills it).
 */
export async function streamCommand(sb: SandboxApi, cmd: string[], opts: { interactive: boolean; timeoutMs?: number; env?: Record<string, string>; cwd?: string }): Promise<ExitInfo> {
  const proc = await sb.spawn(cmd, {
    stdin: opts.interactive,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  proc.stdout.pipe(process.stdout, { end: false });
  proc.stderr.pipe(process.stderr, { end: false });
  if (opts.interactive && proc.stdin) process.stdin.pipe(proc.stdin);
  let signals = 0;
  const forward = (sig: NodeJS.Signals): void => {
    signals++;
    void proc.kill(signals > 1 ? 'SIGKILL' : sig).catch(() => undefined);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const exit = await proc.wait();
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
    return exit;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (opts.interactive) process.stdin.unpipe();
    process.stdin.pause();
  }
}
