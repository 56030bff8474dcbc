import type { AgentRunOptions } from '../agents/agent.js';
import type { AgentResult, AgentRunEvent } from '../agents/run.js';
import { WardenError, type WardenErrorCode } from '../errors.js';
import type { RemoteWarden } from './remote.js';
import { readSse } from './sse.js';

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
    let ended = false;
    for await (const { event, data } of readSse(res.body!)) {
      if (event === 'event') yield data as AgentRunEvent;
      else if (event === 'result') {
        this.settle(data as AgentResult);
        ended = true;
        break;
      } else if (event === 'error') {
        const e = data as { code?: string; message?: string };
        this.fail(new WardenError((e.code as WardenErrorCode) ?? 'AGENT_FAILED', e.message ?? 'the agent run failed on the server'));
        ended = true;
        break;
      }
    }
    if (!ended) this.fail(new WardenError('SERVER_UNREACHABLE', `the Warden server closed run ${id}'s event stream before it ended; GET /api/v1/agent-runs/${id} has its record`));
  }
}
