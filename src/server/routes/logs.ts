import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { queryInt, SandboxParams } from '../schemas.js';

const LogsQuery = z
  .object({
    tail: queryInt(0, 100_000).optional().describe('Only the last N lines (default: all)'),
    follow: z.enum(['true', 'false']).default('false').describe('Keep the answer open and stream new lines until the sandbox stops'),
  })
  .strict();

/** The sandbox's own log (keeper reasons, main process output) as plain text, optionally followed. */
export function logRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/sandboxes/:id/logs', { schema: { tags: ['sandboxes'], summary: "The sandbox's own log (text/plain); follow=true streams new lines", params: SandboxParams, querystring: LogsQuery } }, async (req, reply) => {
    const sb = await ctx.warden.get(req.params.id);
    const stream = await sb.logs({ follow: req.query.follow === 'true', ...(req.query.tail !== undefined ? { tail: req.query.tail } : {}) });
    // a client that goes away ends the engine's stream
    req.raw.once('close', () => stream.destroy());
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(stream);
  });
}
