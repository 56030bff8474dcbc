import { WardenError } from '../errors.js';
import type { PtyApi } from '../client/api.js';
import type { ExitInfo } from '../sandbox/process.js';

/** `-t` needs a terminal on both ends here; say how to do without one. */
export function requireTerminal(): void {
  if (!process.stdin.isTTY) {
    throw new WardenError('NOT_A_TERMINAL', 'the input is not a terminal, so -t cannot give the command one; drop -t (keep -i to pipe stdin into it), or run this from a terminal');
  }
}

/**
 * Attach this process's terminal to a terminal session: raw mode (every key, Ctrl-C included, goes to
 * the program, not to Warden), window-size changes forwarded, output with backpressure. The terminal is
 * restored on every way out: exit, error, signal. Resolves with the program's exit.
 */
export async function attachTerminal(open: (size: { cols: number; rows: number }) => Promise<PtyApi>): Promise<ExitInfo> {
  requireTerminal();
  const stdin = process.stdin;
  const stdout = process.stdout;
  const size = (): { cols: number; rows: number } => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const pty = await open(size());
  const wasRaw = stdin.isRaw;
  const restore = (): void => {
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
  };
  process.once('exit', restore);
  const onResize = (): void => {
    const s = size();
    void pty.resize(s.cols, s.rows).catch(() => undefined);
  };
  const onKey = (b: Buffer): void => pty.write(b);
  // signals that reach Warden itself (not keys: those go to the program) end the session like a hangup
  const onSignal = (): void => void pty.kill('SIGHUP').catch(() => undefined);
  try {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
    stdout.on('resize', onResize);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    pty.output.pipe(stdout, { end: false });
    const exit = await pty.wait();
    if (stdout.writableNeedDrain) await new Promise((r) => stdout.once('drain', r));
    return exit;
  } finally {
    pty.output.unpipe(stdout);
    stdin.off('data', onKey);
    stdin.pause();
    stdout.off('resize', onResize);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    restore();
    process.off('exit', restore);
  }
}
