import { WardenError } from '../errors.js';
import type { PtyApi } from '../client/api.js';
import type { ExitInfo } from '../sandbox/process.js';

/** `-t` needs a terminal on both ends here; say how to do without one. */
export function requireTerminal(): void {
  if (!process.stdin.isTTY) {
    throw new WardenError('NOT_A_TERMINAL', 'the input is not a terminal, so -t cannot give the command one; drop -t (keep -i to pipe stdin into it), or run this from a terminal');
  }
}

/** The detach keys, as docker's: Ctrl-P then Ctrl-Q. */
const CTRL_P = 0x10;
const CTRL_Q = 0x11;

/** What attaching ended with: the program's exit, or a detach (the session goes on). */
export type TerminalEnd = ExitInfo & { detached?: { ptyId: string } };

/**
 * Attach this process's terminal to a terminal session: raw mode (every key, Ctrl-C included, goes to
 * the program, not to Warden), window-size changes forwarded, output with backpressure. With
 * `detachKeys`, Ctrl-P Ctrl-Q leaves the session running and returns (as docker's). The terminal is
 * restored on every way out: exit, error, signal. Resolves with the program's exit (or the detach).
 */
export async function attachTerminal(open: (size: { cols: number; rows: number }) => Promise<PtyApi>, opts: { detachKeys?: boolean } = {}): Promise<TerminalEnd> {
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
  let held = false; // a Ctrl-P waiting to see whether Ctrl-Q follows
  let detaching: Promise<void> | undefined;
  const onKey = (chunk: Buffer): void => {
    if (!opts.detachKeys || detaching) return void (detaching ? undefined : pty.write(chunk));
    let b = held ? Buffer.concat([Buffer.from([CTRL_P]), chunk]) : chunk;
    held = false;
    for (let i = 0; i < b.length; i++) {
      if (b[i] !== CTRL_P) continue;
      if (i === b.length - 1) {
        held = true;
        b = b.subarray(0, i);
        break;
      }
      if (b[i + 1] === CTRL_Q) {
        if (i > 0) pty.write(b.subarray(0, i));
        detaching = pty.detach();
        return;
      }
    }
    if (b.length) pty.write(b);
  };
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
    const exit = await pty.wait().catch(async (err: unknown) => {
      if (!detaching) throw err;
      await detaching;
      return { exitCode: 0, durationMs: 0, detached: { ptyId: pty.id } } satisfies TerminalEnd;
    });
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
