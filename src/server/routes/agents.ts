import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentRunOptionsSchema } from '../../agents/agent.js';
import { AGENT_NAMES } from '../../agents/events.js';
import type { AgentRun } from '../../agents/run.js';
import { WardenError } from '../../errors.js';
import { checkApiPaths } from '../api-paths.js';
import type { ServerContext } from '../context.js';
import { LimitQuery } from '../schemas.js';
import { openSse } from '../sse.js';
import { actorOf } from './sandboxes.js';
import { inScope, principalOf } from '../auth.js';
import { sandboxIdInScope } from '../scope.js';

const AgentParams = z.object({ agent: z.enum(AGENT_NAMES as unknown as [string, ...string[]]).describe('claude, gemini or codex') });
const RunParams = z.object({ runId: z.string().regex(/^run-[0-9a-f]{12}$/, 'a run id looks like run-0123456789ab') });

/** Finished runs kept in memory for late event readers (older ones are in the store). */
const KEEP_FINISHED = 200;

/**
 * Agent runs over HTTP: start one (the sandbox is created and the CLI started in the background), follow
 * its typed events (SSE, replayed from the first), cancel it (SIGINT, then the whole tree), read its result
 * and audit record.
 */
export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['agents'];
  const runs = new Map<string, AgentRun>();

  /** The label scope each live run was started under (a scoped token sees its own runs only). */
  const scopeOf = new Map<string, Record<string, string>>();
  const visible = (req: FastifyRequest, runId: string, sandboxId?: string | null): boolean => {
    const p = principalOf(req);
    if (Object.keys(p.labels).length === 0) return true;
    const started = scopeOf.get(runId);
    if (started) return inScope(p, started);
    return Boolean(sandboxId) && sandboxIdInScope(ctx, req, sandboxId!);
  };

  const must = (req: FastifyRequest, id: string): AgentRun => {
    if (!visible(req, id, ctx.store.agentRuns.get(id)?.sandboxId)) throw new WardenError('SANDBOX_NOT_FOUND', `no agent run '${id}'; GET /api/v1/agent-runs lists them`);
    const run = runs.get(id);
    if (!run) {
      if (ctx.store.agentRuns.get(id)) throw new WardenError('CONFLICT', `run ${id} ran on an earlier server process; GET /api/v1/agent-runs/${id} has its record, its events can no longer be followed`);
      throw new WardenError('SANDBOX_NOT_FOUND', `no agent run '${id}'; GET /api/v1/agent-runs lists them`);
    }
    return run;
  };

  r.post('/agents/:agent/runs', { schema: { tags, summary: 'Start an agent run (202): the sandbox is made and the CLI started in the background', params: AgentParams, body: AgentRunOptionsSchema } }, async (req, reply) => {
    const body = { ...req.body };
    await checkApiPaths(body, ctx.workspaceRoot);
    if (body.policy) await checkApiPaths(body.policy as { workspace?: string; configDir?: string; mounts?: Array<{ source: string }> }, ctx.workspaceRoot);
    const labels = principalOf(req).labels;
    const agent = ctx.warden.agent(req.params.agent as 'claude', { recorder: ctx.store.agentRuns, labels, ...(ctx.agentSecrets ? { secrets: ctx.agentSecrets } : {}) });
    const run = agent.run(body);
    runs.set(run.id, run);
    scopeOf.set(run.id, labels);
    ctx.store.audit.action({ actor: actorOf(req), action: 'agent-run', detail: { runId: run.id, agent: run.agent } });
    void run.result().catch(() => undefined).finally(() => {
      const finished = [...runs.keys()];
      if (finished.length > KEEP_FINISHED) {
        runs.delete(finished[0]!);
        scopeOf.delete(finished[0]!);
      }
    });
    return reply.code(202).send({ run: { id: run.id, agent: run.agent, startedAt: run.startedAt.toISOString() } });
  });

  r.get('/agent-runs', { schema: { tags, summary: 'Agent runs, newest first (the audit)', querystring: LimitQuery } }, async (req) => ({
    runs: ctx.store.agentRuns.list(req.query.limit).filter((x) => visible(req, x.runId, x.sandboxId)).map((x) => ({ ...x, running: runs.has(x.runId) && !x.endedAt })),
  }));

  r.get('/agent-runs/:runId', { schema: { tags, summary: 'One run: its audit record, notable events, and the result once finished', params: RunParams } }, async (req) => {
    const rec = ctx.store.agentRuns.get(req.params.runId);
    const live = runs.get(req.params.runId);
    if ((!rec && !live) || !visible(req, req.params.runId, rec?.sandboxId)) throw new WardenError('SANDBOX_NOT_FOUND', `no agent run '${req.params.runId}'`);
    let result: unknown;
    if (live && rec?.endedAt) result = await live.result().catch((err: unknown) => ({ error: { code: err instanceof WardenError ? err.code : 'AGENT_FAILED', message: (err as Error).message } }));
    return { run: rec ?? { runId: req.params.runId, starting: true }, events: ctx.store.agentRuns.events(req.params.runId), ...(result ? { result } : {}) };
  });

  r.get('/agent-runs/:runId/events', { schema: { tags, summary: "The run's typed events as SSE (replayed from the first), then a result event", params: RunParams } }, async (req, reply) => {
    const run = must(req, req.params.runId);
    const sse = openSse(req, reply);
    for await (const e of run) {
      if (sse.closed) return;
      sse.send('event', e, e.seq);
    }
    const result = await run.result().then((x) => ({ ok: true as const, result: x }), (err: unknown) => ({ ok: false as const, error: { code: err instanceof WardenError ? err.code : 'AGENT_FAILED', message: (err as Error).message } }));
    sse.send(result.ok ? 'result' : 'error', result.ok ? result.result : result.error);
    sse.close();
  });

  r.post('/agent-runs/:runId/cancel', { schema: { tags, summary: "Cancel: SIGINT (the CLI saves its session), then SIGKILL to the whole tree after a grace period", params: RunParams } }, async (req) => {
    const run = must(req, req.params.runId);
    await run.cancel();
    ctx.store.audit.action({ actor: actorOf(req), action: 'agent-cancel', detail: { runId: run.id } });
    return { cancelled: true, result: await run.result().catch((err: unknown) => ({ error: (err as Error).message })) };
  });
}
