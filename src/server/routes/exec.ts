import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { WardenError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { MAX_BUFFERED_BYTES, type ExecRequest } from '../exec-manager.js';
import { ArgvSchema, EnvSchema, SignalSchema } from '../../policy/limits.js';
import { checkSandboxRef } from '../../policy/refs.js';
import { ExecBody, ExecParams, OutputEncoding, SandboxParams, SignalBody, StdinBody, StreamExecBody } from '../schemas.js';
import { openSse } from '../sse.js';
import { actorOf } from './sandboxes.js';
import { sandboxIdInScope, scopedSandbox } from '../scope.js';

const WsStart = z
  .object({
    type: z.literal('start'),
    cmd: ArgvSchema,
    cwd: z.string().startsWith('/').max(4096).optional(),
    env: EnvSchema.optional(),
    user: z.string().regex(/^\d+(:\d+)?$/).optional(),
    timeoutMs: z.number().int().positive().optional(),
    stdin: z.boolean().default(true),
    encoding: OutputEncoding,
  })
  .strict();
const WsMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdin'), data: z.string(), encoding: z.enum(['utf8', 'base64']).default('utf8') }),
  z.object({ type: z.literal('eof') }),
  z.object({ type: z.literal('signal'), signal: SignalSchema }),
]);

const toReq = (b: { cmd: string[]; cwd?: string | undefined; env?: Record<string, string> | undefined; user?: string | undefined; timeoutMs?: number | undefined }, stdin: boolean): ExecRequest => ({
  cmd: b.cmd,
  ...(b.cwd ? { cwd: b.cwd } : {}),
  ...(b.env ? { env: b.env } : {}),
  ...(b.user ? { user: b.user } : {}),
  ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}),
  stdin,
});

/**
 * Commands: buffered (one JSON answer), streamed as Server-Sent Events (stdin and signals through the
 * companion endpoints), or over a WebSocket (output, stdin, signals and the exit on one connection).
 * A streaming client that goes away before the command ends takes the command's process tree with it:
 * nothing keeps running that nobody can see.
 */
