import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { SandboxProcess } from '../sandbox/process.js';
import { safeParser, type AgentEvent, type AgentName, type AgentParser, type AgentUsage } from './events.js';
import type { AgentRunRecorder, AgentRunStatus } from './recorder.js';
import { summarize } from './recorder.js';

/** What `result()` resolves to when the CLI ran (whatever its outcome). */
export interface AgentResult {
  runId: string;
  agent: AgentName;
  sandboxId: string;
  /** The final answer (or, on failure, the CLI's error). */
  text: string;
  /** True when the CLI exited 0 and reported success. */
  success: boolean;
  status: AgentRunStatus;
  exitCode: number;
  sessionId?: string;
  usage: AgentUsage;
  durationMs: number;
  /** Tool calls by name. */
  toolCalls: Record<string, number>;
  /** `git diff --stat` of the workspace when it is a repository. */
  filesChanged?: string;
  /** The last lines the CLI wrote to stderr (diagnostics on failure). */
  stderrTail: string;
}

/** An event as the run hands it out: the parsed event plus its sequence number and time. */
export type AgentRunEvent = AgentEvent & { seq: number; at: string };

/** The parts of a run the agent wires in: how to start the CLI and what to do around it. */
export interface RunPlan {
  agent: AgentName;
  prompt: string;
  argv: string[];
  env: Record<string, string>;
  parser: AgentParser;
  /** Data for the CLI's stdin (it is closed afterwards; closed at once when absent). */
  stdin?: string | Buffer;
  timeoutMs?: number;
  /** After SIGINT, how long the CLI gets to save its session before SIGKILL. Default 3000. */
  cancelGraceMs?: number;
  recorder: AgentRunRecorder;
  log: Logger;
  workspace?: string;
  model?: string;
  auth: string;
  /** Prepares the sandbox (create it, checks); the run starts the CLI in what it returns. */
  setup: () => Promise<Sandbox>;
  /** After the CLI ended, first: copy its work back to the host (a runtime without host mounts); a failure fails the run. */
  collect?: (sb: Sandbox) => Promise<void>;
  /** After the CLI ended: e.g. the workspace diff. */
  inspect?: (sb: Sandbox) => Promise<{ filesChanged?: string }>;
  /** Always last: e.g. remove an ephemeral sandbox. */
  teardown?: (sb: Sandbox | undefined) => Promise<void>;
}

const STDERR_TAIL = 8 * 1024;

/**
 * One agent run: an async iterator of typed events (each iterator replays from the first event),
 * `result()` and `cancel()`. Returned at once by `warden.agent(name).run(...)`; the sandbox is made
 * and the CLI started in the background. Failures to start reject `result()` and end the iteration
 * with an `error` event.
 *
 * @example
 * const run = warden.agent('claude').run({ workspace: './repo', prompt: 'fix the failing test' });
 * for await (const e of run) if (e.kind === 'tool_call') console.log(e.name, e.input);
 * const { success, text, usage } = await run.result();
 */
export class AgentRun implements AsyncIterable<AgentRunEvent> {
  readonly id = `run-${randomBytes(6).toString('hex')}`;
  readonly agent: AgentName;
  readonly startedAt = new Date();
  private readonly events: AgentRunEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private done = false;
  private readonly finished: Promise<AgentResult>;
  private sandbox: Sandbox | undefined;
  private proc: SandboxProcess | undefined;
  private stopping: 'cancelled' | 'timeout' | undefined;
  private cancelled: Promise<void> | undefined;
  private readonly parser: AgentParser;

  /** @internal use Agent.run */
  constructor(private readonly plan: RunPlan) {
    this.agent = plan.agent;
    this.parser = safeParser(plan.parser);
    this.finished = this.execute();
    this.finished.catch(() => undefined); // consumed by result(); never an unhandled rejection
  }

  /** The sandbox the agent runs in (once it exists). */
  get sandboxId(): string | undefined {
    return this.sandbox?.id;
  }

  /** Every event so far, in order. */
  get eventsSoFar(): readonly AgentRunEvent[] {
    return this.events;
  }

  /** The final outcome; rejects only when the CLI could not be run at all (or was cancelled before it started). */
  result(): Promise<AgentResult> {
    return this.finished;
  }

