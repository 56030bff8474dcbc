import { PassThrough, Writable } from 'node:stream';
import { WardenError } from '../../errors.js';
import {
  ACI_EXEC,
  ACK_RECORD,
  DETACH_RECORD,
  resizeRecord,
  EOF_RECORD,
  PING_RECORD,
  PROTOCOL_VERSION,
  RecordReader,
  requestRecord,
  signalRecord,
  stdinRecords,
  STDIN_CHUNK,
  type ExitReason,
  type FramedExecRequest,
  type HelperRecord,
} from './exec-protocol.js';

/**
 * The part of a WebSocket this module uses (the `ws` package's WebSocket has it). ACI's exec socket
 * carries the terminal as text frames; the password has already been sent (see aci-terminal.ts).
 */
export interface TerminalSocket {
  send(data: string, cb?: (err?: Error) => void): void;
  pause(): void;
  resume(): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** How a framed command ended. `exitCode` follows the shell's rule (128+N when killed by signal N). */
export interface FramedExit {
  exitCode: number;
  /** The signal that killed the command, when one did. */
  signal?: number;
  /** Set when the helper itself ended the command: its timeout, the dead-man switch, or a lost terminal. */
  reason?: ExitReason;
}

/**
 * Why a framed exec's stream ended, recorded as it happens so that a failure explains itself: which
 * side closed the WebSocket and how, whether the exit record arrived, and what the helper had said.
 * It rides on every EXEC_FAILED a lost stream gives (`details.stream`), and its summary is in the message.
 */
export interface StreamEndReport {
  /**
   * Who ended the WebSocket: `server` (a close frame from ACI's side), `client` (this side closed it:
   * `clientReason` says why), `lost` (the connection went without a close frame, code 1006), `open`
   * (not closed yet).
   */
  closedBy: 'server' | 'client' | 'lost' | 'open';
  closeCode?: number;
  closeReason?: string;
  /** Why this side closed the socket, when it did. */
  clientReason?: string;
  /** The socket's own error, when it had one. */
  socketError?: string;
  /** Whether the helper's exit record (`~X`) arrived. */
  exitRecord: boolean;
  /** The helper's last record: its last known state (hello, started, stdout, credit, ...). */
  lastRecord?: HelperRecord['type'];
  /** Records and WebSocket messages received, and the characters they carried. */
  records: number;
  messages: number;
  chars: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** The command's pid, once started. */
  pid: number;
  /** From the socket's handover to this exec until the close (or now). */
  elapsedMs: number;
  /** How long the socket had been silent when it closed (or now). */
  silentMs: number;
  /** What arrived that was not a record (the terminal's noise, a partial line), at most 300 characters. */
  terminal: string;
  /** Set when the helper said it gave up on this client (`deadman`: it had no record from us for the dead-man seconds). */
  helperLost?: string;
}

/** One line for an error message. */
export function describeStreamEnd(r: StreamEndReport): string {
  const who =
    r.closedBy === 'server'
      ? `closed by the server (WebSocket ${r.closeCode}${r.closeReason ? ` "${r.closeReason}"` : ''})`
      : r.closedBy === 'client'
        ? `closed by this side (${r.clientReason ?? 'no reason recorded'}; WebSocket ${r.closeCode ?? '-'})`
        : r.closedBy === 'lost'
          ? `connection lost without a close frame (WebSocket ${r.closeCode ?? 1006}${r.socketError ? `, ${r.socketError}` : ''})`
          : 'still open';
  const partial = r.terminal.replace(/\s+/g, ' ').trim();
  return (
    `stream ${who}; exit record ${r.exitRecord ? 'received' : 'NOT received'}; ` +
    `${r.records} records (last: ${r.lastRecord ?? 'none'}) in ${r.messages} messages / ${r.chars} chars, ` +
    `stdout ${r.stdoutBytes} B, stderr ${r.stderrBytes} B, pid ${r.pid || '-'}; ` +
    `${r.elapsedMs} ms after the start, ${r.silentMs} ms after the last message` +
    (r.helperLost ? `; the helper gave up on this client (${r.helperLost}: no ping reached it for the dead-man seconds)` : '') +
    (partial ? `; other text: ${JSON.stringify(partial.slice(-120))}` : '')
  );
}

/** The helper writes at least this often (a ping when it has nothing else to say). */
export const HELPER_HEARTBEAT_MS = 5_000;
/** How long after the exit record the server may take to close the socket before this side does. */
const CLOSE_AFTER_EXIT_MS = 10_000;

/** Options of {@link FramedExec.start}. */
export interface FramedExecOptions {
  /** How long to wait for the helper's hello (default 30 s). */
  helloTimeoutMs?: number;
  /**
   * How long the stream may stay silent, while this side reads it, before the exec fails as lost
   * (default 60 s; the helper writes at least every {@link HELPER_HEARTBEAT_MS}). Never while the
   * consumer holds the stream back (a paused stdout is the consumer's choice).
   */
  silenceLimitMs?: number;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20 };

/**
 * A command run by `warden-aci-exec` over one terminal stream: stdout and stderr apart as Node streams
 * with backpressure (a slow consumer pauses the socket, which stalls the helper's tty writes, which
 * stops it draining the command's pipes), stdin with a real end(), the exit code, and signals to the
 * command's process tree. Start it with {@link FramedExec.start}.
 *
 * @example
 * const ws = await openAciTerminal(webSocketUri, password);
 * const p = await FramedExec.start(ws, { argv: ['sh', '-c', 'cat; exit 3'], stdin: true });
 * p.stdin!.end('hello');
 * p.stdout.pipe(process.stdout);
 * const { exitCode } = await p.wait(); // 3
 */
export class FramedExec {
  readonly stdout = new PassThrough({ highWaterMark: 1024 * 1024 });
  readonly stderr = new PassThrough({ highWaterMark: 1024 * 1024 });
  /** Present when the request asked for stdin; end() sends an explicit EOF. */
  readonly stdin: Writable | undefined;
  /** The command's pid inside the container. */
  pid = 0;
  /** Whether the command runs on a terminal (stdout carries it; stderr stays empty). */
  get tty(): boolean {
    return this.req.tty !== undefined;
  }

