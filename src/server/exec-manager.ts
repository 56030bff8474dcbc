import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { WardenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SandboxProcess } from '../sandbox/process.js';
import type { Warden } from '../sandbox/warden.js';
import type { WardenStore } from '../store/store.js';
import { tail } from '../store/execs.js';
import type { EventBus } from './bus.js';
import type { ServerMetrics } from './metrics.js';

/** A command to run, as the API takes it (argv, never a joined string). */
export interface ExecRequest {
  cmd: string[];
  cwd?: string;
  env?: Record<string, string>;
  user?: string;
  timeoutMs?: number;
  /** Keep stdin open for stdin messages / the stdin endpoint. */
  stdin?: boolean;
}

export interface ExecOutcome {
  execId: string;
  exitCode: number;
  durationMs: number;
  killedBy?: 'timeout' | 'abort';
}

/** Receives output in order: `data` is the UTF-8 decoding so far (may be '' mid-character), `raw` the exact bytes. */
export type ChunkSink = (stream: 'stdout' | 'stderr', data: string, raw: Buffer) => void;

interface Running {
  execId: string;
  sandboxId: string;
  command: string[];
  proc: SandboxProcess;
  done: Promise<ExecOutcome>;
}

/** Buffered output kept per stream for a buffered exec's answer. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/**
 * Runs commands for API clients: starts them through the SDK, fans their output out (the caller's
 * sink, the event bus for the dashboard, a tail for the store), records start and end, and keeps the
 * running ones addressable by exec id for stdin and signals.
 */
export class ExecManager {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly warden: Warden,
    private readonly store: WardenStore,
    private readonly bus: EventBus,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
  ) {}

  /** Start a command; `sink` receives decoded output chunks in order. */
  async start(ref: string, req: ExecRequest, mode: 'buffered' | 'stream' | 'ws', sink: ChunkSink, actor = 'api'): Promise<Running> {
    const sb = await this.warden.get(ref);
    if (sb.info.state !== 'running') {
      throw new WardenError('SANDBOX_NOT_RUNNING', `sandbox ${sb.id} is ${sb.info.state}; start it again with POST /api/v1/sandboxes/ensure or .../refresh`);
    }
    const execId = `x${randomBytes(6).toString('hex')}`;
    const proc = await sb.spawn(req.cmd, {
      ...(req.cwd ? { cwd: req.cwd } : {}),
      ...(req.env ? { env: req.env } : {}),
      ...(req.user ? { user: req.user } : {}),
      ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}),
      stdin: req.stdin === true,
    });
    this.store.execs.start({ id: execId, sandboxId: sb.id, command: req.cmd, mode, actor });
    this.bus.publish({ type: 'exec-start', sandboxId: sb.id, execId, command: req.cmd });
    this.metrics.execsStarted.inc({ mode });
    const tails = { stdout: '', stderr: '' };
    const pump = (stream: 'stdout' | 'stderr'): void => {
      const dec = new StringDecoder('utf8');
      const emit = (data: string, raw: Buffer): void => {
        if (!data && raw.length === 0) return;
        sink(stream, data, raw);
        if (!data) return;
        tails[stream] = tail(tails[stream] + data, 8192);
        this.bus.publish({ type: 'output', sandboxId: sb.id, execId, stream, data, seq: this.bus.nextSeq(sb.id) });
      };
      proc[stream].on('error', (err: Error) => this.log.debug({ err, exec: execId, stream }, 'exec output stream failed'));
      proc[stream].on('data', (c: Buffer) => emit(dec.write(c), c));
      proc[stream].on('end', () => emit(dec.end(), Buffer.alloc(0)));
    };
    pump('stdout');
    pump('stderr');
    const done = proc.wait().then(
      (exit) => {
        const outcome: ExecOutcome = { execId, exitCode: exit.exitCode, durationMs: exit.durationMs, ...(exit.killedBy ? { killedBy: exit.killedBy } : {}) };
        this.finish(sb.id, outcome, tails);
        return outcome;
      },
      (err: unknown) => {
        const outcome: ExecOutcome = { execId, exitCode: -1, durationMs: 0 };
        this.finish(sb.id, outcome, { stdout: tails.stdout, stderr: `${tails.stderr}\n[warden] ${(err as Error).message}` });
        throw err;
      },
    );
    const running: Running = { execId, sandboxId: sb.id, command: req.cmd, proc, done };
    this.running.set(execId, running);
    return running;
  }

  private finish(sandboxId: string, o: ExecOutcome, tails: { stdout: string; stderr: string }): void {
    this.running.delete(o.execId);
    try {
      this.store.execs.finish(o.execId, { exitCode: o.exitCode, durationMs: o.durationMs, ...(o.killedBy ? { killedBy: o.killedBy } : {}), ...tails });
    } catch (err) {
      this.log.warn({ err, exec: o.execId }, 'recording the exec end failed');
    }
    this.bus.publish({ type: 'exec-exit', sandboxId, execId: o.execId, exitCode: o.exitCode, durationMs: o.durationMs, ...(o.killedBy ? { killedBy: o.killedBy } : {}), seq: this.bus.nextSeq(sandboxId) });
    this.metrics.execsFinished.inc({ result: o.killedBy ?? (o.exitCode === 0 ? 'ok' : 'nonzero') });
    this.metrics.execDuration.observe(o.durationMs / 1000);
  }

  private must(execId: string): Running {
    const r = this.running.get(execId);
    if (!r) throw new WardenError('EXEC_NOT_FOUND', `no running exec '${execId}' on this server (it has exited, or was started by another server); GET /api/v1/execs/${execId} shows its record`);
    return r;
  }

  /** Send a signal to the exec's whole process tree. Returns how many processes got it. */
  signal(execId: string, signal: string): Promise<number> {
    return this.must(execId).proc.kill(signal);
  }

  /** Write to the exec's stdin; `end` closes it. */
  async stdin(execId: string, data: Buffer, end: boolean): Promise<void> {
    const { proc } = this.must(execId);
    if (!proc.stdin) throw new WardenError('CONFLICT', `exec ${execId} was started without stdin; start it with "stdin": true`);
    if (data.length) await new Promise<void>((resolve, reject) => proc.stdin!.write(data, (err) => (err ? reject(err) : resolve())));
    if (end) proc.stdin.end();
  }

  /** Abandon waiting: kill every running exec's tree (server shutdown). */
  async killAll(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.proc.kill('SIGKILL').catch(() => 0)));
  }

  isRunning(execId: string): boolean {
    return this.running.has(execId);
  }

  get count(): number {
    return this.running.size;
  }
}
