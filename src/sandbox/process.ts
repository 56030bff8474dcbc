import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { ExecTimeoutError, WardenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ExecHandle, SandboxRuntime } from '../runtime/sandbox-runtime.js';
import { ArgvSchema, checkSignal, EnvSchema } from '../policy/limits.js';
import { runInternal } from './internal-exec.js';
import { EXEC_MARK, guardExec, guardKill } from '../guest/argv.js';

/** The guard's own deadline trails Warden's timer by this much, so Warden (when alive) reports the timeout itself. */
const GUARD_DEADLINE_SLACK_MS = 1000;

/** The sandbox's workload identity and whether root may be asked for (spec allowRoot). */
export interface WorkloadIdentity { uid: number; gid: number; allowRoot: boolean }

/** The uid:gid an exec runs as: the sandbox's, or `user` when given (uid 0 only with allowRoot). */
export function execUser(id: WorkloadIdentity, user: string | undefined): { uid: number; gid: number } {
  if (user === undefined) return { uid: id.uid, gid: id.gid };
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(user);
  if (!m) throw new WardenError('INVALID_ARGUMENT', `user '${user}' is not uid or uid:gid (numbers), e.g. 1000:1000`);
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  if ((uid === 0 || gid === 0) && !id.allowRoot) {
    throw new WardenError('ROOT_REFUSED', `a command as ${user} would run with root's identity, which is the guard's (it could stop the sandbox's time, disk and exec limits); run it as the sandbox user, or create the sandbox with allowRoot: true`);
  }
  return { uid, gid };
}

export interface SpawnOptions {
  /** Working directory inside the sandbox (default: the sandbox's workdir). */
  cwd?: string;
  /** Extra environment for this command. */
  env?: Record<string, string>;
  /** uid[:gid] for this command (default: the sandbox user). */
  user?: string;
  /** Open stdin (spawn): write to `process.stdin`, end it to close. */
  stdin?: boolean;
  /** Kill the command's whole process tree after this many milliseconds. */
  timeoutMs?: number;
  /** Abort kills the command's whole process tree. */
  signal?: AbortSignal;
}

export interface ExitInfo {
  exitCode: number;
  durationMs: number;
  /** Set when Warden killed the tree: 'timeout' or 'abort'. */
  killedBy?: 'timeout' | 'abort';
}

/**
 * A running command in a sandbox: stdout and stderr apart (Node streams, also async-iterable),
 * stdin, signals to its whole process tree, and `wait()` for the exit. Consume both outputs (or
 * call `resume()` on them): like a pipe, an unread stream eventually holds the process back.
 */
export class SandboxProcess {
  readonly id: string;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable | undefined;
  private readonly startedAt = Date.now();
  private killedBy: 'timeout' | 'abort' | undefined;
  private readonly exited: Promise<ExitInfo>;
  private timer: NodeJS.Timeout | undefined;