  private readonly reader = new RecordReader();
  private credit = 0;
  private creditWaiters: Array<() => void> = [];
  private waitingDrains = 0;
  private ended: FramedExit | undefined;
  private failure: Error | undefined;
  private closed = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly exitPromise: Promise<FramedExit>;
  private resolveExit!: (e: FramedExit) => void;
  private rejectExit!: (e: Error) => void;
  private onStart: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly since = Date.now();
  private lastMessageAt = Date.now();
  private readonly stats = { records: 0, messages: 0, chars: 0, stdoutBytes: 0, stderrBytes: 0 };
  private lastRecord: HelperRecord['type'] | undefined;
  private closeInfo: { code: number; reason: string; at: number } | undefined;
  private clientReason: string | undefined;
  private socketError: string | undefined;
  private helperLost: string | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly socket: TerminalSocket,
    private readonly req: FramedExecRequest,
  ) {
    this.exitPromise = new Promise<FramedExit>((resolve, reject) => {
      this.resolveExit = resolve;
      this.rejectExit = reject;
    });
    this.exitPromise.catch(() => undefined); // surfaced through wait(); never an unhandled rejection
    this.stdin = req.stdin ? this.makeStdin() : undefined;
    socket.on('message', (data) => this.onMessage(data));
    socket.on('close', (code, reason) => this.onClose(code, reason.toString()));
    socket.on('error', (err) => {
      // a WebSocket emits 'close' after 'error': fail there, with the close code in the report; only a
      // socket that never closes fails from here
      this.socketError ??= err.message;
      setTimeout(() => this.fail(this.streamError(`the exec WebSocket failed: ${err.message}`, err)), 5_000).unref();
    });
  }