export function execRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['exec'];

  r.post('/sandboxes/:id/exec', { schema: { tags, summary: 'Run a command to completion; exit code, stdout and stderr in one answer', params: SandboxParams, body: ExecBody } }, async (req) => {
    const out = { stdout: [] as string[], stderr: [] as string[] };
    const size = { stdout: 0, stderr: 0 };
    let truncated = false;
    const b = req.body;
    await scopedSandbox(ctx, req, req.params.id);
    const run = await ctx.execs.start(req.params.id, toReq(b, b.stdin !== undefined), 'buffered', (stream, data) => {
      if (!data) return;
      if (size[stream] + data.length > MAX_BUFFERED_BYTES) {
        truncated = true;
        return;
      }
      size[stream] += data.length;
      out[stream].push(data);
    }, actorOf(req));
    if (b.stdin !== undefined) await ctx.execs.stdin(run.execId, Buffer.from(b.stdin, b.stdinEncoding === 'base64' ? 'base64' : 'utf8'), true);
    const o = await run.done;
    return { execId: o.execId, exitCode: o.exitCode, stdout: out.stdout.join(''), stderr: out.stderr.join(''), durationMs: o.durationMs, ...(o.killedBy ? { killedBy: o.killedBy } : {}), ...(truncated ? { truncated: true } : {}) };
  });

  r.post('/sandboxes/:id/exec/stream', { schema: { tags, summary: 'Run a command, streaming Server-Sent Events: start, stdout, stderr, exit', params: SandboxParams, body: StreamExecBody } }, async (req, reply) => {
    const b = req.body;
    // start first: a bad request still gets a plain JSON error instead of an event stream
    const pending: Array<[string, unknown]> = [];
    let sse: ReturnType<typeof openSse> | undefined;
    let seq = 0;
    await scopedSandbox(ctx, req, req.params.id);
    const run = await ctx.execs.start(req.params.id, toReq(b, b.stdin), 'stream', (stream, data, raw) => {
      if (b.encoding === 'utf8' ? !data : raw.length === 0) return;
      const frame: [string, unknown] = [stream, b.encoding === 'utf8' ? { data, seq: ++seq } : { data: raw.toString('base64'), encoding: 'base64', seq: ++seq }];
      if (sse) sse.send(frame[0], frame[1]);
      else pending.push(frame);
    }, actorOf(req));
    sse = openSse(req, reply);
    sse.send('start', { execId: run.execId, sandboxId: run.sandboxId, command: run.command });
    for (const [e, d] of pending) sse.send(e, d);
    sse.onClose(() => {
      if (ctx.execs.isRunning(run.execId)) void ctx.execs.signal(run.execId, 'SIGKILL').catch(() => 0);
    });
    try {
      const o = await run.done;
      sse.send('exit', { ...o, seq: ++seq });
    } catch (err) {
      sse.send('error', { code: err instanceof WardenError ? err.code : 'EXEC_FAILED', message: (err as Error).message });
    }
    sse.close();
  });

  r.get('/execs/:execId', { schema: { tags, summary: 'An exec record: command, exit, duration, output tails', params: ExecParams } }, async (req) => {
    const rec = ctx.store.execs.get(req.params.execId);
    if (!rec || !sandboxIdInScope(ctx, req, rec.sandboxId)) throw new WardenError('EXEC_NOT_FOUND', `no exec '${req.params.execId}' on record`);
    return { exec: { ...rec, running: ctx.execs.isRunning(rec.id) } };
  });

  // an exec of a sandbox out of the token's scope does not exist for it
  const execInScope = (req: FastifyRequest, execId: string): void => {
    const rec = ctx.store.execs.get(execId);
    if (rec && !sandboxIdInScope(ctx, req, rec.sandboxId)) throw new WardenError('EXEC_NOT_FOUND', `no running exec '${execId}' on this server`);
  };
  r.post('/execs/:execId/signal', { schema: { tags, summary: "Send a signal to a running exec's whole process tree", params: ExecParams, body: SignalBody } }, async (req) => {
    execInScope(req, req.params.execId);
    return { signalled: await ctx.execs.signal(req.params.execId, req.body.signal) };
  });

  r.post('/execs/:execId/stdin', { schema: { tags, summary: 'Write to a running exec\'s stdin (eof: true closes it)', params: ExecParams, body: StdinBody } }, async (req) => {
    execInScope(req, req.params.execId);
    await ctx.execs.stdin(req.params.execId, Buffer.from(req.body.data, req.body.encoding === 'base64' ? 'base64' : 'utf8'), req.body.eof);
    return { ok: true };
  });

  app.get('/sandboxes/:id/exec/ws', { websocket: true, schema: { tags, summary: 'WebSocket exec: send {type:"start",cmd,...}, then stdin/eof/signal messages; receive stdout/stderr/exit' } as never }, (socket: WebSocket, req) => {
    const ref = (req.params as { id: string }).id;
    let execId: string | undefined;
    let seq = 0;
    const send = (m: unknown): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
    };
    const fail = (err: unknown): void => {
      send({ type: 'error', code: err instanceof WardenError ? err.code : 'INVALID_ARGUMENT', message: (err as Error).message });
      socket.close(1011);
    };
    // a client's broken frame (bad UTF-8, oversized) is an 'error' on the socket: close it, never crash
    socket.on('error', (err) => {
      ctx.log.debug({ err }, 'exec WebSocket error');
      socket.terminate();
    });
    socket.on('message', (raw: Buffer) => {
      let msg: unknown;
      try {
        msg = JSON.parse(raw.toString('utf8'));
      } catch {
        return fail(new WardenError('INVALID_ARGUMENT', 'WebSocket messages are JSON objects'));
      }
      if (!execId) {
        const start = WsStart.safeParse(msg);
        if (!start.success) return fail(new WardenError('INVALID_ARGUMENT', `the first message must be {"type":"start","cmd":[...]}: ${start.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`));
        execId = 'pending';
        void scopedSandbox(ctx, req, ref)
          .then(() => ctx.execs.start(ref, toReq(start.data, start.data.stdin), 'ws', (stream, data, raw) => {
            if (start.data.encoding === 'base64') {
              if (raw.length) send({ type: stream, data: raw.toString('base64'), encoding: 'base64', seq: ++seq });
            } else if (data) send({ type: stream, data, seq: ++seq });
          }, actorOf(req)))
          .then(async (run) => {
            execId = run.execId;
            send({ type: 'start', execId: run.execId, sandboxId: run.sandboxId });
            const o = await run.done;
            send({ type: 'exit', ...o, seq: ++seq });
            socket.close(1000);
          })
          .catch(fail);
        return;
      }
      if (execId === 'pending') return fail(new WardenError('CONFLICT', 'wait for the start message before sending stdin or signals'));
      const m = WsMessage.safeParse(msg);
      if (!m.success) return fail(new WardenError('INVALID_ARGUMENT', `unknown message; send {"type":"stdin","data":...}, {"type":"eof"} or {"type":"signal","signal":"SIGINT"}`));
      const id = execId;
      const op = m.data.type === 'signal' ? ctx.execs.signal(id, m.data.signal) : ctx.execs.stdin(id, m.data.type === 'stdin' ? Buffer.from(m.data.data, m.data.encoding === 'base64' ? 'base64' : 'utf8') : Buffer.alloc(0), m.data.type === 'eof');
      void Promise.resolve(op).catch((err: unknown) => send({ type: 'error', code: err instanceof WardenError ? err.code : 'EXEC_FAILED', message: (err as Error).message }));
    });
    socket.on('close', () => {
      if (execId && execId !== 'pending' && ctx.execs.isRunning(execId)) void ctx.execs.signal(execId, 'SIGKILL').catch(() => 0);
    });
  });
}