  /** @internal use Sandbox.spawn */
  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly unitId: string,
    private readonly user: { uid: number; gid: number },
    execId: string,
    private readonly rt: ExecHandle,
    opts: SpawnOptions,
    private readonly log: Logger,
  ) {
    this.id = execId;
    this.stdout = new UnreadBuffer(rt.stdout);
    this.stderr = new UnreadBuffer(rt.stderr);
    this.stdin = rt.stdin;
    if (opts.timeoutMs !== undefined) {
      this.timer = setTimeout(() => void this.terminate('timeout'), opts.timeoutMs);
      this.timer.unref();
    }
    const onAbort = (): void => void this.terminate('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.exited = rt.wait().then(
      (exitCode) => this.finish(exitCode, opts.signal, onAbort),
      (err: unknown) => {
        this.finish(-1, opts.signal, onAbort);
        throw err;
      },
    );
  }

  private finish(exitCode: number, signal: AbortSignal | undefined, onAbort: () => void): ExitInfo {
    if (this.timer) clearTimeout(this.timer);
    signal?.removeEventListener('abort', onAbort);
    const info: ExitInfo = { exitCode, durationMs: Date.now() - this.startedAt };
    if (this.killedBy) info.killedBy = this.killedBy;
    return info;
  }

  /**
   * Start a command through the guard (guest/exec.c): the exec itself runs as root, the guard drops to
   * the workload user, holds everything the command starts (child subreaper) and, with a timeout, kills
   * the whole tree at the deadline itself, so the timeout holds at the pids cap and with Warden gone.
   * @internal
   */
  static async start(runtime: SandboxRuntime, unitId: string, cmd: string[], identity: WorkloadIdentity, opts: SpawnOptions, log: Logger): Promise<SandboxProcess> {
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((c) => typeof c !== 'string')) {
      throw new WardenError('INVALID_ARGUMENT', "a command is a non-empty array of strings, e.g. ['bash', '-lc', 'npm test']");
    }
    // the same limits the API checks: the kernel's, named here instead of an engine error blaming the image
    const bad = [ArgvSchema.safeParse(cmd), EnvSchema.safeParse(opts.env ?? {})].find((r) => !r.success);
    if (bad && !bad.success) throw new WardenError('INVALID_ARGUMENT', `command: ${bad.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    if (opts.timeoutMs !== undefined && !(Number.isFinite(opts.timeoutMs) && opts.timeoutMs > 0)) {
      throw new WardenError('INVALID_ARGUMENT', `timeoutMs ${String(opts.timeoutMs)} is not a positive number of milliseconds`);
    }
    if (opts.signal?.aborted) throw new WardenError('EXEC_ABORTED', 'the command was aborted before it started');
    const { uid, gid } = execUser(identity, opts.user);
    const execId = randomBytes(8).toString('hex');
    const rt = await runtime.exec(unitId, {
      cmd: guardExec(cmd, {
        uid,
        gid,
        id: execId,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs + GUARD_DEADLINE_SLACK_MS } : {}),
      }),
      env: { ...(opts.env ?? {}), [EXEC_MARK]: execId },
      user: '0:0',
      stdin: opts.stdin === true,
    });
    return new SandboxProcess(runtime, unitId, { uid, gid }, execId, rt, opts, log);
  }

  /**
   * Stop receiving output and drop the connection. The process keeps running (the engine does not
   * stop an exec whose client went away); `kill()` still reaches it.
   */
  detach(): void {
    this.rt.detach();
  }

  /**
   * Resolves when the process has exited and its output is drained. Output nobody reads never holds
   * the process back from here on: an unread stream keeps up to 16 MiB for a late reader and drops the
   * rest (logged), so `wait()` returns whether or not the caller reads stdout and stderr.
   */
  wait(): Promise<ExitInfo> {
    for (const [name, s] of [['stdout', this.stdout], ['stderr', this.stderr]] as const) {
      if (s instanceof UnreadBuffer) s.release((dropped) => this.log.warn({ exec: this.id, stream: name, dropped }, `unread ${name} over ${MAX_UNREAD_BYTES} bytes was dropped; read it (or pipe it) to keep it`));
    }
    return this.exited;
  }

  /** Send a signal to the command's whole process tree (default SIGTERM). */
  async kill(signal = 'SIGTERM'): Promise<number> {
    signal = checkSignal(signal);
    try {
      const r = await runInternal(this.runtime, this.unitId, guardKill(this.id, signal, this.user), '0:0');
      return Number.parseInt(r.stdout.trim(), 10) || 0;
    } catch (err) {
      if (err instanceof WardenError && (err.code === 'SANDBOX_NOT_RUNNING' || err.code === 'SANDBOX_NOT_FOUND')) return 0;
      throw err;
    }
  }

  private async terminate(reason: 'timeout' | 'abort'): Promise<void> {
    this.killedBy ??= reason;
    try {
      await this.kill('SIGKILL');
    } catch (err) {
      this.log.warn({ err, exec: this.id, sandbox: this.unitId }, 'killing exec tree failed');
    }
  }
}

/** What an unread output stream keeps for a late reader once wait() was called. */
export const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

/**
 * A command's stdout or stderr as the caller sees it: the runtime's stream piped through, with its
 * backpressure (a slow reader slows the command, as with a pipe), until `release()`: from then on, if
 * nobody reads it, its output is taken off the runtime's stream at once (so the command and its other
 * stream are never held back) and kept up to MAX_UNREAD_BYTES for a late reader; the rest is dropped.
 */
class UnreadBuffer extends PassThrough {
  private released = false;

  constructor(private readonly src: Readable) {
    super({ highWaterMark: 256 * 1024 });
    src.on('error', (err) => this.destroy(err));
    // a broken engine connection must not crash a program that never listened for errors: wait()
    // reports the outcome either way (listeners the caller adds still get the error)
    this.on('error', () => undefined);
    src.pipe(this);
  }

  private get consumed(): boolean {
    return this.readableFlowing === true || this.listenerCount('data') > 0 || this.listenerCount('readable') > 0;
  }

  release(onDropped: (bytes: number) => void): void {
    if (this.released || this.consumed || this.src.readableEnded) return;
    this.released = true;
    this.src.unpipe(this);
    let kept = this.readableLength + this.writableLength;
    let dropped = 0;
    this.src.on('data', (c: Buffer) => {
      if (this.consumed) {
        // a reader came after all: its pace is the command's pace again, as with a pipe
        if (!this.write(c)) {
          this.src.pause();
          this.once('drain', () => this.src.resume());
        }
      } else if (kept + c.length <= MAX_UNREAD_BYTES) {
        kept += c.length;
        this.write(c); // past the high-water mark on purpose: bounded by MAX_UNREAD_BYTES
      } else dropped += c.length;
    });
    this.src.once('end', () => {
      if (dropped) onDropped(dropped);
      this.end();
    });
    this.src.resume(); // pipe() paused it when this buffer was full
  }
}

export interface ExecOptions extends Omit<SpawnOptions, 'stdin'> {
  /** Data written to the command's stdin, which is then closed. */
  stdin?: string | Buffer | Readable;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Run to completion, buffering output. Rejects with ExecTimeoutError / EXEC_ABORTED when killed. */
export async function runBuffered(start: (o: SpawnOptions) => Promise<SandboxProcess>, opts: ExecOptions): Promise<ExecResult> {
  const { stdin, ...rest } = opts;
  const proc = await start({ ...rest, stdin: stdin !== undefined });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout.on('data', (c: Buffer) => out.push(c));
  proc.stderr.on('data', (c: Buffer) => err.push(c));
  if (proc.stdin) {
    if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) proc.stdin.end(stdin);
    else if (stdin) stdin.pipe(proc.stdin);
  }
  const exit = await proc.wait();
  const stdout = Buffer.concat(out).toString('utf8');
  const stderr = Buffer.concat(err).toString('utf8');
  if (exit.killedBy === 'timeout') {
    throw new ExecTimeoutError(`the command ran past its timeout of ${opts.timeoutMs} ms; its process tree was killed. Raise timeoutMs if it needs longer.`, { stdout, stderr, durationMs: exit.durationMs });
  }
  if (exit.killedBy === 'abort') {
    throw new WardenError('EXEC_ABORTED', 'the command was aborted; its process tree was killed', { details: { stdout, stderr } });
  }
  return { exitCode: exit.exitCode, stdout, stderr, durationMs: exit.durationMs };
}
