import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { Channel, EXEC_SUBPROTOCOL, parseExecStatus } from './exec-protocol.js';
import { openExec, type ExecRequest } from './exec-stream.js';

/**
 * The protocol's edge cases against a stand-in API server on loopback (an in-process websocket
 * server speaking v5 the way the apiserver's stream translator does). The real cluster's behaviour
 * is tested in test/kube/exec-stream.kube.test.ts.
 */

interface Fake {
  kc: KubeConfig;
  /** the server side of the next connection, with the request it came with */
  next(): Promise<{ ws: WebSocket; req: IncomingMessage; received: Buffer[] }>;
  server: Server;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fake(opts: { protocol?: string | false; refuse?: { status: number; body: string } } = {}): Promise<Fake> {
  const server = createServer();
  servers.push(server);
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: () => (opts.protocol === undefined ? EXEC_SUBPROTOCOL : opts.protocol),
  });
  const waiting: Array<(c: { ws: WebSocket; req: IncomingMessage; received: Buffer[] }) => void> = [];
  server.on('upgrade', (req, socket, head) => {
    if (opts.refuse) {
      socket.end(`HTTP/1.1 ${opts.refuse.status} No\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(opts.refuse.body)}\r\n\r\n${opts.refuse.body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const received: Buffer[] = [];
      ws.on('message', (d: Buffer) => received.push(d));
      ws.send(Buffer.from([Channel.stdout])); // "connected", as the apiserver does
      waiting.shift()?.({ ws, req, received });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return { kc, server, next: () => new Promise((r) => waiting.push(r)) };
}

const req = (over: Partial<ExecRequest> = {}): ExecRequest => ({ namespace: 'ns', pod: 'p', command: ['sh', '-c', 'x'], ...over });

const text = (s: NodeJS.ReadableStream | null): Promise<string> =>
  new Promise((resolve) => {
    if (!s) return resolve('');
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts).toString()));
  });

const send = (ws: WebSocket, channel: number, data: string | Buffer): void => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));

describe('parseExecStatus', () => {
  it('reads success, exit codes and failures, and never takes a missing status for success', () => {
    expect(parseExecStatus(Buffer.from('{"metadata":{},"status":"Success"}'), '')).toEqual({ kind: 'exited', exitCode: 0 });
    expect(
      parseExecStatus(Buffer.from('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}'), ''),
    ).toEqual({ kind: 'exited', exitCode: 42 });
    expect(parseExecStatus(Buffer.from('{"status":"Failure","reason":"InternalError","message":"exec: not found"}'), '')).toEqual({
      kind: 'failed',
      reason: 'InternalError',
      message: 'exec: not found',
    });
    expect(parseExecStatus(undefined, 'code 1006').kind).toBe('unknown');
    expect(parseExecStatus(Buffer.from('{"status":"Fail'), '').kind).toBe('unknown');
    // an ExitCode cause whose message is no number is not an exit code
    expect(parseExecStatus(Buffer.from('{"status":"Failure","details":{"causes":[{"reason":"ExitCode","message":"x"}]}}'), '').kind).toBe('failed');
  });
});

describe('openExec against a stand-in API server', () => {
  it('asks for exactly the v5 subprotocol with the argv, streams and credentials in the request', async () => {
    const f = await fake();
    const conn = f.next();
    const ex = await openExec(f.kc, req({ command: ['bash', '-lc', 'echo "a b" && x'], container: 'main', stdin: true }));
    const { ws, req: upgrade } = await conn;
    const url = new URL(upgrade.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/v1/namespaces/ns/pods/p/exec');
    expect(url.searchParams.getAll('command')).toEqual(['bash', '-lc', 'echo "a b" && x']);
    expect(Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'command'))).toEqual({
      container: 'main',
      stdin: 'true',
      stdout: 'true',
      stderr: 'true',
      tty: 'false',
    });
    expect(upgrade.headers['sec-websocket-protocol']).toBe(EXEC_SUBPROTOCOL);
    expect(upgrade.headers.authorization).toBe('Bearer test-token');
    send(ws, Channel.status, '{"status":"Success"}');
    ws.close();
    expect(await ex.exit).toEqual({ kind: 'exited', exitCode: 0 });
  });

  it('splits stdout from stderr, skips empty frames, and settles the exit after all output', async () => {
    const f = await fake();
    const conn = f.next();
    const ex = await openExec(f.kc, req());
    const { ws } = await conn;
    send(ws, Channel.stdout, 'hello ');
    send(ws, Channel.stderr, 'oops');
    send(ws, Channel.stdout, '');
    send(ws, Channel.stdout, 'world');
    send(ws, Channel.status, '{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}');
    ws.close();
    const [out, err, exit] = await Promise.all([text(ex.stdout), text(ex.stderr), ex.exit]);
    expect({ out, err, exit }).toEqual({ out: 'hello world', err: 'oops', exit: { kind: 'exited', exitCode: 3 } });
  });

  it('reports a socket that closes without a status as unknown, not success', async () => {
    const f = await fake();
    const conn = f.next();
    const ex = await openExec(f.kc, req());
    const { ws } = await conn;
    send(ws, Channel.stdout, 'partial');
    ws.terminate(); // no close frame, no status
    const [out, exit] = await Promise.all([text(ex.stdout), ex.exit]);
    expect(out).toBe('partial');
    expect(exit.kind).toBe('unknown');
    expect(exit.kind === 'unknown' && exit.reason).toMatch(/without an exit status/);
  });

  it('sends stdin in frames of at most 64 KiB and half-closes it with [255, 0] after the last byte', async () => {
    const f = await fake();
    const conn = f.next();
    const ex = await openExec(f.kc, req({ stdin: true }));
    const { ws, received } = await conn;
    const payload = Buffer.alloc(200 * 1024 + 7, 7);
    ex.stdin?.end(payload);
    await once(ex.stdin!, 'finish');
    await until(() => received.length >= 5);
    const frames = received.slice();
    const data = frames.slice(0, -1);
    expect(data.every((m) => m[0] === Channel.stdin && m.length - 1 <= 64 * 1024)).toBe(true);
    expect(Buffer.concat(data.map((m) => m.subarray(1))).equals(payload)).toBe(true);
    expect([...(frames.at(-1) ?? [])]).toEqual([255, 0]);
    send(ws, Channel.status, '{"status":"Success"}');
    ws.close();
    await ex.exit;
  });

  it('sends the first terminal size at once and every resize after it; refuses resize without a tty', async () => {
    const f = await fake();
    const conn = f.next();
    const ex = await openExec(f.kc, req({ tty: true, terminalSize: { columns: 100, rows: 30 } }));
    const { ws, req: upgrade, received } = await conn;
    expect(new URL(upgrade.url ?? '', 'http://x').searchParams.get('stderr')).toBe('false');
    expect(ex.stderr).toBeNull();
    ex.resize(120, 40);
    await until(() => received.length >= 2);
    expect(received.map((m) => [m[0], JSON.parse(m.subarray(1).toString())])).toEqual([
      [Channel.resize, { Width: 100, Height: 30 }],
      [Channel.resize, { Width: 120, Height: 40 }],
    ]);
    expect(() => ex.resize(0, 10)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    ws.close();
    await ex.exit;
    const conn2 = f.next();
    const plain = await openExec(f.kc, req());
    expect(() => plain.resize(80, 24)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    (await conn2).ws.close();
    await plain.exit;
  });

  it('pauses the socket while a consumer is slow: buffering stays bounded and everything arrives', async () => {
    const f = await fake();
    const conn = f.next();
    const hwm = 64 * 1024;
    const ex = await openExec(f.kc, req({ highWaterMark: hwm }));
    const { ws } = await conn;
    const chunk = Buffer.alloc(32 * 1024, 1);
    const total = 32 * 1024 * 1024; // 32 MiB, far beyond what the loopback socket buffers hold
    // The server queues everything at once; nobody reads stdout or stderr yet.
    for (let sent = 0; sent < total; sent += chunk.length) ws.send(Buffer.concat([Buffer.from([Channel.stdout]), chunk]));
    send(ws, Channel.status, '{"status":"Success"}');
    ws.close();
    // The flow stalls (the server's unsent backlog stops shrinking) with most of it still on the
    // server's side: the client paused its socket instead of swallowing it.
    await stalled(() => ws.bufferedAmount);
    expect(ws.bufferedAmount).toBeGreaterThan(total / 2);
    expect(ex.stdout.readableLength).toBeLessThanOrEqual(hwm + 64 * 1024);
    ex.stderr?.resume();
    let got = 0;
    let maxBuffered = 0;
    for await (const d of ex.stdout as AsyncIterable<Buffer>) {
      got += d.length;
      maxBuffered = Math.max(maxBuffered, ex.stdout.readableLength);
      if (got % (1024 * 1024) < d.length) await new Promise((r) => setImmediate(r)); // a slow consumer
    }
    expect(got).toBe(total);
    expect(maxBuffered).toBeLessThanOrEqual(hwm + 64 * 1024);
    expect(await ex.exit).toEqual({ kind: 'exited', exitCode: 0 });
  });

  it('keeps going when a consumer destroys its stream while the socket is paused for it', async () => {
    const f = await fake();
    const conn = f.next();
    const ex = await openExec(f.kc, req({ highWaterMark: 1024 }));
    const { ws } = await conn;
    for (let i = 0; i < 64; i++) send(ws, Channel.stdout, Buffer.alloc(16 * 1024, 1));
    send(ws, Channel.stderr, 'still here');
    send(ws, Channel.status, '{"status":"Success"}');
    ws.close();
    await until(() => ex.stdout.readableLength >= 1024);
    ex.stdout.destroy(); // nobody will ever read it
    const [err, exit] = await Promise.all([text(ex.stderr), ex.exit]);
    expect(err).toBe('still here');
    expect(exit).toEqual({ kind: 'exited', exitCode: 0 });
  });

  it('translates refusals by HTTP status, naming the pod and the fix', async () => {
    const notFound = await fake({ refuse: { status: 404, body: '{"kind":"Status","message":"pods \\"p\\" not found"}' } });
    await expect(openExec(notFound.kc, req())).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND', message: expect.stringContaining('ns/p') });
    const forbidden = await fake({ refuse: { status: 403, body: '{"kind":"Status","message":"forbidden"}' } });
    await expect(openExec(forbidden.kc, req())).rejects.toMatchObject({ code: 'ENGINE_ERROR', message: expect.stringContaining('pods/exec') });
    const bad = await fake({ refuse: { status: 400, body: '{"kind":"Status","message":"container zz is not valid for pod p"}' } });
    await expect(openExec(bad.kc, req())).rejects.toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('container zz') });
  });

  it('refuses a server that will not speak v5 (older clusters cannot half-close stdin)', async () => {
    const f = await fake({ protocol: 'v4.channel.k8s.io' });
    await expect(openExec(f.kc, req())).rejects.toMatchObject({ code: 'ENGINE_ERROR', message: expect.stringContaining('v5.channel.k8s.io') });
    const none = await fake({ protocol: false });
    await expect(openExec(none.kc, req())).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
  });

  it('fails with coded errors for bad arguments, an unreachable API and an abort', async () => {
    const f = await fake();
    for (const bad of [
      req({ namespace: 'Bad_NS' }),
      req({ pod: '../../etc' }),
      req({ container: 'a/b' }),
      req({ command: [] }),
      req({ command: 'ls' as unknown as string[] }),
      req({ terminalSize: { columns: 80, rows: 24 } }),
      req({ tty: true, terminalSize: { columns: 80, rows: 70_000 } }),
    ]) {
      await expect(openExec(f.kc, bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    const { port } = f.server.address() as AddressInfo;
    await new Promise((r) => f.server.close(r));
    await expect(openExec(f.kc, req())).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining(`127.0.0.1:${port}`) });
    const aborted = new AbortController();
    aborted.abort();
    await expect(openExec(f.kc, req({ signal: aborted.signal }))).rejects.toMatchObject({ code: 'EXEC_ABORTED' });
  });
});

/** Waits until a condition holds (the stand-in server offers no event for "frames arrived"). */
async function until(cond: () => boolean, timeout = 5000): Promise<void> {
  await vi.waitFor(
    () => {
      if (!cond()) throw new Error('not yet');
    },
    { timeout, interval: 5 },
  );
}

/** Waits until `value` stops changing for 10 polls in a row (a flow that has come to rest). */
async function stalled(value: () => number): Promise<void> {
  let last = -1;
  let same = 0;
  await vi.waitFor(
    () => {
      const v = value();
      same = v === last ? same + 1 : 0;
      last = v;
      if (same < 10) throw new Error('still moving');
    },
    { timeout: 10_000, interval: 20 },
  );
}
