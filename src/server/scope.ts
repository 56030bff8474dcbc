import type { FastifyRequest } from 'fastify';
import { WardenError } from '../errors.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { SandboxRecord } from '../store/sandboxes.js';
import { inScope, principalOf } from './auth.js';
import type { ServerContext } from './context.js';
import { PROJECT_LABEL } from './reconcile.js';
import { LABEL } from '../policy/labels.js';

/**
 * A request sees only what its token's label set allows (the server's Warden already sees only its
 * instance). Everything else answers exactly as a sandbox that does not exist: 404, so a scoped token
 * cannot even learn which ids are taken.
 */
const notFound = (ref: string): WardenError => new WardenError('SANDBOX_NOT_FOUND', `no sandbox '${ref}'; GET /api/v1/sandboxes lists them`);

/** The live sandbox `ref`, if the request may see it. */
export async function scopedFind(ctx: ServerContext, req: FastifyRequest, ref: string): Promise<Sandbox | undefined> {
  const sb = await ctx.warden.find(ref);
  return sb && inScope(principalOf(req), sb.info.labels) ? sb : undefined;
}

/** The live sandbox `ref`, or SANDBOX_NOT_FOUND (also when it is out of the request's scope). */
export async function scopedSandbox(ctx: ServerContext, req: FastifyRequest, ref: string): Promise<Sandbox> {
  const sb = await scopedFind(ctx, req, ref);
  if (!sb) throw notFound(ref);
  return sb;
}

/** The store's record of `ref` (live or not), if the request may see it (its instance, its token's labels). */
export function scopedRecord(ctx: ServerContext, req: FastifyRequest, ref: string): SandboxRecord | undefined {
  const rec = ctx.store.sandboxes.get(ref);
  return rec && recordVisible(ctx, req, rec) ? rec : undefined;
}

/** A record is visible when it is of this server's instance (unlabelled: `default`) and in the token's scope. */
export function recordVisible(ctx: ServerContext, req: FastifyRequest, rec: { labels: Record<string, string> }): boolean {
  return (rec.labels[LABEL.instance] ?? 'default') === ctx.warden.instance && inScope(principalOf(req), rec.labels);
}

/** Whether a sandbox id is visible to the request (by its record). */
export function sandboxIdInScope(ctx: ServerContext, req: FastifyRequest, id: string): boolean {
  return scopedRecord(ctx, req, id) !== undefined;
}

/**
 * The labels a sandbox made by this request gets: the token's label set, and the body's project. A
 * token bound to a project cannot make sandboxes of another.
 */
export function creationLabels(req: FastifyRequest, project: string | undefined): Record<string, string> {
  const p = principalOf(req);
  const bound = p.labels[PROJECT_LABEL];
  if (project && bound && project !== bound) throw new WardenError('FORBIDDEN', `token '${p.name}' is bound to project '${bound}'; it cannot create sandboxes of project '${project}'`);
  return { ...p.labels, ...(project ? { [PROJECT_LABEL]: project } : {}) };
}
