import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { WardenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ExecHandle, SandboxRuntime } from '../runtime/sandbox-runtime.js';
import { runInternal } from './internal-exec.js';
import { checkSignal } from '../policy/limits.js';
import type { ExitInfo } from './process.js';
import { ExitMarkerFilter } from './pty-marker.js';
import { EXEC_MARK, guardExec, guardKill } from '../guest/argv.js';

/**
 * The guest half of terminal sessions (guest/pty.pl): a holder that owns the pseudo-terminal inside the
 * sandbox, and a relay that each attachment runs. Passed to `perl -e` (perl-base is in every Debian-based
 * image), so no image needs a file of Warden's. Read once, lazily, from the package (src/ and dist/ alike).
 */
let guestScript: string | undefined;
function guest(): string {
  return (guestScript ??= readFileSync(new URL('../../guest/pty.pl', import.meta.url), 'utf8'));
}

/** The workload identity a session runs as (the guard drops to it). */
type User = { uid: number; gid: number };

/** Slack for the guard's own deadline (Warden's timer acts first and lets the holder record the exit). */
const GUARD_DEADLINE_SLACK_MS = 1_000;

/** The guest script through the guard, as the sandbox user (run by an exec as root). */
function viaGuard(user: User, args: string[], o: { id?: string; tty?: boolean; cwd?: string; timeoutMs?: number } = {}): string[] {
  return guardExec(['perl', '-e', guest(), ...args], { uid: user.uid, gid: user.gid, ...o });
}

/** The image's login shell: bash when it has one, else sh. */
export const DEFAULT_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l'];

export interface PtyOptions {
  /** argv of the program on the terminal (default: the image's login shell, bash or sh). */
  cmd?: string[];
  /** Window size (default 80x24); change it later with `resize()`. */
  cols?: number;
  rows?: number;
  /** Extra environment (TERM defaults to xterm-256color). */
  env?: Record<string, string>;
  /** Working directory (default: the sandbox's workdir). */
  cwd?: string;
  /** Kill the program's whole process tree after this many milliseconds (also enforced inside the sandbox). */
  timeoutMs?: number;
  /** Abort kills the program's whole process tree. */
  signal?: AbortSignal;
}

export interface PtySessionInfo {
  id: string;
  /** running; exited (with `exitCode`); gone (its holder was killed without a code). */
  state: 'running' | 'exited' | 'gone';
  exitCode?: number;
}

function checkSize(cols: unknown, rows: unknown): { cols: number; rows: number } {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 1000;
  if (!ok(cols) || !ok(rows)) throw new WardenError('INVALID_ARGUMENT', `a terminal size is whole numbers of columns and rows from 1 to 1000 (got ${String(cols)}x${String(rows)})`);
  return { cols, rows };
}

/**
 * An interactive terminal session in a sandbox. The program runs on a pseudo-terminal held inside the
 * sandbox, so the session outlives this handle: `detach()` leaves it running, and any process that can
 * reach the sandbox attaches again with `sb.ptys.connect(id)` (the last 64 KiB of output is replayed).
 * The program carries the exec mark, so `kill()`, `timeoutMs` and `stop` end its whole process tree
 * exactly as for `spawn`.
 *
 * @example
 * const pty = await sb.pty({ cmd: ['bash'], cols: 120, rows: 40 });
 * pty.onData((b) => process.stdout.write(b));
 * pty.write('ls -la\r');
 * await pty.resize(100, 30);
 * const { exitCode } = await pty.wait();
 */
