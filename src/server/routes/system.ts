import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ServerContext } from '../context.js';
import { PanicBody, SandboxParams } from '../schemas.js';
import { openSse } from '../sse.js';
import { actorOf } from './sandboxes.js';
import { principalOf } from '../auth.js';
import { sandboxIdInScope, scopedRecord, scopedSandbox } from '../scope.js';

/** Panic and the live event stream, under /api/v1. */
export function systemRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post('/panic', { schema: { tags: ['system'], summary: 'Emergency stop: kill and remove every Warden sandbox (or those with the given labels)', body: PanicBody } }, async (req) => {
    await ctx.execs.killAll();
    const report = await ctx.warden.panic({ labels: { ...(req.body.labels ?? {}), ...ctx.panicScope, ...principalOf(req).labels } });
    ctx.store.audit.action({ actor: actorOf(req), action: 'panic', detail: report });
    ctx.metrics.actions.inc({ action: 'panic' });
    await ctx.reconciler.sync().catch(() => undefined);
    ctx.bus.publish({ type: 'panic', containers: report.containers });
    return { report };
  });

  r.post('/prune', { schema: { tags: ['system'], summary: 'Remove exited and dead sandboxes (with their proxy, forwarder, network, volume), orphaned companions and what dead owners left; says what', body: PanicBody } }, async (req) => {
    const report = await ctx.warden.prune({ labels: { ...(req.body.labels ?? {}), ...ctx.panicScope, ...principalOf(req).labels } });
    ctx.store.audit.action({ actor: actorOf(req), action: 'prune', detail: report });
    ctx.metrics.actions.inc({ action: 'prune' });
    await ctx.reconciler.sync().catch(() => undefined);
    return { report };
  });

  r.get('/pools', { schema: { tags: ['system'], summary: 'Warm pools (warden up --pool / WARDEN_POOL): size and members ready or being made' } }, async () => ({
    pools: await Promise.all(
      ctx.warden.warmPools().map(async (p) => {
        const members = await p.members();
        return { template: p.template, size: p.size, ready: members.filter((m) => m.ready && m.running).length, preparing: members.filter((m) => !m.ready).length };
      }),
    ),
  }));

  r.get('/events', { schema: { tags: ['system'], summary: 'Live server events (SSE): sandbox state changes, samples, exec starts/exits, egress counts' } }, async (req, reply) => {
    const sse = openSse(req, reply);
    const p = principalOf(req);
    const scoped = Object.keys(p.labels).length > 0;
    const unsub = ctx.bus.subscribe((e) => {
      if (e.type === 'output') return;
      // a scoped token sees events of its own sandboxes only (and none that name no sandbox but panic's)
      if (scoped && !('sandboxId' in e && typeof e.sandboxId === 'string' && sandboxIdInScope(ctx, req, e.sandboxId))) return;
      sse.send(e.type, e);
    });
    sse.onClose(unsub);
  });

  r.get('/sandboxes/:id/output', { schema: { tags: ['system'], summary: "A sandbox's recent and live command output (SSE), with gap-free sequence numbers", params: SandboxParams } }, async (req, reply) => {
    const ref = req.params.id;
    const id = scopedRecord(ctx, req, ref)?.id ?? (await scopedSandbox(ctx, req, ref)).id;
    const sse = openSse(req, reply);
    let last = 0;
    for (const e of ctx.bus.recent(id)) {
      sse.send(e.type, e, e.seq);
      last = e.seq;
    }
    const unsub = ctx.bus.subscribe((e) => {
      if ((e.type === 'output' || e.type === 'exec-exit' || e.type === 'exec-start') && e.sandboxId === id) {
        if ('seq' in e) {
          if (e.seq <= last) return;
          last = e.seq;
          sse.send(e.type, e, e.seq);
        } else sse.send(e.type, e);
      }
    });
    sse.onClose(unsub);
  });
}