  /**
   * Stop the run: SIGINT to the CLI's whole process tree (so it can save its session), SIGKILL to what
   * is left after the grace period; an ephemeral sandbox is then removed. Safe to call twice.
   */
  cancel(reason: 'cancelled' | 'timeout' = 'cancelled'): Promise<void> {
    this.stopping ??= reason;
    this.cancelled ??= (async () => {
      const proc = this.proc;
      if (!proc) return; // not started yet: execute() sees `stopping` and stops
      await proc.kill('SIGINT').catch(() => 0);
      const grace = this.plan.cancelGraceMs ?? 3_000;
      const exited = await Promise.race([proc.wait().then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), grace).unref())]);
      if (!exited) await proc.kill('SIGKILL').catch(() => 0);
      await proc.wait().catch(() => undefined);
    })();
    return this.cancelled;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AgentRunEvent> {
    let i = 0;
    for (;;) {
      while (i < this.events.length) yield this.events[i++]!;
      if (this.done) return;
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  private emit(e: AgentEvent): void {
    const ev = { ...e, seq: this.events.length, at: new Date().toISOString() } as AgentRunEvent;
    this.events.push(ev);
    const s = summarize(this.id, e);
    if (s) void this.plan.recorder.recordEvent(s).catch((err: unknown) => this.plan.log.warn({ err, run: this.id }, 'agent run recorder failed'));
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private async execute(): Promise<AgentResult> {
    const t0 = Date.now();
    let sb: Sandbox | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      sb = await this.plan.setup();
      this.sandbox = sb;
      if (this.stopping) throw new WardenError('AGENT_CANCELLED', `agent run ${this.id} was cancelled before the agent started`);
      const [, ...flags] = this.plan.argv;
      await this.plan.recorder
        .recordStart({
          runId: this.id, agent: this.agent, sandboxId: sb.id, prompt: this.plan.prompt, auth: this.plan.auth, startedAt: this.startedAt.toISOString(),
          flags: flags.filter((f) => f !== this.plan.prompt),
          ...(this.plan.workspace ? { workspace: this.plan.workspace } : {}),
          ...(this.plan.model ? { model: this.plan.model } : {}),
        })
        .catch((err: unknown) => this.plan.log.warn({ err, run: this.id }, 'agent run recorder failed'));
      let proc: SandboxProcess;
      try {
        proc = await sb.spawn(this.plan.argv, { env: this.plan.env, stdin: true });
      } catch (err) {
        throw new WardenError('AGENT_FAILED', `could not start ${this.agent} in sandbox ${sb.id}: ${(err as Error).message}`, { cause: err });
      }
      this.proc = proc;
      proc.stdin?.end(this.plan.stdin ?? '');
      if (this.plan.timeoutMs !== undefined) {
        timer = setTimeout(() => void this.cancel('timeout'), this.plan.timeoutMs);
        timer.unref();
      }
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL);
      });
      let buf = '';
      for await (const chunk of proc.stdout) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          for (const e of this.parser.push(line)) this.emit(e);
        }
      }
      if (buf.trim()) for (const e of this.parser.push(buf)) this.emit(e);
      const exit = await proc.wait();
      if (timer) clearTimeout(timer);
      if (this.cancelled) await this.cancelled;
      const end = this.parser.end();
      for (const e of end) this.emit(e);
      const final = [...this.events].reverse().find((e) => e.kind === 'result') as Extract<AgentRunEvent, { kind: 'result' }> | undefined;
      const init = this.events.find((e) => e.kind === 'init') as Extract<AgentRunEvent, { kind: 'init' }> | undefined;
      const toolCalls: Record<string, number> = {};
      for (const e of this.events) if (e.kind === 'tool_call') toolCalls[e.name] = (toolCalls[e.name] ?? 0) + 1;
      const collectError = this.plan.collect ? await this.plan.collect(sb).then(() => undefined, (err: unknown) => err as Error) : undefined;
      if (collectError) this.emit({ kind: 'error', message: collectError.message, fatal: true, raw: '' });
      const success = !this.stopping && !collectError && exit.exitCode === 0 && final !== undefined && !final.isError;
      const status: AgentRunStatus = this.stopping ?? (success ? 'succeeded' : 'failed');
      let text = collectError ? `${this.agent} finished, but its work did not reach the host: ${collectError.message}` : (final?.text ?? '');
      if (!success && !text) text = this.stopping ? `the run was ${this.stopping === 'timeout' ? `stopped at its timeout of ${this.plan.timeoutMs} ms` : 'cancelled'}` : lastLines(stderr) || `${this.agent} exited ${exit.exitCode} without a result`;
      const inspected: { filesChanged?: string } = this.plan.inspect ? await this.plan.inspect(sb).catch(() => ({})) : {};
      const sessionId = final?.sessionId ?? init?.sessionId;
      const result: AgentResult = {
        runId: this.id, agent: this.agent, sandboxId: sb.id, text, success, status, exitCode: exit.exitCode, usage: final?.usage ?? {},
        durationMs: Date.now() - t0, toolCalls, stderrTail: lastLines(stderr, 20),
        ...(sessionId ? { sessionId } : {}),
        ...(inspected.filesChanged !== undefined ? { filesChanged: inspected.filesChanged } : {}),
      };
      await this.plan.recorder
        .recordEnd({
          runId: this.id, endedAt: new Date().toISOString(), status, exitCode: exit.exitCode, durationMs: result.durationMs, toolCalls,
          ...(sessionId ? { sessionId } : {}), usage: result.usage,
          ...(result.filesChanged !== undefined ? { filesChanged: result.filesChanged } : {}),
          ...(success ? {} : { error: text.slice(0, 2000) }),
        })
        .catch((err: unknown) => this.plan.log.warn({ err, run: this.id }, 'agent run recorder failed'));
      return result;
    } catch (err) {
      const e = err instanceof WardenError ? err : new WardenError('AGENT_FAILED', `${this.agent} run failed: ${(err as Error).message}`, { cause: err });
      this.emit({ kind: 'error', message: e.message, fatal: true, raw: '' });
      // a run that never got a sandbox is on record too, and ends: nobody may see it "starting" forever
      if (!sb) {
        await this.plan.recorder
          .recordStart({ runId: this.id, agent: this.agent, sandboxId: '', prompt: this.plan.prompt, auth: this.plan.auth, startedAt: this.startedAt.toISOString(), flags: [], ...(this.plan.workspace ? { workspace: this.plan.workspace } : {}), ...(this.plan.model ? { model: this.plan.model } : {}) })
          .catch((err2: unknown) => this.plan.log.warn({ err: err2, run: this.id }, 'agent run recorder failed'));
      }
      await this.plan.recorder
        .recordEnd({ runId: this.id, endedAt: new Date().toISOString(), status: this.stopping ?? 'failed', exitCode: -1, durationMs: Date.now() - t0, toolCalls: {}, error: `${e.code}: ${e.message}` })
        .catch((err2: unknown) => this.plan.log.warn({ err: err2, run: this.id }, 'agent run recorder failed'));
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      await this.plan.teardown?.(sb).catch((err: unknown) => this.plan.log.warn({ err, run: this.id }, 'agent sandbox teardown failed'));
      this.done = true;
      this.wake();
    }
  }
}

function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