  /**
   * Wait for the helper's hello, send the request and resolve once the command runs. Rejects with
   * EXEC_FAILED when the helper cannot run it (its message names why: missing binary, bad cwd) or the
   * stream is not the helper's (e.g. the image lacks warden-aci-exec).
   */
  static async start(socket: TerminalSocket, req: FramedExecRequest, opts: FramedExecOptions = {}): Promise<FramedExec> {
    const record = requestRecord(req); // validates before anything is sent
    const exec = new FramedExec(socket, req);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const seen = exec.reader.rest().slice(-200);
        reject(new WardenError('EXEC_FAILED', `warden-aci-exec did not greet within ${opts.helloTimeoutMs ?? 30_000} ms; is it in the image at the path given to executeCommand? (the terminal showed: ${JSON.stringify(seen)})`, { details: { stream: exec.report() } }));
        exec.close('no hello in time');
      }, opts.helloTimeoutMs ?? 30_000);
      exec.onStart = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      exec.pendingRequest = record;
    });
    if (req.deadmanSeconds) {
      exec.pingTimer = setInterval(() => void exec.send(PING_RECORD).catch(() => undefined), Math.max(250, (req.deadmanSeconds * 1000) / 3));
      exec.pingTimer.unref();
    }
    exec.watchSilence(opts.silenceLimitMs ?? 60_000);
    return exec;
  }

  private pendingRequest: string | undefined;

  /** Resolves with how the command ended; by then all its output has been written to stdout/stderr (which then end). */
  async wait(): Promise<FramedExit> {
    return this.exitPromise;
  }

  /** Deliver a signal to the command's whole process tree (its group and every process with its mark). */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): void {
    const n = typeof signal === 'number' ? signal : SIGNALS[signal];
    if (n === undefined) throw new WardenError('INVALID_ARGUMENT', `unknown signal ${String(signal)}; use one of ${Object.keys(SIGNALS).join(', ')} or a number`);
    this.send(signalRecord(n));
  }

  /**
   * Leave the command running unseen (it needs `keepOnLoss` in its request): the helper stops writing
   * to the terminal, closes the command's stdin and drains its output into nothing until it ends.
   */
  detach(): void {
    if (this.closed) return;
    this.detached = true;
    this.stopPing();
    this.socket.send(DETACH_RECORD, () => this.close('detached'));
  }

  /** True once detach() was called (the exit status will not arrive). */
  detached = false;

  /** Resize the command's terminal (a tty request); the command gets SIGWINCH. */
  async resize(cols: number, rows: number): Promise<void> {
    if (!this.req.tty) throw new WardenError('INVALID_ARGUMENT', 'resize needs an exec started with a terminal (tty)');
    await this.send(resizeRecord(rows, cols));
  }

  /** Close the terminal. The helper sees its terminal go (where the platform tells it) or misses pings. */
  close(why = 'closed by its user'): void {
    if (this.closed) return;
    this.closed = true;
    this.clientReason ??= why;
    this.stopPing();
    try {
      this.socket.close(1000, 'client closed');
    } catch {
      this.socket.terminate?.();
    }
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    this.silenceTimer = undefined;
  }

  /**
   * Every wait has a bound: the helper writes at least every HELPER_HEARTBEAT_MS, so a stream that
   * stays silent past `limitMs` while this side reads it is dead (a relay that hangs without closing)
   * and the exec fails with how it stood, instead of waiting for ever.
   */
  private watchSilence(limitMs: number): void {
    if (this.ended || this.failure || this.closed) return;
    this.lastMessageAt = Date.now();
    this.silenceTimer = setInterval(() => {
      if (this.waitingDrains > 0) {
        this.lastMessageAt = Date.now(); // held back by the consumer: silence is expected, and counts from the resume
        return;
      }
      if (Date.now() - this.lastMessageAt < limitMs) return;
      this.fail(this.streamError(`nothing came from warden-aci-exec for ${limitMs} ms (it writes at least every ${HELPER_HEARTBEAT_MS} ms): the exec stream is dead; the command's fate is unknown`));
      this.close('the stream was silent too long');
    }, Math.min(1000, limitMs / 4));
    this.silenceTimer.unref();
  }

  private send(text: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) {
        reject(new WardenError('EXEC_FAILED', 'the exec stream is closed'));
        return;
      }
      this.socket.send(text, (err) => (err ? reject(new WardenError('EXEC_FAILED', `sending to the exec stream failed: ${err.message}`, { cause: err })) : resolve()));
    }).catch((err: unknown) => {
      // a send fails when the socket is going: its 'close' (with the report) comes first, as a rule
      setTimeout(() => this.fail(err as Error), 5_000).unref();
      throw err;
    });
  }

  private makeStdin(): Writable {
    return new Writable({
      highWaterMark: STDIN_CHUNK,
      write: (chunk: Buffer, _enc, cb) => {
        this.writeStdin(chunk).then(() => cb(), (err: Error) => cb(err));
      },
      final: (cb) => {
        this.send(EOF_RECORD).then(() => cb(), (err: Error) => cb(err));
      },
    });
  }

  /** Sends stdin within the helper's credit, waiting for grants when the window is used up. */
  private async writeStdin(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.ended || this.failure) return; // the command is gone: stdin goes nowhere, as with a closed pipe
      if (this.credit <= 0) {
        await new Promise<void>((resolve) => this.creditWaiters.push(resolve));
        continue;
      }
      const n = Math.min(this.credit, STDIN_CHUNK, chunk.length - off);
      this.credit -= n;
      const [rec] = stdinRecords(chunk.subarray(off, off + n));
      off += n;
      await this.send(rec!);
    }
  }

  /** How the stream stands (or ended): who closed it, whether the exit arrived, what the helper said. */
  report(): StreamEndReport {
    const end = this.closeInfo?.at ?? Date.now();
    const code = this.closeInfo?.code;
    const closedBy = !this.closeInfo ? 'open' : this.clientReason !== undefined ? 'client' : code === 1006 ? 'lost' : 'server';
    return {
      closedBy,
      ...(code !== undefined ? { closeCode: code } : {}),
      ...(this.closeInfo?.reason ? { closeReason: this.closeInfo.reason } : {}),
      ...(this.clientReason !== undefined ? { clientReason: this.clientReason } : {}),
      ...(this.socketError !== undefined ? { socketError: this.socketError } : {}),
      exitRecord: this.ended !== undefined,
      ...(this.lastRecord ? { lastRecord: this.lastRecord } : {}),
      ...this.stats,
      pid: this.pid,
      elapsedMs: end - this.since,
      silentMs: end - this.lastMessageAt,
      terminal: this.reader.rest(),
      ...(this.helperLost ? { helperLost: this.helperLost } : {}),
    };
  }

  /** EXEC_FAILED for a stream that broke, with the end report in the message and in `details.stream`. */
  private streamError(what: string, cause?: unknown): WardenError {
    const r = this.report();
    return new WardenError('EXEC_FAILED', `${what} [${describeStreamEnd(r)}]`, { ...(cause !== undefined ? { cause } : {}), details: { stream: r } });
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[]): void {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const text = buf.toString('utf8');
    this.lastMessageAt = Date.now();
    this.stats.messages++;
    this.stats.chars += text.length;
    let records: HelperRecord[];
    try {
      records = this.reader.push(text);
    } catch (err) {
      this.clientReason = `the stream was corrupt: ${(err as Error).message}`;
      this.fail(this.streamError((err as Error).message, err));
      this.close();
      return;
    }
    for (const r of records) {
      this.stats.records++;
      this.lastRecord = r.type;
      this.onRecord(r);
    }
    if (this.waitingDrains > 0) this.socket.pause();
  }

  private onRecord(r: HelperRecord): void {
    switch (r.type) {
      case 'hello':
        if (r.version !== PROTOCOL_VERSION) {
          this.fail(new WardenError('EXEC_FAILED', `warden-aci-exec speaks protocol ${r.version}, Warden speaks ${PROTOCOL_VERSION}: rebuild the sandbox image with this Warden's guest helper`));
          this.close('protocol version mismatch');
          return;
        }
        this.credit = r.window;
        if (this.pendingRequest) void this.send(this.pendingRequest).catch(() => undefined);
        this.pendingRequest = undefined;
        return;
      case 'started':
        this.pid = r.pid;
        this.onStart?.resolve();
        this.onStart = undefined;
        return;
      case 'stdout':
      case 'stderr': {
        const target = r.type === 'stdout' ? this.stdout : this.stderr;
        if (r.type === 'stdout') this.stats.stdoutBytes += r.data.length;
        else this.stats.stderrBytes += r.data.length;
        if (!target.write(r.data)) {
          this.waitingDrains++;
          target.once('drain', () => {
            this.waitingDrains--;
            if (this.waitingDrains === 0) this.socket.resume();
          });
        }
        return;
      }
      case 'credit':
        this.credit += r.bytes;
        for (const w of this.creditWaiters.splice(0)) w();
        return;
      case 'ping':
        return;
      case 'lost':
        this.helperLost = r.reason;
        return;
      case 'exit':
        this.ended = { exitCode: r.exitCode, ...(r.signal !== undefined ? { signal: r.signal } : {}), ...(r.reason ? { reason: r.reason } : {}) };
        this.stopPing();
        // the helper waits for this before it exits, so its exit record was never the last thing a
        // relay could drop; then the server closes, or this side does when it does not
        if (!this.closed) {
          this.socket.send(ACK_RECORD, () => undefined);
          setTimeout(() => this.close('the exit record arrived and the server did not close'), CLOSE_AFTER_EXIT_MS).unref();
        }
        for (const w of this.creditWaiters.splice(0)) w();
        this.stdout.end();
        this.stderr.end();
        {
          // the output that came with the exit (often in the same WebSocket frame) reaches a flowing
          // reader on the next ticks: resolve after them, so whoever awaits wait() has all of it
          const ended = this.ended;
          setImmediate(() => this.resolveExit(ended));
        }
        return;
      case 'fatal':
        this.fail(new WardenError('EXEC_FAILED', `warden-aci-exec: ${r.message}`, { details: { stream: this.report() } }));
        this.close('the helper reported a fatal error');
        return;
    }
  }

  private onClose(code: number, reason: string): void {
    this.closed = true;
    this.closeInfo = { code, reason, at: Date.now() };
    this.stopPing();
    if (this.ended) return;
    if (this.onStart) {
      const seen = this.reader.rest().replace(/\s+/g, ' ').trim().slice(-300);
      this.fail(this.streamError(`the exec terminal closed before warden-aci-exec started the command (WebSocket close ${code}); the image may lack ${ACI_EXEC} (is it the ACI variant of the image, with Warden's guest code?). The terminal showed: ${JSON.stringify(seen)}`));
      return;
    }
    if (this.detached) {
      this.fail(new WardenError('EXEC_FAILED', 'the exec was detached: the command goes on, its exit status is not known here', { details: { stream: this.report(), detached: true } }));
      return;
    }
    this.fail(this.streamError(`the exec stream ended before the command's exit status arrived${this.socketError ? ` (the WebSocket failed: ${this.socketError})` : ''}; the command's fate is unknown`));
  }

  private fail(err: Error): void {
    if (this.failure || this.ended) return;
    this.failure = err;
    this.stopPing();
    for (const w of this.creditWaiters.splice(0)) w();
    if (this.onStart) {
      this.onStart.reject(err);
      this.onStart = undefined;
    }
    this.rejectExit(err);
    this.stdout.end();
    this.stderr.end();
  }
}
