import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentInteractiveOptionsSchema } from '../../agents/agent.js';
import { AGENT_NAMES } from '../../agents/events.js';
import type { AgentTerminal } from '../../agents/terminal.js';
import { checkApiPaths } from '../api-paths.js';
import type { ServerContext } from '../context.js';
import { actorOf } from './sandboxes.js';

const AgentParams = z.object({ agent: z.enum(AGENT_NAMES as unknown as [string, ...string[]]).describe('claude, gemini or codex') });

/** Interactive agent sessions this server opened (its own attachment keeps them; the TUI's exit removes the sandbox). */
const open = new Set<AgentTerminal>();

/** End every interactive agent session of this server (shutdown). */
export async function closeAgentSessions(): Promise<void> {
  await Promise.all([...open].map((t) => t.kill('SIGKILL').catch(() => 0)));
}

/**
 * Interactive agents over HTTP: the server makes the agent's sandbox (same image, keyless credentials and
 * allowlist as a run, first-run screens pre-answered) and starts its TUI on a terminal session; the client
 * (the CLI with WARDEN_URL, the dashboard) then attaches to it on the WebSocket terminal route by id.
 */
export function agentSessionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/agents/:agent/sessions',
    { schema: { tags: ['agents'], summary: "Open the agent's interactive TUI in a new sandbox (201); attach with GET /api/v1/sandboxes/{sandboxId}/pty/ws {type:'attach',ptyId}", params: AgentParams, body: AgentInteractiveOptionsSchema } },
    async (req, reply) => {
      const body = { ...req.body };
      await checkApiPaths(body, ctx.workspaceRoot);
      if (body.policy) await checkApiPaths(body.policy as { workspace?: string; configDir?: string; mounts?: Array<{ source: string }> }, ctx.workspaceRoot);
      const agent = ctx.warden.agent(req.params.agent as 'claude', { recorder: ctx.store.agentRuns, ...(ctx.agentSecrets ? { secrets: ctx.agentSecrets } : {}) });
      const t = await agent.interactive(body);
      open.add(t);
      // this attachment only keeps the session's output flowing; clients attach their own
      t.output.resume();
      void t.wait().catch(() => undefined).finally(() => open.delete(t));
      ctx.store.audit.action({ actor: actorOf(req), action: 'agent-session', sandboxId: t.sandbox.id, detail: { agent: req.params.agent, ptyId: t.id } });
      return reply.code(201).send({ session: { agent: req.params.agent, sandboxId: t.sandbox.id, ptyId: t.id } });
    },
  );
}
