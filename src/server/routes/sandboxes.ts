import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { WardenError } from '../../errors.js';
import type { SandboxSpecInput } from '../../policy/spec.js';
import type { ServerContext } from '../context.js';
import { PROJECT_LABEL } from '../reconcile.js';
import { CreateBody, EnsureBody, KillBody, LimitQuery, ListQuery, RemoveQuery, SandboxParams, StopBody } from '../schemas.js';
import { checkApiPaths } from '../api-paths.js';
import { liveView, recordView, type SandboxView } from '../views.js';
import { inScope, principalOf } from '../auth.js';
import { creationLabels, recordVisible, scopedFind, scopedRecord, scopedSandbox } from '../scope.js';

/** Who asked (the `X-Warden-Actor` header, default `api`), recorded with every action. */
export const actorOf = (req: FastifyRequest): string => {
  const h = req.headers['x-warden-actor'];
  return (typeof h === 'string' && /^[\w.@:-]{1,100}$/.test(h) ? h : 'api');
};

/** Sandboxes: create, ensure, list, get, stop, kill, remove, refresh, and what the server knows of each. */
export function sandboxRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['sandboxes'];

  const lastSample = (id: string) => ctx.store.audit.healthHistory(id, 1)[0];

  const view = async (req: FastifyRequest, ref: string): Promise<SandboxView> => {
    const sb = await scopedFind(ctx, req, ref);
    if (sb) {
      ctx.reconciler.record(sb.info);
      return liveView(sb.info, ctx.store.sandboxes.get(sb.id), lastSample(sb.id));
    }
    const rec = scopedRecord(ctx, req, ref);
    if (rec) return recordView(rec, lastSample(rec.id));
    throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox '${ref}'; GET /api/v1/sandboxes lists them`);
  };

  const act = (req: FastifyRequest, action: string, sandboxId: string | undefined, detail?: unknown): void => {
    ctx.store.audit.action({ actor: actorOf(req), action, ...(sandboxId ? { sandboxId } : {}), ...(detail !== undefined ? { detail } : {}) });
    ctx.metrics.actions.inc({ action });
  };

  // the validated body has the spec's defaults filled in; Warden gets what the client sent (minus
  // `project`), so a template's defaults can still apply under it
  const keepRaw = { preValidation: async (req: FastifyRequest) => void ((req as FastifyRequest & { rawSpec?: unknown }).rawSpec = structuredClone(req.body)) };
  const rawSpec = (req: FastifyRequest): Record<string, unknown> => {
    const { project: _p, ...spec } = ((req as FastifyRequest & { rawSpec?: Record<string, unknown> }).rawSpec ?? {}) as Record<string, unknown>;
    return spec;
  };

  r.post('/sandboxes', { ...keepRaw, schema: { tags, summary: 'Create and start a sandbox (with `template`: once its dev server answers)', body: CreateBody } }, async (req, reply) => {
    const { project } = req.body;
    const spec = rawSpec(req) as SandboxSpecInput;
    await checkApiPaths(spec, ctx.workspaceRoot);
    const sb = await ctx.warden.create(spec, { labels: creationLabels(req, project) });
    ctx.reconciler.record(sb.info, spec);
    ctx.bus.publish({ type: 'sandbox', sandboxId: sb.id, state: sb.info.state, reason: 'created' });
    act(req, 'create', sb.id, { image: sb.info.image, key: sb.info.key });
    return reply.code(201).send({ sandbox: liveView(sb.info) });
  });

  r.post('/sandboxes/ensure', { ...keepRaw, schema: { tags, summary: 'The sandbox for spec.key: reused when running, restarted or created otherwise', body: EnsureBody } }, async (req) => {
    const { project } = req.body;
    const spec = rawSpec(req) as SandboxSpecInput;
    if (!spec.key) throw new WardenError('INVALID_SPEC', 'ensure needs a key (the project or session id) to find the sandbox again; add "key" to the body');
    await checkApiPaths(spec, ctx.workspaceRoot);
    const existed = ctx.store.sandboxes.list({ key: spec.key }).length > 0;
    const labels = creationLabels(req, project);
    const found = await ctx.warden.list({ key: spec.key });
    if (found.length && !found.some((i) => inScope(principalOf(req), i.labels))) throw new WardenError('NAME_CONFLICT', `key '${spec.key}' is taken by a sandbox this token cannot see; use another key`);
    const sb = await ctx.warden.ensure(spec, { labels });
    ctx.reconciler.record(sb.info, spec);
    ctx.bus.publish({ type: 'sandbox', sandboxId: sb.id, state: sb.info.state, reason: 'ensured' });
    act(req, 'ensure', sb.id, { key: spec.key });
    return { sandbox: liveView(sb.info, undefined, lastSample(sb.id)), reused: existed };
  });

  r.get('/sandboxes', { schema: { tags, summary: 'List sandboxes (reconciled with the engine on every call)', querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const labels = Object.fromEntries(
      [q.label ?? []].flat().map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `label filter '${kv}' must be key=value`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
    const live = new Map((await ctx.reconciler.sync()).live.map((i) => [i.id, i]));
    const records = ctx.store.sandboxes.list({
      ...(q.state ? { state: q.state } : {}),
      ...(q.owner ? { owner: q.owner } : {}),
      ...(q.project ? { project: q.project } : {}),
      ...(q.key ? { key: q.key } : {}),
      includeVanished: q.includeVanished === 'true',
    });
    const items = records
      .filter((rec) => recordVisible(ctx, req, rec) && Object.entries(labels).every(([k, v]) => rec.labels[k] === v))
      .map((rec) => {
        const info = live.get(rec.id);
        return info ? liveView(info, rec, lastSample(rec.id)) : recordView(rec, lastSample(rec.id));
      });
    return { sandboxes: items };
  });

  r.get('/sandboxes/:id', { schema: { tags, summary: 'One sandbox', params: SandboxParams } }, async (req) => ({ sandbox: await view(req, req.params.id) }));

  r.post('/sandboxes/:id/stop', { schema: { tags, summary: 'Graceful stop: SIGTERM to all, then SIGKILL after timeoutMs', params: SandboxParams, body: StopBody } }, async (req) => {
    const sb = await scopedSandbox(ctx, req, req.params.id);
    await ctx.warden.stop(sb.containerId, { ...(req.body.timeoutMs !== undefined ? { timeoutMs: req.body.timeoutMs } : {}) });
    act(req, 'stop', sb.id);
    const v = await view(req, sb.id);
    ctx.bus.publish({ type: 'sandbox', sandboxId: sb.id, state: v.state, reason: 'stopped' });
    return { sandbox: v };
  });

  r.post('/sandboxes/:id/kill', { schema: { tags, summary: 'Send a signal (default SIGKILL) to every process', params: SandboxParams, body: KillBody } }, async (req) => {
    const sb = await scopedSandbox(ctx, req, req.params.id);
    await ctx.warden.kill(sb.containerId, req.body.signal);
    act(req, 'kill', sb.id, { signal: req.body.signal });
    const v = await view(req, sb.id);
    ctx.bus.publish({ type: 'sandbox', sandboxId: sb.id, state: v.state, reason: `killed (${req.body.signal})` });
    return { sandbox: v };
  });

  r.delete('/sandboxes/:id', { schema: { tags, summary: 'Remove (graceful stop first unless force=true); the record is kept as removed', params: SandboxParams, querystring: RemoveQuery } }, async (req) => {
    const sb = await scopedFind(ctx, req, req.params.id);
    if (!sb) {
      const rec = scopedRecord(ctx, req, req.params.id);
      if (!rec) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox '${req.params.id}'; GET /api/v1/sandboxes lists them`);
      return { removed: false, sandbox: recordView(rec) };
    }
    await ctx.warden.remove(sb.containerId, { force: req.query.force === 'true' });
    ctx.store.sandboxes.setState(sb.id, 'removed');
    ctx.bus.publish({ type: 'sandbox', sandboxId: sb.id, state: 'removed' });
    act(req, 'remove', sb.id, { force: req.query.force === 'true' });
    return { removed: true, sandbox: recordView(ctx.store.sandboxes.get(sb.id)!) };
  });

  r.post('/sandboxes/:id/refresh', { schema: { tags, summary: 'Recreate from scratch with the same id, key and spec (workspace kept)', params: SandboxParams } }, async (req) => {
    await scopedSandbox(ctx, req, req.params.id);
    const sb = await ctx.warden.refresh(req.params.id, { reason: `api (${actorOf(req)})` });
    ctx.reconciler.record(sb.info);
    ctx.bus.publish({ type: 'sandbox', sandboxId: sb.id, state: sb.info.state, reason: 'refreshed' });
    act(req, 'refresh', sb.id);
    return { sandbox: liveView(sb.info, undefined, lastSample(sb.id)) };
  });

  r.get('/sandboxes/:id/stats', { schema: { tags, summary: 'CPU, memory, pids, disk, network (one sample, ~0.3 s)', params: SandboxParams } }, async (req) => ({ stats: await (await scopedSandbox(ctx, req, req.params.id)).stats() }));
  r.get('/sandboxes/:id/health', { schema: { tags, summary: 'healthy / unhealthy / starting / stopped with reasons', params: SandboxParams } }, async (req) => ({ health: await (await scopedSandbox(ctx, req, req.params.id)).health() }));
  r.get('/sandboxes/:id/processes', { schema: { tags, summary: 'Processes inside, with their role', params: SandboxParams } }, async (req) => ({ processes: await (await scopedSandbox(ctx, req, req.params.id)).processes() }));

  r.get('/sandboxes/:id/egress', { schema: { tags, summary: 'Egress audit: every request the proxy saw, allowed or denied and by which rule', params: SandboxParams, querystring: LimitQuery } }, async (req) => {
    const sb = await scopedFind(ctx, req, req.params.id);
    const id = sb?.id ?? scopedRecord(ctx, req, req.params.id)?.id;
    if (!id) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox '${req.params.id}'`);
    if (sb) ctx.store.audit.egress(id, await sb.egressLog());
    const records = ctx.store.audit.egressLog(id, req.query.limit);
    return { egress: records, allowed: records.filter((x) => x.allowed).length, denied: records.filter((x) => !x.allowed).length };
  });

  const recordId = (req: FastifyRequest, ref: string): string => {
    const rec = scopedRecord(ctx, req, ref);
    if (!rec) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox '${ref}'`);
    return rec.id;
  };
  r.get('/sandboxes/:id/execs', { schema: { tags, summary: 'Commands run through the server, newest first, with output tails', params: SandboxParams, querystring: LimitQuery } }, async (req) => ({ execs: ctx.store.execs.list(recordId(req, req.params.id), req.query.limit) }));
  r.get('/sandboxes/:id/health-history', { schema: { tags, summary: 'Health and usage samples, oldest first', params: SandboxParams, querystring: LimitQuery } }, async (req) => ({ samples: ctx.store.audit.healthHistory(recordId(req, req.params.id), req.query.limit) }));
  r.get('/sandboxes/:id/actions', { schema: { tags, summary: 'Who did what to this sandbox', params: SandboxParams, querystring: LimitQuery } }, async (req) => ({ actions: ctx.store.audit.actions(recordId(req, req.params.id), req.query.limit) }));
}
