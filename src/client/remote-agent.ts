import type { AgentRunOptions } from '../agents/agent.js';
import type { AgentResult, AgentRunEvent } from '../agents/run.js';
import { WardenError, type WardenErrorCode } from '../errors.js';
import type { RemoteWarden } from './remote.js';

/** What the CLI needs of an agent run, local (AgentRun) or on a server (RemoteAgentRun). */
export interface AgentRunHandle extends AsyncIterable<AgentRunEvent> {
  result(): Promise<AgentResult>;
  cancel(): Promise<unknown>;
}

/**
 * An agent run on a Warden server: started with POST /agents/{agent}/runs, followed over the run's
 * event stream (SSE, replayed from the first event, then `result` or `error`), cancelled with
 * POST /agent-runs/{id}/cancel. The server holds the model keys; nothing secret passes here.
 */
export class RemoteAgentRun implements AgentRunHandle {
  private readonly started: Promise<string>;
  private settle!: (r: AgentResult) => void;
  private fail!: (err: Error) => void;
  private following = false;
  private readonly finished = new Promise<AgentResult>((res, rej) => ((this.settle = res), (this.fail = rej)));

  constructor(
    private readonly w: RemoteWarden,
    agent: string,
    opts: AgentRunOptions,
  ) {
    this.started = w.json<{ run: { id: string } }>('POST', `/api/v1/agents/${agent}/runs`, opts).then((r) => r.run.id);
    this.started.catch((err: Error) => this.fail(err));
    this.finished.catch(() => undefined); // consumed by result()
  }

  result(): Promise<AgentResult> {
    // nobody follows the events: follow them here, the result comes at their end
    if (!this.following) void (async () => { for await (const _ of this); })().catch((err: Error) => this.fail(err));
    return this.finished;
  }

  async cancel(): Promise<unknown> {
    const id = await this.started.catch(() => undefined);
    return id ? this.w.json('POST', `/api/v1/agent-runs/${id}/cancel`) : undefined;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AgentRunEvent> {
    this.following = true;
    const id = await this.started;
    const res = await this.w.request('GET', `/api/v1/agent-runs/${id}/events`);
    // Server-Sent Events: frames split by a blank line, `event:` and `data:` fields (our server sends one data line)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ended = false;
    try {
      while (!ended) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          const parsed = JSON.parse(data) as unknown;
          if (event === 'event') yield parsed as AgentRunEvent;
          else if (event === 'result') {
            this.settle(parsed as AgentResult);
            ended = true;
          } else if (event === 'error') {
            const e = parsed as { code?: string; message?: string };
            this.fail(new WardenError((e.code as WardenErrorCode) ?? 'AGENT_FAILED', e.message ?? 'the agent run failed on the server'));
            ended = true;
          }
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (!ended) this.fail(new WardenError('SERVER_UNREACHABLE', `the Warden server closed run ${id}'s event stream before it ended; GET /api/v1/agent-runs/${id} has its record`));
  }
}
