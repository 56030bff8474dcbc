import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WardenError } from '../../errors.js';
import { TOKEN_NAME_RE, TokenInputSchema } from '../../store/tokens.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import { actorOf } from './sandboxes.js';

const TokenParams = z.object({ name: z.string().regex(TOKEN_NAME_RE, 'a token name: letters, digits, _ . -') });

/** Named tokens (admin only, enforced by the auth hook) and who the caller is. */
export function tokenRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['tokens'];

  r.get('/whoami', { schema: { tags, summary: "The caller's token: name, role, label scope, and the server's instance" } }, async (req) => {
    const p = principalOf(req);
    return { name: p.name, role: p.role, labels: p.labels, instance: ctx.warden.instance };
  });

  r.get('/tokens', { schema: { tags, summary: 'Named tokens (never their secrets)' } }, async () => ({ tokens: ctx.store.tokens.list() }));

  r.post('/tokens', { schema: { tags, summary: 'Make a named token bound to a role and a label set; the secret is in this answer only', body: TokenInputSchema } }, async (req, reply) => {
    const made = ctx.store.tokens.add(req.body);
    ctx.store.audit.action({ actor: actorOf(req), action: 'token-add', detail: { name: made.record.name, role: made.record.role, labels: made.record.labels } });
    return reply.code(201).send(made);
  });

  r.delete('/tokens/:name', { schema: { tags, summary: 'Remove a named token (it stops working at once)', params: TokenParams } }, async (req) => {
    if (!ctx.store.tokens.remove(req.params.name)) throw new WardenError('NOT_FOUND', `no token named '${req.params.name}'; GET /api/v1/tokens lists them`);
    ctx.store.audit.action({ actor: actorOf(req), action: 'token-rm', detail: { name: req.params.name } });
    return { removed: req.params.name };
  });
}