export class SandboxPty {
  /** Raw terminal output (what a terminal emulator renders); also async-iterable. */
  readonly output: Readable;
  private readonly startedAt = Date.now();
  private killedBy: 'timeout' | 'abort' | undefined;
  private detached = false;
  private readonly exited: Promise<ExitInfo>;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly runtime: SandboxRuntime,
    private readonly unitId: string,
    private readonly user: User,
    /** The session id (the exec mark of the program and everything it starts). */
    readonly id: string,
    private readonly attachMark: string,
    private readonly rt: ExecHandle,
    private readonly log: Logger,
    opts: { timeoutMs?: number; signal?: AbortSignal },
    nonce: string,
  ) {
    // the relay ends its output with a marker carrying the exit code and waits for our Ctrl-D: an engine
    // drops what a terminal exec wrote last if the process exits at once (see guest/pty.pl)
    let markerCode: number | undefined;
    const out = new ExitMarkerFilter(nonce, (code) => {
      markerCode = code;
      rt.stdin?.write('\x04');
    });
    rt.stdout.pipe(out);
    this.output = out;
    rt.stderr.resume();
    if (opts.timeoutMs !== undefined) {
      this.timer = setTimeout(() => void this.terminate('timeout'), opts.timeoutMs);
      this.timer.unref();
    }
    const onAbort = (): void => void this.terminate('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.exited = rt.wait().then(async (code) => {
      if (this.timer) clearTimeout(this.timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (this.detached) throw new WardenError('PTY_DETACHED', `this handle was detached from terminal session ${this.id}; it goes on: sb.ptys.connect('${this.id}') attaches again`);
      const relayed = markerCode ?? code;
      // 255 is also what the relay says when it lost the holder: the holder's own record decides
      const exitCode = relayed === 255 ? ((await readSessions(this.runtime, this.unitId, this.user, this.id).catch(() => []))[0]?.exitCode ?? relayed) : relayed;
      const info: ExitInfo = { exitCode, durationMs: Date.now() - this.startedAt };
      if (this.killedBy) info.killedBy = this.killedBy;
      return info;
    });
    // the attachment is over: release its connection (a killed relay can leave the engine's socket half open)
    this.exited.catch(() => undefined).finally(() => rt.detach());
  }

  /** @internal start a program on a new terminal (use Sandbox.pty). */
  static async start(runtime: SandboxRuntime, unitId: string, user: User, opts: PtyOptions, log: Logger): Promise<SandboxPty> {
    const cmd = opts.cmd ?? DEFAULT_SHELL;
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((c) => typeof c !== 'string' || c.includes('\0'))) {
      throw new WardenError('INVALID_ARGUMENT', "a terminal's command is a non-empty array of strings, e.g. ['bash', '-l']");
    }
    const { cols, rows } = checkSize(opts.cols ?? 80, opts.rows ?? 24);
    if (opts.timeoutMs !== undefined && (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0)) throw new WardenError('INVALID_ARGUMENT', `timeoutMs must be a positive number of milliseconds (got ${String(opts.timeoutMs)})`);
    if (opts.signal?.aborted) throw new WardenError('EXEC_ABORTED', 'the terminal session was aborted before it started');
    const id = randomBytes(8).toString('hex');
    // The holder starts with its own mark (not the session's): the tree kill ends the program, and the
    // holder lives on to record and report its exit code. It runs under the guard like every exec: the
    // guard's holder keeps all the session starts in its subtree and, with a timeout, ends all of it at
    // the deadline itself (Warden alive or not).
    const holder = await runtime.exec(unitId, {
      cmd: viaGuard(user, ['serve', id, String(cols), String(rows), '--', ...cmd], {
        id: `${id}-holder`,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs + GUARD_DEADLINE_SLACK_MS } : {}),
      }),
      env: { TERM: 'xterm-256color', ...(opts.env ?? {}), [EXEC_MARK]: `${id}-holder` },
      user: '0:0',
      stdin: false,
    });
    await holderReady(holder, id);
    return SandboxPty.attach(runtime, unitId, user, id, { cols, rows }, log, opts);
  }

  /** @internal attach to a running session (use sb.ptys.connect). */
  static async attach(runtime: SandboxRuntime, unitId: string, user: User, id: string, size: { cols: number; rows: number }, log: Logger, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<SandboxPty> {
    const attachMark = `${id}-a${randomBytes(4).toString('hex')}`;
    const nonce = randomBytes(12).toString('hex');
    const rt = await runtime.exec(unitId, {
      cmd: viaGuard(user, ['attach', id, nonce], { id: attachMark, tty: true }),
      env: { [EXEC_MARK]: attachMark },
      user: '0:0',
      stdin: true,
      tty: size,
    });
    const pty = new SandboxPty(runtime, unitId, user, id, attachMark, rt, log, opts, nonce);
    await pty.resize(size.cols, size.rows);
    return pty;
  }

  /** Type into the terminal (keys as the terminal sends them: '\r' for Enter, '\x03' for Ctrl-C). */
  write(data: string | Buffer): void {
    this.rt.stdin?.write(data);
  }

  /** Call `cb` with every chunk of terminal output; returns a function that stops it. */
  onData(cb: (chunk: Buffer) => void): () => void {
    this.output.on('data', cb);
    return () => this.output.off('data', cb);
  }

  /**
   * Set the window size (the program gets SIGWINCH). Resolves once the session's terminal has the new
   * size, so output written after it is laid out for it. Both terminals change: this attachment's (the
   * engine's resize) and the session's own (told to its holder directly, which answers when applied).
   */
  async resize(cols: number, rows: number): Promise<void> {
    const s = checkSize(cols, rows);
    await Promise.all([
      // best effort: the attachment's own terminal may be gone already (the program ended); the session's
      // terminal below is the one that counts
      this.rt.resize?.(s.cols, s.rows).catch((err: unknown) => this.log.debug({ err, pty: this.id }, 'resizing the attachment failed')),
      runInternal(this.runtime, this.unitId, viaGuard(this.user, ['resize', this.id, String(s.cols), String(s.rows)]), '0:0', 10_000),
    ]);
  }

  /** Resolves when the program has exited (its code: 128+N when killed by signal N). Rejects with PTY_DETACHED after `detach()`. */
  async wait(): Promise<ExitInfo> {
    const info = await this.exited;
    // when the output is being read, all of it is delivered before wait() resolves
    const out = this.output;
    if (out.readableFlowing && !out.readableEnded && !out.destroyed) await new Promise((r) => (out.once('end', r), out.once('close', r)));
    return info;
  }

  /** Send a signal to the program's whole process tree (default SIGKILL: an interactive shell ignores SIGTERM). */
  async kill(signal = 'SIGKILL'): Promise<number> {
    try {
      const r = await runInternal(this.runtime, this.unitId, guardKill(this.id, checkSignal(signal), this.user), '0:0');
      return Number.parseInt(r.stdout.trim(), 10) || 0;
    } catch (err) {
      if (err instanceof WardenError && (err.code === 'SANDBOX_NOT_RUNNING' || err.code === 'SANDBOX_NOT_FOUND')) return 0;
      throw err;
    }
  }

  /** Leave the session running and drop this attachment (`sb.ptys.connect(id)` attaches again). */
  async detach(): Promise<void> {
    if (this.detached) return;
    this.detached = true;
    // End the relay and let its connection close by itself: the engine keeps reporting a terminal exec
    // whose client hung up as running, so dropping the connection first would leave wait() pending.
    const killed = await runInternal(this.runtime, this.unitId, guardKill(this.attachMark, 'KILL', this.user), '0:0', 5_000).then(() => true, () => false);
    if (!killed) this.rt.detach();
    // bounded: with the sandbox gone the engine may never report the attachment's end
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
  }

  private async terminate(reason: 'timeout' | 'abort'): Promise<void> {
    this.killedBy ??= reason;
    try {
      await this.kill('SIGKILL');
    } catch (err) {
      this.log.warn({ err, pty: this.id, container: this.unitId }, 'killing the terminal session failed');
    }
  }
}

