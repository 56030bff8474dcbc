import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { WardenError } from '../../errors.js';
import type { SandboxPty } from '../../sandbox/pty.js';
import type { ServerContext } from '../context.js';
import { SandboxParams } from '../schemas.js';
import { actorOf } from './sandboxes.js';

const Size = { cols: z.number().int().min(1).max(1000).default(80), rows: z.number().int().min(1).max(1000).default(24) };
const PtyStart = z
  .object({
    type: z.literal('start'),
    cmd: z.array(z.string().max(65536)).min(1).max(1000).optional().describe("argv; default: the image's login shell"),
    cwd: z.string().startsWith('/').max(4096).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(65536)).optional(),
    timeoutMs: z.number().int().positive().optional(),
    ...Size,
  })
  .strict();
const PtyAttach = z.object({ type: z.literal('attach'), ptyId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), ...Size }).strict();
const PtyControl = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
  z.object({ type: z.literal('signal'), signal: z.string().regex(/^(SIG)?[A-Z0-9]+$/) }),
  z.object({ type: z.literal('detach') }),
]);

/** Live attachments (server shutdown detaches them; the sessions themselves live in their sandboxes). */
const attachments = new Set<SandboxPty>();
/** Audit records of sessions this server opened, by session id: whichever attachment sees the exit closes it. */
const records = new Map<string, string>();

/** Detach every terminal this server holds (sessions keep running inside their sandboxes). */
export async function detachAllPtys(): Promise<void> {
  await Promise.all([...attachments].map((p) => p.detach().catch(() => undefined)));
}

/**
 * Terminal sessions over a WebSocket. The first message (text, JSON) opens a session
 * (`{"type":"start","cmd":[...],"cols":120,"rows":40}`) or attaches to a running one
 * (`{"type":"attach","ptyId":"...","cols":..,"rows":..}`); the server answers `{"type":"ready","ptyId"}`.
 * Then binary frames carry the terminal: keystrokes in, output out. Text messages steer it:
 * `resize`, `signal` (to the program's whole tree), `detach`. When the program ends the server sends
 * `{"type":"exit","exitCode",...}` and closes. A connection that drops leaves the session running (like a
 * terminal multiplexer): attach again by id. Browsers, which cannot set headers on a WebSocket, send the
 * token as the subprotocol `bearer.<base64url(token)>` next to `warden`.
 */
