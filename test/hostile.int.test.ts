import { setTimeout as sleep } from 'node:timers/promises';
import { pack } from 'tar-stream';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runId } from './support/fixture.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

// Issue 14: no input a client can send crashes the server or gets a 5xx. The server is a real
// `warden up` process, so a crash shows as its exit (and its ephemeral sandboxes would die with it).

let s: ServerProcess;
let sandboxId: string;

async function tarOf(entries: Array<{ name: string; body: string }>): Promise<Buffer> {
  const p = pack();
  for (const e of entries) p.entry({ name: e.name }, e.body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** After each hostile request: still alive, still answering, and the answer was a coded 4xx. */
async function survives(res: { status: number; body: any }, status: number | RegExp = /^4\d\d$/): Promise<void> {
  if (typeof status === 'number') expect(res.status, JSON.stringify(res.body)).toBe(status);
  else expect(String(res.status), JSON.stringify(res.body)).toMatch(status);
  expect(typeof res.body?.error?.code, JSON.stringify(res.body)).toBe('string');
  expect(res.body.error.message).not.toMatch(/\n\s+at /); // never a stack
  await sleep(300); // the crash of the issue came ~1 s after the answer; every case below adds up to it
  expect(s.alive(), s.log()).toBe(true);
  expect((await s.call('GET', '/healthz')).status).toBe(200);
}

beforeAll(async () => {
  s = await startServerProcess({ instance: `hostile-${runId()}`, env: { ANTHROPIC_API_KEY: '', WARDEN_ANTHROPIC_API_KEY: '' } });
  const r = await s.call('POST', '/api/v1/sandboxes', { lifetime: 'ephemeral' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  sandboxId = r.body.sandbox.id;
}, 120_000);

afterAll(async () => {
  if (s?.alive() && sandboxId) await s.call('DELETE', `/api/v1/sandboxes/${sandboxId}?force=true`);
  await s?.stop();
}, 60_000);

describe('hostile requests: a coded 4xx, and the server keeps serving', () => {
  const badIds = ['..%2F..%2Fetc', '..%2F..%2F..%2Fversion', '%C3%BC', '%E2%80%AE', '%00', 'a%2Fb', '.hidden', '-rf'];
  const routes = ['', '/stats', '/health', '/processes', '/egress', '/execs', '/actions', '/health-history'];

  it('path ids that are no sandbox reference: 400 naming the parameter, on every route', async () => {
    for (const id of badIds) {
      for (const r of routes) {
        const res = await s.call('GET', `/api/v1/sandboxes/${id}${r}`);
        expect(res.status, `${id}${r}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.error.message).toMatch(/id/);
      }
      for (const [m, r, body] of [['POST', '/stop', {}], ['POST', '/kill', {}], ['POST', '/refresh', undefined], ['DELETE', '', undefined], ['POST', '/exec', { cmd: ['true'] }], ['GET', '/files?path=/etc/passwd', undefined]] as const) {
        const res = await s.call(m, `/api/v1/sandboxes/${id}${r}`, body);
        expect(res.status, `${m} ${id}${r}: ${JSON.stringify(res.body)}`).toBe(400);
      }
    }
    await survives(await s.call('GET', `/api/v1/sandboxes/${badIds[0]}`), 400);
  });

  it('archives that are not tar, JSON instead of tar, and tar entries that climb out', async () => {
    const path = `/api/v1/sandboxes/${sandboxId}/archive`;
    await survives(await s.call('PUT', path, undefined, { raw: Buffer.alloc(4096, 7), headers: { 'content-type': 'application/x-tar' } }), 400);
    await survives(await s.call('PUT', path, {}), 415);
    await survives(await s.call('PUT', path, undefined, { raw: 'hello', headers: { 'content-type': 'text/plain' } }), 415);
    const evil = await s.call('PUT', path, undefined, { raw: await tarOf([{ name: '../escape.txt', body: 'x' }]), headers: { 'content-type': 'application/x-tar' } });
    await survives(evil, 400);
    expect(evil.body.error.code).toBe('PATH_REFUSED');
    // the sandbox is untouched and still usable
    const ok = await s.call('PUT', path, undefined, { raw: await tarOf([{ name: 'fine.txt', body: 'fine' }]), headers: { 'content-type': 'application/x-tar' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it('JSON nested 5000 deep, broken JSON, wrong content types, huge bodies', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    await survives(await s.call('POST', '/api/v1/sandboxes', deep), 400);
    await survives(await s.call('POST', '/api/v1/sandboxes', `{"env":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`), 400);
    await survives(await s.call('POST', '/api/v1/sandboxes', '{"image": '), 400);
    await survives(await s.call('POST', '/api/v1/sandboxes', undefined, { raw: 'image=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
    await survives(await s.call('POST', '/api/v1/sandboxes', undefined, { raw: Buffer.alloc(3 * 1024 * 1024, 32), headers: { 'content-type': 'application/json' } }), 413);
    await survives(await s.call('POST', '/api/v1/sandboxes', { image: '../../etc' }), 400);
    await survives(await s.call('POST', '/api/v1/sandboxes', { key: 'a\nb' }), 400);
    // a URL over Node's 16 KiB header limit (the fuzzer found a 431 in plain text): 400 in the API's shape
    const long = await s.call('GET', `/api/v1/sandboxes/x/files/list?path=${'%F0%98%B1%85'.repeat(3000)}`);
    await survives(long, 400);
    expect(long.body).toMatchObject({ error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/16 KiB/) } });
    // what the router refuses itself (the fuzzer found fastify's own 414 body for a long Unicode id):
    // a path parameter over 100 characters, and a path that is not valid percent-encoding
    for (const path of [`/api/v1/sandboxes/${'%CC%BA'.repeat(101)}/logs`, `/api/v1/sandboxes/${'a'.repeat(101)}`, '/api/v1/sandboxes/%E0%A4%A/logs', '/api/v1/execs/%zz']) {
      const r = await s.call('GET', path);
      await survives(r, 400);
      expect(r.body, path).toMatchObject({ error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/100 characters|percent-encoding/) } });
    }
  });

  it('an env value or argument over the kernel limit is a 400 naming the field, not a 502 blaming the image', async () => {
    const big = 'x'.repeat(200 * 1024);
    const r1 = await s.call('POST', `/api/v1/sandboxes/${sandboxId}/exec`, { cmd: ['true'], env: { BIG: big } });
    await survives(r1, 400);
    expect(r1.body.error.message).toMatch(/env/);
    expect(r1.body.error.message).not.toMatch(/image/);
    const r2 = await s.call('POST', `/api/v1/sandboxes/${sandboxId}/exec`, { cmd: ['echo', big] });
    await survives(r2, 400);
    expect(r2.body.error.message).toMatch(/cmd/);
    await survives(await s.call('POST', '/api/v1/sandboxes', { env: { BIG: big } }), 400);
  });

  it("query integers are digits only: ?tail= is no 'last 0 lines' (the fuzzer's find), ?limit=0x10 no 16", async () => {
    for (const q of ['tail=', 'tail=%20', 'tail=1e2', 'tail=-1', 'tail=0x10']) {
      const r = await s.call('GET', `/api/v1/sandboxes/${sandboxId}/logs?follow=false&${q}`);
      await survives(r, 400);
      expect(r.body.error.message, q).toMatch(/tail/);
    }
    for (const q of ['limit=', 'limit=0x10', 'limit=1e2']) {
      const r = await s.call('GET', `/api/v1/sandboxes/${sandboxId}/actions?${q}`);
      await survives(r, 400);
      expect(r.body.error.message, q).toMatch(/limit/);
    }
    expect((await s.call('GET', `/api/v1/sandboxes/${sandboxId}/logs?follow=false&tail=5`)).status).toBe(200);
  });

  it('unknown signals are refused on every route that takes one', async () => {
    await survives(await s.call('POST', `/api/v1/sandboxes/${sandboxId}/kill`, { signal: 'SIGFOO' }), 400);
    await survives(await s.call('POST', '/api/v1/execs/x0123456789ab/signal', { signal: 'SIGFOO' }), 400);
    // the sandbox still runs: nothing was signalled
    expect((await s.call('GET', `/api/v1/sandboxes/${sandboxId}`)).body.sandbox.state).toBe('running');
  });

  it('an agent run that cannot start ends failed with its coded error (never "starting" forever)', async () => {
    const r = await s.call('POST', '/api/v1/agents/claude/runs', { prompt: 'hello' }, { headers: {} });
    if (r.status === 202) {
      const id = r.body.run.id as string;
      let rec: any;
      for (let i = 0; i < 200; i++) {
        rec = (await s.call('GET', `/api/v1/agent-runs/${id}`)).body;
        if (rec.run?.status && rec.run.status !== 'running') break;
        await sleep(100);
      }
      expect(rec.run.status, JSON.stringify(rec)).toBe('failed');
      expect(rec.run.error).toMatch(/AGENT_AUTH_MISSING|ANTHROPIC_API_KEY/);
    } else await survives(r, 400);
  });

  it('WebSocket exec: hostile ids, non-JSON and invalid UTF-8 frames, an oversized frame', async () => {
    const ws = (path: string): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const w = new WebSocket(`${s.url.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${s.token}` } });
        w.once('open', () => resolve(w));
        w.once('error', reject);
      });
    const closed = (w: WebSocket): Promise<{ code: number; messages: string[] }> =>
      new Promise((resolve) => {
        const messages: string[] = [];
        w.on('message', (m) => messages.push(m.toString()));
        w.on('error', () => undefined);
        w.once('close', (code) => resolve({ code, messages }));
      });
    const bad = await ws('/api/v1/sandboxes/..%2F..%2Fetc/exec/ws');
    const badDone = closed(bad);
    bad.send(JSON.stringify({ type: 'start', cmd: ['true'] }));
    expect((await badDone).messages.join('')).toMatch(/INVALID_ARGUMENT/);
    const junk = await ws(`/api/v1/sandboxes/${sandboxId}/exec/ws`);
    const junkDone = closed(junk);
    junk.send('not json at all');
    expect((await junkDone).messages.join('')).toMatch(/INVALID_ARGUMENT/);
    const utf = await ws(`/api/v1/sandboxes/${sandboxId}/exec/ws`);
    const utfDone = closed(utf);
    utf.send(Buffer.from([0xff, 0xfe, 0xfd]), { binary: false });
    await utfDone;
    const big = await ws(`/api/v1/sandboxes/${sandboxId}/exec/ws`);
    const bigDone = closed(big);
    big.send(Buffer.alloc(9 * 1024 * 1024, 120));
    await bigDone;
    await survives({ status: 400, body: { error: { code: 'X', message: 'ws' } } }, 400);
  });

  it('the server never died, and its sandbox is alive', async () => {
    expect(s.alive()).toBe(true);
    expect(s.log()).not.toMatch(/BUG: (uncaught|unhandled)/); // handled where it happens, not by the last-resort guard
    expect((await s.call('GET', `/api/v1/sandboxes/${sandboxId}`)).body.sandbox.state).toBe('running');
  });
});
