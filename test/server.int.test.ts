import { setTimeout as sleep } from 'node:timers/promises';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { createLogger } from '../src/log.js';
import { buildServer } from '../src/server/build.js';
import { Warden } from '../src/sandbox/warden.js';
import { DockerSandboxRuntime } from '../src/runtime/docker/docker-sandbox-runtime.js';
import { WardenStore } from '../src/store/store.js';
import { readSse, startTestServer, type TestServer } from './support/server.js';
import { runId, tempWorkspace, testWarden } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

let s: TestServer;
let sbId: string;

beforeAll(async () => {
  s = await startTestServer({ owner: `test-${runId()}-api` });
  const r = await s.call('POST', '/api/v1/sandboxes', { project: `proj-${runId()}`, lifetime: 'persistent', resources: { memory: '256m' } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  sbId = r.body.sandbox.id;
}, 60_000);
afterAll(async () => {
  await s?.call('DELETE', `/api/v1/sandboxes/${sbId}?force=true`).catch(() => undefined);
  await s?.close();
});

describe('HTTP API: auth', () => {
  it('answers 401 on every route but /healthz without the right token, and does nothing', async () => {
    const doc = (await s.call('GET', '/openapi.json')).body;
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), p.replace(/\{id\}/g, sbId).replace(/\{execId\}/g, 'x000000000000')] as const));
    expect(routes.length).toBeGreaterThan(25);
    const mine = `/api/v1/sandboxes?owner=test-${runId()}-api`;
    const before = (await s.call('GET', mine)).body.sandboxes.length;
    for (const [method, path] of routes) {
      for (const token of [null, 'wrong-token-wrong-token']) {
        const r = await s.call(method, path, method === 'GET' || method === 'DELETE' ? undefined : { cmd: ['true'] }, { token });
        if (path === '/healthz') expect(r.status, `${method} ${path}`).toBe(200);
        else {
          expect(r.status, `${method} ${path} with ${token ?? 'no token'}`).toBe(401);
          expect(r.body.error.code).toBe('UNAUTHORIZED');
          expect(r.headers.get('www-authenticate')).toContain('Bearer');
        }
      }
    }
    // the WebSocket route is not in the OpenAPI paths: check it too
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/sandboxes/${sbId}/exec/ws`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    }).on('open', () => resolve(101)));
    expect(status).toBe(401);
    const after = await s.call('GET', mine);
    expect(after.body.sandboxes.length).toBe(before);
    const sb = (await s.call('GET', `/api/v1/sandboxes/${sbId}`)).body.sandbox;
    expect(sb.state).toBe('running'); // the unauthorized stop/kill/delete calls did nothing
  }, 120_000);
});

describe('HTTP API: sandboxes', () => {
  it('lists with filters (project, state, label) and gets one; unknown ids are 404', async () => {
    const byProject = await s.call('GET', `/api/v1/sandboxes?project=proj-${runId()}`);
    expect(byProject.body.sandboxes.map((x: any) => x.id)).toEqual([sbId]);
    const byLabel = await s.call('GET', `/api/v1/sandboxes?label=${TEST_RUN_LABEL}=${runId()}&state=running`);
    expect(byLabel.body.sandboxes.map((x: any) => x.id)).toContain(sbId);
    expect((await s.call('GET', '/api/v1/sandboxes?state=exited&project=proj-' + runId())).body.sandboxes).toEqual([]);
    const one = await s.call('GET', `/api/v1/sandboxes/${sbId}`);
    expect(one.body.sandbox).toMatchObject({ id: sbId, state: 'running', project: `proj-${runId()}`, lifetime: 'persistent' });
    const missing = await s.call('GET', '/api/v1/sandboxes/sbx-doesnotexist');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('SANDBOX_NOT_FOUND');
    expect((await s.call('POST', '/api/v1/sandboxes/sbx-doesnotexist/stop', {})).status).toBe(404);
  });

  it('answers bad input with 400 naming the field, conflicts with 409, and creates nothing', async () => {
    const mine = `/api/v1/sandboxes?owner=test-${runId()}-api`;
    const before = (await s.call('GET', mine)).body.sandboxes.length;
    const bad = await s.call('POST', '/api/v1/sandboxes', { resources: { memory: 'lots' }, network: 'internet' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(['body.resources.memory', 'body.network']));
    expect(bad.body.error.message).toMatch(/512m or 2g/);
    const unknownField = await s.call('POST', '/api/v1/sandboxes', { imgae: 'x' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.message).toMatch(/imgae/);
    const notJson = await s.call('POST', '/api/v1/sandboxes', '{"oops', {});
    expect(notJson.status).toBe(400);
    expect(notJson.body.stack).toBeUndefined();
    const noImage = await s.call('POST', '/api/v1/sandboxes', { image: 'warden-no-such-image:1' });
    expect(noImage.status).toBe(400);
    expect(noImage.body.error.code).toBe('IMAGE_NOT_FOUND');
    const name = `api-${runId()}`;
    expect((await s.call('POST', '/api/v1/sandboxes', { name })).status).toBe(201);
    const dup = await s.call('POST', '/api/v1/sandboxes', { name });
    expect(dup.status).toBe(409);
    expect((await s.call('DELETE', `/api/v1/sandboxes/${name}?force=true`)).body.removed).toBe(true);
    const big = await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['true', 'x'.repeat(2 * 1024 * 1024)] });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('BODY_TOO_LARGE');
    const after = (await s.call('GET', mine)).body.sandboxes.length;
    expect(after).toBe(before);
  }, 60_000);

  it('ensure reuses the sandbox of a key', async () => {
    const key = `ensure-${runId()}`;
    const a = await s.call('POST', '/api/v1/sandboxes/ensure', { key });
    const b = await s.call('POST', '/api/v1/sandboxes/ensure', { key });
    expect(a.status).toBe(200);
    expect(b.body.sandbox.id).toBe(a.body.sandbox.id);
    expect(b.body.reused).toBe(true);
    expect((await s.call('POST', '/api/v1/sandboxes/ensure', {})).status).toBe(400);
    await s.call('DELETE', `/api/v1/sandboxes/${a.body.sandbox.id}?force=true`);
  }, 60_000);
});

describe('HTTP API: exec', () => {
  it('buffered: exit code, stdout and stderr apart, stdin, timeout kills the tree', async () => {
    const r = await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['bash', '-c', 'echo out; echo err >&2; read x; echo "got $x"; exit 7'], stdin: 'hello\n' });
    expect(r.body).toMatchObject({ exitCode: 7, stdout: 'out\ngot hello\n', stderr: 'err\n' });
    const t = await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['bash', '-c', 'sleep 30 & sleep 30; echo never'], timeoutMs: 500 });
    expect(t.status).toBe(200);
    expect(t.body.killedBy).toBe('timeout');
    const ps = await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['bash', '-c', 'pgrep -c -f "[s]leep 30" || true'] });
    expect(ps.body.stdout.trim()).toBe('0');
    const hist = await s.call('GET', `/api/v1/sandboxes/${sbId}/execs`);
    expect(hist.body.execs.find((e: any) => e.exitCode === 7)).toMatchObject({ command: ['bash', '-c', expect.any(String)], stdoutTail: 'out\ngot hello\n' });
  }, 60_000);

  it("streamed as SSE with encoding 'base64': the exact bytes, binary included", async () => {
    const res = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/exec/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: ['sh', '-c', 'head -c 100000 /dev/urandom | tee /tmp/sse.bin; printf "\\377\\376" >&2'], encoding: 'base64' }),
    });
    const events = await readSse(res);
    const bytes = (stream: string) => Buffer.concat(events.filter(([e]) => e === stream).map(([, d]) => (expect(d.encoding).toBe('base64'), Buffer.from(d.data, 'base64'))));
    const file = await s.call('GET', `/api/v1/sandboxes/${sbId}/files?path=/tmp/sse.bin&encoding=base64`);
    expect(file.status).toBe(200);
    expect(bytes('stdout').equals(Buffer.from(file.body.content, 'base64'))).toBe(true);
    expect(bytes('stderr')).toEqual(Buffer.from([0xff, 0xfe]));
    expect(events.at(-1)).toMatchObject(['exit', { exitCode: 0 }]);
  }, 60_000);

  it('streamed as SSE: start, ordered gap-free chunks, stdin and signals through companion endpoints, exit last', async () => {
    const res = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/exec/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: ['bash', '-c', 'for i in $(seq 1 200); do echo "line $i"; echo "e$i" >&2; done; cat; trap "echo got-int; exit 3" INT; sleep 70 & wait'], stdin: true }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    let execId = '';
    let fed = false;
    const events = await readSse(res, (ev, d) => {
      if (ev === 'start') execId = d.execId;
      if (ev === 'stdout' && d.data.includes('line 200') && !fed) {
        fed = true;
        void (async () => {
          await s.call('POST', `/api/v1/execs/${execId}/stdin`, { data: 'from-stdin\n', eof: true });
          await sleep(300);
          await s.call('POST', `/api/v1/execs/${execId}/signal`, { signal: 'SIGINT' });
        })();
      }
    });
    expect(events[0]![0]).toBe('start');
    expect(events.at(-1)![0]).toBe('exit');
    expect(events.at(-1)![1].exitCode).toBe(3);
    const seqs = events.slice(1).map(([, d]) => d.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const out = events.filter(([e]) => e === 'stdout').map(([, d]) => d.data).join('');
    const err = events.filter(([e]) => e === 'stderr').map(([, d]) => d.data).join('');
    expect(out.split('\n').filter((l) => l.startsWith('line ')).length).toBe(200);
    expect(err.split('\n').filter((l) => l.startsWith('e')).length).toBe(200);
    expect(out).toContain('from-stdin\n');
    expect(out).toContain('got-int');
    const rec = await s.call('GET', `/api/v1/execs/${execId}`);
    expect(rec.body.exec).toMatchObject({ exitCode: 3, running: false, mode: 'stream' });
  }, 60_000);

  it('over a WebSocket: output, stdin, eof and a signal to the whole tree on one connection', async () => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/sandboxes/${sbId}/exec/ws`, { headers: { authorization: `Bearer ${s.token}` } });
    const msgs: any[] = [];
    const done = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    ws.on('message', (raw: Buffer) => {
      const m = JSON.parse(raw.toString());
      msgs.push(m);
      if (m.type === 'start') {
        ws.send(JSON.stringify({ type: 'stdin', data: 'ping\n' }));
        ws.send(JSON.stringify({ type: 'eof' }));
      }
      if (m.type === 'stdout' && m.data.includes('pong')) ws.send(JSON.stringify({ type: 'signal', signal: 'SIGTERM' }));
    });
    await new Promise((r) => ws.on('open', r));
    ws.send(JSON.stringify({ type: 'start', cmd: ['bash', '-c', 'read x; sleep 60 & sleep 61 & echo "$x" | sed s/ping/pong/; wait'] }));
    await done;
    expect(msgs[0].type).toBe('start');
    expect(msgs.filter((m) => m.type === 'stdout').map((m) => m.data).join('')).toBe('pong\n');
    const exit = msgs.at(-1);
    expect(exit.type).toBe('exit');
    expect(exit.exitCode).toBe(143);
    const left = await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['bash', '-c', 'pgrep -a -f "[s]leep 6[01]" || true'] });
    expect(left.body.stdout.trim()).toBe('');
  }, 60_000);

  it('a streaming client that disconnects takes its command with it', async () => {
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/exec/stream`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: ['bash', '-c', 'echo started; sleep 300'] }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    let n = '1';
    for (let i = 0; i < 200 && n !== '0'; i++) {
      await sleep(100);
      n = (await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['bash', '-c', 'pgrep -c -f "[s]leep 300" || true'] })).body.stdout.trim();
    }
    expect(n).toBe('0');
  }, 60_000);
});

describe('HTTP API: files', () => {
  it('uploads text and base64 (modifying a file), reads back as text, base64 and raw, and moves tar both ways', async () => {
    const up = await s.call('PUT', `/api/v1/sandboxes/${sbId}/files`, { files: [{ path: 'src/App.tsx', content: 'export const a = 1;\n' }, { path: '/tmp/bin.dat', base64: Buffer.from([0, 1, 2, 255]).toString('base64') }] });
    expect(up.body).toEqual({ written: 2 });
    await s.call('PUT', `/api/v1/sandboxes/${sbId}/files`, { files: [{ path: 'src/App.tsx', base64: Buffer.from('export const a = 2;\n').toString('base64') }] });
    expect((await s.call('GET', `/api/v1/sandboxes/${sbId}/files?path=src/App.tsx`)).body.content).toBe('export const a = 2;\n');
    expect((await s.call('GET', `/api/v1/sandboxes/${sbId}/files?path=/tmp/bin.dat&encoding=base64`)).body.content).toBe('AAEC/w==');
    const raw = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/files?path=/tmp/bin.dat&encoding=raw`, { headers: { authorization: `Bearer ${s.token}` } });
    expect([...new Uint8Array(await raw.arrayBuffer())]).toEqual([0, 1, 2, 255]);
    expect((await s.call('GET', `/api/v1/sandboxes/${sbId}/files?path=nope.txt`)).status).toBe(404);
    const esc = await s.call('GET', `/api/v1/sandboxes/${sbId}/files?path=/etc/shadow`);
    expect(esc.status).toBe(400);
    expect(esc.body.error.code).toBe('PATH_REFUSED');
    expect((await s.call('PUT', `/api/v1/sandboxes/${sbId}/files`, { files: [{ path: 'x', content: 'a', base64: 'YQ==' }] })).status).toBe(400);

    const p = pack();
    p.entry({ name: 'tree/a.txt' }, 'A');
    p.entry({ name: 'tree/b/c.txt' }, 'C');
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    const put = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/archive?path=/workspace`, { method: 'PUT', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/x-tar' }, body: Buffer.concat(chunks) });
    expect(put.status).toBe(200);
    const ls = await s.call('POST', `/api/v1/sandboxes/${sbId}/exec`, { cmd: ['cat', 'tree/a.txt', 'tree/b/c.txt'] });
    expect(ls.body.stdout).toBe('AC');
    const get = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/archive?path=/workspace/tree`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(get.headers.get('content-type')).toBe('application/x-tar');
    const tarText = Buffer.from(await get.arrayBuffer()).toString('latin1');
    expect(tarText).toContain('tree/b/c.txt');
  }, 60_000);
});

