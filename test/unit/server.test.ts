import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { buildServer, type WardenServer } from '../../src/server/build.js';
import { WardenStore } from '../../src/store/store.js';
import { memoryWarden } from './support.js';

/**
 * The HTTP API's routes through fastify's `inject` over the memory runtime: auth, validation, the
 * error shape and statuses, lifecycle, exec, files, the reconciler. No engine, no listening socket.
 */
const TOKEN = 't'.repeat(24);
const auth = { authorization: `Bearer ${TOKEN}` };
let srv: WardenServer;
let store: WardenStore;
let w: Awaited<ReturnType<typeof memoryWarden>>;

beforeEach(async () => {
  w = await memoryWarden();
  store = WardenStore.memory();
  srv = await buildServer({ warden: w.warden, store, token: TOKEN, log: createLogger('silent'), sampleIntervalMs: 0, reconcileIntervalMs: 0 });
  await srv.start();
});
afterEach(async () => {
  await srv.close();
  store.close();
  await w.close();
});

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = auth) {
  const r = await srv.app.inject({ method, url, headers, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
  return { status: r.statusCode, body: r.body ? (r.headers['content-type']?.toString().includes('json') ? r.json() : r.body) : undefined };
}

describe('HTTP API over the memory runtime (inject)', () => {
  it('healthz is public; the API needs the token (401), a wrong one too', async () => {
    expect((await call('GET', '/healthz', undefined, {})).status).toBe(200);
    const none = await call('GET', '/api/v1/sandboxes', undefined, {});
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBeTruthy();
    expect((await call('GET', '/api/v1/sandboxes', undefined, { authorization: 'Bearer nope' })).status).toBe(401);
  });

  it('readyz is ready once reconciled with the runtime', async () => {
    expect((await call('GET', '/readyz')).status).toBe(200);
  });

  it('creates, lists, shows, stops and removes a sandbox', async () => {
    const made = await call('POST', '/api/v1/sandboxes', { key: 'api-1', labels: { team: 'x' } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const id = made.body.sandbox.id as string;
    expect(made.body.sandbox).toMatchObject({ id, key: 'api-1', state: 'running' });
    const list = await call('GET', '/api/v1/sandboxes');
    expect(list.body.sandboxes.map((s: { id: string }) => s.id)).toEqual([id]);
    expect((await call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.id).toBe(id);
    expect((await call('POST', `/api/v1/sandboxes/${id}/stop`, { timeoutMs: 100 })).status).toBe(200);
    expect((await call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('exited');
    expect((await call('DELETE', `/api/v1/sandboxes/${id}?force=true`)).status).toBe(200);
    const after = await call('GET', `/api/v1/sandboxes/${id}`);
    expect(after.body.sandbox.state).toBe('removed'); // the record stays, as removed
    expect(await w.runtime.find({ id })).toBeUndefined();
  });

  it('ensure returns the same sandbox for a key; create with a taken key is a 409', async () => {
    const a = await call('POST', '/api/v1/sandboxes/ensure', { key: 'api-e' });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    const b = await call('POST', '/api/v1/sandboxes/ensure', { key: 'api-e' });
    expect(b.body.sandbox.id).toBe(a.body.sandbox.id);
    const c = await call('POST', '/api/v1/sandboxes', { key: 'api-e' });
    expect(c.status).toBe(409);
    expect(c.body.error.code).toBe('NAME_CONFLICT');
  });

  it('runs a command and answers its exit code and output', async () => {
    const id = (await call('POST', '/api/v1/sandboxes', {})).body.sandbox.id as string;
    const r = await call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ exitCode: 4, stdout: 'out\n', stderr: 'err\n' });
    const execs = await call('GET', `/api/v1/sandboxes/${id}/execs`);
    expect(execs.body.execs[0]).toMatchObject({ exitCode: 4 });
  });

  it('writes and reads files', async () => {
    const id = (await call('POST', '/api/v1/sandboxes', {})).body.sandbox.id as string;
    const put = await call('PUT', `/api/v1/sandboxes/${id}/files`, { files: [{ path: 'dir/hello.txt', content: 'hi there' }] });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const get = await call('GET', `/api/v1/sandboxes/${id}/files?path=dir/hello.txt`);
    expect(get.status, JSON.stringify(get.body)).toBe(200);
    expect(get.body.content).toBe('hi there');
  });

  it('answers validation errors as 400 naming the field, unknown sandboxes as 404, no route as 404/405', async () => {
    const bad = await call('POST', '/api/v1/sandboxes', { resources: { memory: 'lots' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('resources.memory');
    expect((await call('GET', '/api/v1/sandboxes/sbx-000000000000')).status).toBe(404);
    expect((await call('POST', '/api/v1/sandboxes/sbx-000000000000/exec', { cmd: ['true'] })).status).toBe(404);
    expect((await call('POST', '/api/v1/sandboxes', { image: 'x', unknownField: 1 })).status).toBe(400);
    expect([404, 405]).toContain((await call('PUT', '/api/v1/sandboxes')).status);
  });

  it('a whole number in a query string is digits only: blank, hex, exponent and signs are a 400 naming the field', async () => {
    // Number('') is 0: `?tail=` was read as "the last 0 lines" (the fuzzer found it, seed 179393445)
    const sb = (await call('POST', '/api/v1/sandboxes', {})).body.sandbox;
    for (const v of ['', '%20', '0x10', '1e2', '-1', '+5', '1.5', '%205', 'Infinity', '9'.repeat(16)]) {
      const runs = await call('GET', `/api/v1/agent-runs?limit=${v}`);
      expect(runs.status, `limit=${v}: ${JSON.stringify(runs.body)}`).toBe(400);
      expect(runs.body.error.message, `limit=${v}`).toMatch(/limit/);
      const logs = await call('GET', `/api/v1/sandboxes/${sb.id}/logs?follow=false&tail=${v}`);
      expect(logs.status, `tail=${v}: ${JSON.stringify(logs.body)}`).toBe(400);
      expect(logs.body.error.message, `tail=${v}`).toMatch(/tail/);
    }
    expect((await call('GET', '/api/v1/agent-runs?limit=5')).status).toBe(200);
    expect((await call('GET', '/api/v1/agent-runs')).status).toBe(200);
    const doc = (await call('GET', '/openapi.json')).body;
    const tail = doc.paths['/api/v1/sandboxes/{id}/logs'].get.parameters.find((p: { name: string }) => p.name === 'tail');
    expect(tail.schema).toMatchObject({ type: 'integer', minimum: 0, maximum: 100_000 });
    const limit = doc.paths['/api/v1/agent-runs'].get.parameters.find((p: { name: string }) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 10_000, default: 100 });
  });

  it("what the runtime cannot do is a 400 UNSUPPORTED_ON_RUNTIME naming the capability", async () => {
    const r = await call('POST', '/api/v1/sandboxes', { network: 'open' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('UNSUPPORTED_ON_RUNTIME');
    expect(r.body.error.message).toContain('egressOpen');
  });

  it('the reconciler adopts what the SDK made and marks what vanished', async () => {
    const sb = await w.warden.create({ lifetime: 'persistent' });
    const r1 = await srv.ctx.reconciler.sync();
    expect(r1.adopted).toEqual([sb.id]);
    expect(store.sandboxes.get(sb.id)?.state).toBe('running');
    await w.runtime.remove(sb.id); // gone behind the server's back
    const r2 = await srv.ctx.reconciler.sync();
    expect(r2.vanished).toEqual([sb.id]);
  });

  it('panic over HTTP removes the instance\'s sandboxes', async () => {
    await call('POST', '/api/v1/sandboxes', {});
    await call('POST', '/api/v1/sandboxes', {});
    const r = await call('POST', '/api/v1/panic', {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await call('GET', '/api/v1/sandboxes')).body.sandboxes).toEqual([]);
  });

  it('serves its OpenAPI document', async () => {
    const r = await call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toContain('/api/v1/sandboxes');
  });
});