/** Wait for the holder's "ready" line; anything else is why it could not start. */
async function holderReady(holder: ExecHandle, id: string): Promise<void> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  holder.stderr.on('data', (c: Buffer) => err.push(c));
  const ready = await new Promise<boolean>((resolve) => {
    holder.stdout.on('data', (c: Buffer) => {
      out.push(c);
      if (Buffer.concat(out).toString().includes('ready\n')) resolve(true);
    });
    holder.stdout.once('end', () => resolve(false));
    holder.stdout.once('close', () => resolve(false));
  });
  if (ready) {
    // drop the connection: the engine keeps it open for as long as the holder runs (the whole session),
    // and an exec goes on when its client goes away
    holder.stdout.resume();
    holder.stderr.resume();
    holder.detach();
    return;
  }
  const text = Buffer.concat(err).toString().trim();
  holder.detach();
  if (/perl.*(not found|no such file)/i.test(text) || /executable file not found/i.test(Buffer.concat(out).toString())) {
    throw new WardenError('PTY_UNSUPPORTED', "this sandbox's image has no perl, which Warden's terminal sessions need inside (every Debian-based image has perl-base); use an image based on Debian or Ubuntu");
  }
  throw new WardenError('EXEC_FAILED', `terminal session ${id} did not start: ${text || Buffer.concat(out).toString().trim() || 'no output'}`);
}

/** @internal the sessions of a sandbox user, from the holders' own records inside the sandbox. */
export async function readSessions(runtime: SandboxRuntime, unitId: string, user: User, only?: string): Promise<PtySessionInfo[]> {
  const r = await runInternal(runtime, unitId, viaGuard(user, ['status', ...(only ? [only] : [])]), '0:0');
  const out: PtySessionInfo[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+) (running|exited|gone)(?: (\d+))?$/.exec(line.trim());
    if (!m) continue;
    out.push({ id: m[1]!, state: m[2] as PtySessionInfo['state'], ...(m[3] !== undefined ? { exitCode: Number(m[3]) } : {}) });
  }
  return out;
}

/** The terminal sessions of one sandbox: list them, attach to one by id (from any process). */
export class PtySessions {
  /** @internal use Sandbox.ptys */
  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly unitId: string,
    private readonly user: User,
    private readonly log: Logger,
  ) {}

  /** Every session the sandbox user has had since the sandbox started: running, exited (with code) or gone. */
  list(): Promise<PtySessionInfo[]> {
    return readSessions(this.runtime, this.unitId, this.user);
  }

  /**
   * Attach to a running session by id, from this or any other process; the last 64 KiB of its output is
   * replayed first. Several attachments may share a session (all see the output, all may type).
   */
  async connect(id: string, size: { cols?: number; rows?: number } = {}): Promise<SandboxPty> {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new WardenError('INVALID_ARGUMENT', `'${String(id)}' is not a terminal session id (16 hex characters, from pty.id)`);
    const s = checkSize(size.cols ?? 80, size.rows ?? 24);
    const [state] = await readSessions(this.runtime, this.unitId, this.user, id);
    if (!state || state.state !== 'running') {
      const why = state?.state === 'exited' ? `it exited with code ${state.exitCode}` : 'it does not exist in this sandbox (or its holder was killed)';
      throw new WardenError('PTY_NOT_FOUND', `cannot attach to terminal session ${id}: ${why}`, { details: { ...(state ?? {}) } });
    }
    return SandboxPty.attach(this.runtime, this.unitId, this.user, id, s, this.log);
  }
}