describe('HTTP API: lifecycle, monitoring, audit, metrics', () => {
  it('file routes: a missing download is a JSON 404 (not a tar-typed 500); names over 255 bytes are a 400 before any tar runs (both found by the fuzzer)', async () => {
    const dl = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/archive?path=no-such-file-${runId()}`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(dl.status).toBe(404);
    expect(dl.headers.get('content-type')).toContain('application/json');
    expect(((await dl.json()) as { error: { code: string } }).error.code).toBe('FILE_NOT_FOUND');
    const long = '0'.repeat(300);
    const put = await s.call('PUT', `/api/v1/sandboxes/${sbId}/files`, { files: [{ path: long, base64: '' }] });
    expect(put.status).toBe(400);
    expect(put.body.error).toMatchObject({ code: 'PATH_REFUSED', message: expect.stringMatching(/300 bytes long; file and directory names are at most 255 bytes/) });
    const tar = pack();
    tar.entry({ name: `d/${long}` }, 'x');
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(c as Buffer);
    const up = await fetch(`${s.url}/api/v1/sandboxes/${sbId}/archive`, { method: 'PUT', body: Buffer.concat(chunks), headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/x-tar' } });
    expect(up.status).toBe(400);
    expect(((await up.json()) as { error: { code: string } }).error.code).toBe('PATH_REFUSED');
  }, 60_000);

  it('stop, refresh, kill, remove: each acts on the engine and is recorded with its actor', async () => {
    const c = await s.call('POST', '/api/v1/sandboxes', { lifetime: 'persistent' });
    const id = c.body.sandbox.id;
    const stopped = await s.call('POST', `/api/v1/sandboxes/${id}/stop`, { timeoutMs: 2000 }, { headers: { 'x-warden-actor': 'alice' } });
    expect(stopped.body.sandbox.state).toBe('exited');
    const refreshed = await s.call('POST', `/api/v1/sandboxes/${id}/refresh`);
    expect(refreshed.body.sandbox).toMatchObject({ id, state: 'running' });
    const killed = await s.call('POST', `/api/v1/sandboxes/${id}/kill`, {});
    expect(killed.body.sandbox.state).not.toBe('running');
    const removed = await s.call('DELETE', `/api/v1/sandboxes/${id}`);
    expect(removed.body).toMatchObject({ removed: true, sandbox: { state: 'removed' } });
    expect((await s.call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('removed');
    const actions = (await s.call('GET', `/api/v1/sandboxes/${id}/actions`)).body.actions.map((a: any) => `${a.actor}:${a.action}`);
    expect(actions.reverse()).toEqual(['api:create', 'alice:stop', 'api:refresh', 'api:kill', 'api:remove']);
    const docker = new Docker();
    expect(await docker.listContainers({ all: true, filters: { label: [`warden.id=${id}`] } })).toEqual([]);
  }, 60_000);

  it('logs: the tail as text/plain; follow=true streams lines written later and ends when the sandbox stops', async () => {
    const c = await s.call('POST', '/api/v1/sandboxes', { lifetime: 'persistent', resources: { memory: '128m' } });
    const id = c.body.sandbox.id;
    const sb = await testWarden(`test-${runId()}-api`).get(id);
    await sb.startBackground(['sh', '-c', 'echo http-log-1; exec sleep 1000']);
    const get = async (q: string) => fetch(`${s.url}/api/v1/sandboxes/${id}/logs${q}`, { headers: { authorization: `Bearer ${s.token}` } });
    let text = '';
    while (!text.includes('http-log-1')) text = await (await get('?tail=20')).text();
    const follow = await get('?follow=true&tail=1');
    expect(follow.status).toBe(200);
    expect(follow.headers.get('content-type')).toContain('text/plain');
    const reader = follow.body!.getReader();
    const marker = `http-log-2-${Date.now()}`;
    await sb.exec(['sh', '-c', `echo ${marker} >> /tmp/warden-background.log`]);
    let got = '';
    const dec = new TextDecoder();
    while (!got.includes(marker)) {
      const { value, done } = await reader.read();
      expect(done, `the follow stream ended before the marker: ${got}`).toBe(false);
      got += dec.decode(value, { stream: true });
    }
    await s.call('POST', `/api/v1/sandboxes/${id}/stop`, { timeoutMs: 2000 });
    for (;;) if ((await reader.read()).done) break; // the stream ends with the sandbox
    await s.call('DELETE', `/api/v1/sandboxes/${id}?force=true`);
  }, 60_000);

  it('stats, health, processes; readyz; metrics in Prometheus text; OpenAPI document', async () => {
    expect((await s.call('GET', `/api/v1/sandboxes/${sbId}/stats`)).body.stats.memoryLimitBytes).toBe(256 * 1024 ** 2);
    expect(['healthy', 'starting']).toContain((await s.call('GET', `/api/v1/sandboxes/${sbId}/health`)).body.health.status);
    const procs = (await s.call('GET', `/api/v1/sandboxes/${sbId}/processes`)).body.processes;
    expect(procs.some((p: any) => p.pid === 1 && p.role === 'init' && p.command.startsWith('/.warden/warden-guard init'))).toBe(true); // the guard
    expect((await s.call('GET', '/readyz')).body).toMatchObject({ status: 'ready', engine: true, reconciled: true });
    const m = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.token}` } });
    const text = await m.text();
    expect(m.headers.get('content-type')).toContain('text/plain');
    expect(text).toMatch(/warden_sandboxes\{state="running"\} \d+/);
    expect(text).toMatch(/warden_execs_finished_total\{result="nonzero"\} [1-9]/);
    expect(text).toMatch(/warden_exec_duration_seconds_count [1-9]/);
    expect(text).toMatch(/warden_egress_requests\{decision="denied"\} \d+/);
    const doc = (await s.call('GET', '/openapi.json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/sandboxes', '/api/v1/sandboxes/{id}/exec', '/api/v1/panic', '/metrics']));
    expect(doc.paths['/api/v1/sandboxes'].post.requestBody.content['application/json'].schema.properties.resources).toBeDefined();
  }, 60_000);

  it('samples running sandboxes into health history and the live event stream', async () => {
    const srv = s.server;
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${s.token}` }, signal: ac.signal });
    const seen: Array<[string, any]> = [];
    const reading = readSse(res, (ev, d) => seen.push([ev, d])).catch(() => undefined);
    await (srv as any).ctx.reconciler.sync();
    const sampler = new (await import('../src/server/sampler.js')).Sampler(srv.ctx.warden, srv.ctx.store, srv.ctx.bus, createLogger('silent'));
    await sampler.round();
    for (let i = 0; i < 20 && !seen.some(([e, d]) => e === 'sample' && d.sandboxId === sbId); i++) await sleep(50);
    ac.abort();
    await reading;
    const sample = seen.find(([e, d]) => e === 'sample' && d.sandboxId === sbId)![1];
    expect(sample.memoryLimit).toBe(256 * 1024 ** 2);
    const hist = await s.call('GET', `/api/v1/sandboxes/${sbId}/health-history`);
    expect(hist.body.samples.at(-1)).toMatchObject({ sandboxId: sbId, memoryLimit: 256 * 1024 ** 2 });
  }, 60_000);

  it('panic removes every sandbox in its scope and reports it', async () => {
    const a = await s.call('POST', '/api/v1/sandboxes', {});
    const b = await s.call('POST', '/api/v1/sandboxes', { network: 'allowlist', egress: { allow: ['example.test'] } });
    expect(b.status).toBe(201);
    const r = await s.call('POST', '/api/v1/panic', { labels: { 'warden.id': a.body.sandbox.id } });
    expect(r.body.report).toMatchObject({ containers: 1, left: 0 });
    const r2 = await s.call('POST', '/api/v1/panic', { labels: { 'warden.id': b.body.sandbox.id } });
    expect(r2.body.report.containers).toBe(2); // the sandbox and its egress proxy
    expect(r2.body.report.networks).toBe(1);
    const docker = new Docker();
    expect(await docker.listContainers({ all: true, filters: { label: [`warden.id=${b.body.sandbox.id}`] } })).toEqual([]);
    expect((await s.call('GET', `/api/v1/sandboxes/${a.body.sandbox.id}`)).body.sandbox.state).toBe('vanished');
  }, 60_000);

  it('host paths given through the API must lie under the workspace root', async () => {
    const ws = await tempWorkspace();
    const root = await tempWorkspace();
    const srv = await startTestServer({ workspaceRoot: root.dir });
    try {
      const out = await srv.call('POST', '/api/v1/sandboxes', { workspace: ws.dir });
      expect(out.status).toBe(400);
      expect(out.body.error.message).toMatch(/outside this server's workspace root/);
      const { mkdir, chown } = await import('node:fs/promises');
      await mkdir(join(root.dir, 'p1'));
      await chown(join(root.dir, 'p1'), 1000, 1000);
      const ok = await srv.call('POST', '/api/v1/sandboxes', { workspace: 'p1' });
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      await srv.call('PUT', `/api/v1/sandboxes/${ok.body.sandbox.id}/files`, { files: [{ path: 'hello.txt', content: 'hi' }] });
      expect((await stat(join(root.dir, 'p1', 'hello.txt'))).uid).toBe(1000);
      await srv.call('DELETE', `/api/v1/sandboxes/${ok.body.sandbox.id}?force=true`);
    } finally {
      await srv.close();
      await ws.cleanup();
      await root.cleanup();
    }
  }, 60_000);
});

describe('HTTP API: engine down', () => {
  it('answers 503 with ENGINE_UNAVAILABLE, and readyz is not ready', async () => {
    const log = createLogger('silent');
    const warden = new Warden({ runtime: new DockerSandboxRuntime({ socketPath: '/nonexistent/docker.sock', logger: log }), logger: log });
    const store = WardenStore.memory();
    const srv = await buildServer({ warden, store, token: 'x'.repeat(20), log, sampleIntervalMs: 0, reconcileIntervalMs: 0 });
    const r = await srv.app.inject({ method: 'GET', url: '/api/v1/sandboxes', headers: { authorization: `Bearer ${'x'.repeat(20)}` } });
    expect(r.statusCode).toBe(503);
    expect(r.json().error.code).toBe('ENGINE_UNAVAILABLE');
    const ready = await srv.app.inject({ method: 'GET', url: '/readyz', headers: { authorization: `Bearer ${'x'.repeat(20)}` } });
    expect(ready.statusCode).toBe(503);
    await srv.close();
    store.close();
  });
});