export function ptyRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/sandboxes/:id/ptys', { schema: { tags: ['pty'], summary: "The sandbox's terminal sessions: running, exited (with code) or gone", params: SandboxParams } }, async (req) => {
    const sb = await ctx.warden.get(req.params.id);
    return { ptys: await sb.ptys.list() };
  });

  // wsHandler + handler (not `websocket: true`, which hides the route from the OpenAPI description)
  app.route({
    method: 'GET',
    url: '/sandboxes/:id/pty/ws',
    schema: {
      tags: ['pty'],
      summary: 'WebSocket terminal (upgrade required)',
      description:
        'First message (text, JSON): {"type":"start","cmd"?:[...],"cols":80,"rows":24,"env"?:{},"cwd"?:"/workspace","timeoutMs"?:N} opens a session on a new terminal (default: the image\'s login shell); {"type":"attach","ptyId":"...","cols":..,"rows":..} attaches to a running one (its last 64 KiB of output is replayed). The server answers {"type":"ready","ptyId"}. Then binary frames carry the terminal both ways (keys in, output out); text messages {"type":"resize","cols","rows"} (answered {"type":"resized"} once applied), {"type":"signal","signal":"SIGINT"} (to the whole process tree) and {"type":"detach"} steer it; one that fails is answered {"type":"error","op":"resize"|"signal"|"detach","code","message"} and the session goes on. When the program ends: {"type":"exit","exitCode","durationMs","killedBy"?}, then close. A dropped connection leaves the session running. Auth: the bearer header, or (browsers) the subprotocols ["warden", "bearer.<base64url(token)>"].',
      params: SandboxParams,
      response: { 426: z.object({ error: z.object({ code: z.string(), message: z.string() }) }).describe('Not a WebSocket upgrade') },
    },
    handler: async (_req: FastifyRequest, reply: FastifyReply) => reply.code(426).header('upgrade', 'websocket').send({ error: { code: 'INVALID_ARGUMENT', message: 'this route is a WebSocket: connect with an upgrade request (e.g. new WebSocket(url, ["warden", "bearer.<base64url(token)>"]))' } }),
    wsHandler: (socket: WebSocket, req: FastifyRequest) => {
      const ref = (req.params as { id: string }).id;
      let pty: SandboxPty | undefined;
      let opening = false;
      const pending: Buffer[] = [];
      const send = (m: unknown): void => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
      };
      const fail = (err: unknown): void => {
        send({ type: 'error', code: err instanceof WardenError ? err.code : 'INVALID_ARGUMENT', message: (err as Error).message });
        socket.close(1011);
      };
      const open = async (msg: unknown): Promise<void> => {
        const start = PtyStart.safeParse(msg);
        const attach = start.success ? undefined : PtyAttach.safeParse(msg);
        if (!start.success && !attach?.success) {
          throw new WardenError('INVALID_ARGUMENT', `the first message must be {"type":"start","cmd":[...],"cols":80,"rows":24} or {"type":"attach","ptyId":"...","cols":80,"rows":24}: ${start.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`);
        }
        const sb = await ctx.warden.get(ref);
        if (sb.info.state !== 'running') throw new WardenError('SANDBOX_NOT_RUNNING', `sandbox ${sb.id} is ${sb.info.state}; start it again with POST /api/v1/sandboxes/ensure or .../refresh`);
        if (start.success) {
          const s = start.data;
          pty = await sb.pty({ cols: s.cols, rows: s.rows, ...(s.cmd ? { cmd: s.cmd } : {}), ...(s.cwd ? { cwd: s.cwd } : {}), ...(s.env ? { env: s.env } : {}), ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}) });
          // the audit: a terminal session is an exec like any other (mode pty)
          const recordId = `x${randomBytes(6).toString('hex')}`;
          records.set(pty.id, recordId);
          const command = s.cmd ?? ['(login shell)'];
          ctx.store.execs.start({ id: recordId, sandboxId: sb.id, command, mode: 'pty', actor: actorOf(req) });
          ctx.bus.publish({ type: 'exec-start', sandboxId: sb.id, execId: recordId, command });
          ctx.metrics.execsStarted.inc({ mode: 'pty' });
        } else {
          const a = attach!.data!;
          pty = await sb.ptys.connect(a.ptyId, { cols: a.cols, rows: a.rows });
        }
        const p = pty;
        attachments.add(p);
        if (socket.readyState !== socket.OPEN) {
          attachments.delete(p);
          await p.detach();
          return;
        }
        send({ type: 'ready', ptyId: p.id, sandboxId: sb.id });
        p.output.on('data', (b: Buffer) => {
          if (socket.readyState !== socket.OPEN) return;
          socket.send(b, { binary: true });
          // backpressure: a slow browser holds the terminal back instead of filling the server's memory
          if (socket.bufferedAmount > 1024 * 1024) {
            p.output.pause();
            const resume = (): void => (socket.bufferedAmount > 256 * 1024 && socket.readyState === socket.OPEN ? void setTimeout(resume, 20) : void p.output.resume());
            setTimeout(resume, 20);
          }
        });
        for (const b of pending.splice(0)) p.write(b);
        p.wait().then(
          (exit) => {
            attachments.delete(p);
            const recordId = records.get(p.id);
            records.delete(p.id);
            if (recordId) {
              try {
                ctx.store.execs.finish(recordId, { exitCode: exit.exitCode, durationMs: exit.durationMs, ...(exit.killedBy ? { killedBy: exit.killedBy } : {}), stdout: '', stderr: '' });
              } catch (err) {
                ctx.log.warn({ err, pty: p.id }, 'recording the terminal session end failed');
              }
              ctx.bus.publish({ type: 'exec-exit', sandboxId: sb.id, execId: recordId, exitCode: exit.exitCode, durationMs: exit.durationMs, seq: ctx.bus.nextSeq(sb.id) });
            }
            send({ type: 'exit', ptyId: p.id, ...exit });
            socket.close(1000);
          },
          () => {
            attachments.delete(p);
            if (socket.readyState === socket.OPEN) socket.close(1000);
          },
        );
      };
      socket.on('message', (raw: Buffer, isBinary: boolean) => {
        if (isBinary) {
          if (pty) pty.write(raw);
          else if (opening) pending.push(Buffer.from(raw));
          else fail(new WardenError('INVALID_ARGUMENT', 'open the terminal first with a {"type":"start"} or {"type":"attach"} text message'));
          return;
        }
        let msg: unknown;
        try {
          msg = JSON.parse(raw.toString('utf8'));
        } catch {
          return fail(new WardenError('INVALID_ARGUMENT', 'text messages are JSON objects; keystrokes go in binary frames'));
        }
        if (!pty) {
          if (opening) return fail(new WardenError('CONFLICT', 'wait for the ready message before steering the terminal'));
          opening = true;
          return void open(msg).catch(fail);
        }
        const m = PtyControl.safeParse(msg);
        if (!m.success) return fail(new WardenError('INVALID_ARGUMENT', 'unknown message; send {"type":"resize","cols":..,"rows":..}, {"type":"signal","signal":"SIGINT"} or {"type":"detach"}'));
        const p = pty;
        const d = m.data;
        const op = d.type === 'resize' ? p.resize(d.cols, d.rows).then(() => send({ type: 'resized', cols: d.cols, rows: d.rows })) : d.type === 'signal' ? p.kill(d.signal) : p.detach().then(() => socket.close(1000));
        // a failed control step names itself (`op`): the session goes on, and the client settles what waits for it
        void Promise.resolve(op).catch((err: unknown) => {
          ctx.log.warn({ err, pty: p.id, op: d.type }, 'a terminal control step failed');
          send({ type: 'error', op: d.type, code: err instanceof WardenError ? err.code : 'EXEC_FAILED', message: (err as Error).message });
        });
      });
      socket.on('close', () => {
        // a dropped connection leaves the session running; only this attachment ends
        if (pty && attachments.has(pty)) {
          attachments.delete(pty);
          void pty.detach().catch(() => undefined);
        }
      });
    },
  } as never);
}
