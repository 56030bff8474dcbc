import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { Warden } from '../../src/sandbox/warden.js';
import { buildServer, type WardenServer } from '../../src/server/build.js';
import { WardenStore } from '../../src/store/store.js';
import { standin } from './support.js';

/**
 * The HTTP API (fastify's inject, no socket) over the SDK's `Warden` made as an application makes it,
 * its runtime chosen by WARDEN_RUNTIME=aci from the environment the global setup pointed at the ACI
 * stand-in: the API works unchanged on top of the ACI backend.
 */
const TOKEN = 'aci-api-token-0123456789';
let srv: WardenServer;
let store: WardenStore;
let warden: Warden;
const made = new Set<string>();

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await srv.app.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}` }, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
  return { status: r.statusCode, body: r.body ? r.json() : undefined };
}

beforeAll(async () => {
  process.env.WARDEN_RUNTIME = 'aci'; // this worker only: the SDK reads it where an application would
  const log = createLogger('silent');
  warden = new Warden({ instance: standin().runId, owner: `aci-api-${process.pid}`, logger: log });
  store = WardenStore.memory();
  srv = await buildServer({ warden, store, token: TOKEN, log, sampleIntervalMs: 0, reconcileIntervalMs: 0 });
});

afterAll(async () => {
  await Promise.all([...made].map((id) => warden.remove(id, { force: true }).catch(() => undefined)));
  await srv?.close();
  store?.close();
});

describe('the HTTP API with WARDEN_RUNTIME=aci, against the ACI stand-in', () => {
  it('creates a sandbox, runs commands (exit code, stdout/stderr apart, stdin), moves files, stops and removes it', async () => {
    expect(warden.runtime.kind).toBe('aci');
    const c = await call('POST', '/api/v1/sandboxes', { lifetime: 'persistent', network: 'open', resources: { memory: '512m', cpus: 0.5 }, env: { TOKEN_X: 'secret-value' } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id: string = c.body.sandbox.id;
    made.add(id);
    expect(c.body.sandbox.state).toBe('running');

    const r = await call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'echo out; echo err >&2; read x; echo "got $x $TOKEN_X"; exit 7'], stdin: 'hello\n' });
    expect(r.body).toMatchObject({ exitCode: 7, stdout: 'out\ngot hello secret-value\n', stderr: 'err\n' });
    const t = await call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'sleep 30 & sleep 30; echo never'], timeoutMs: 500 });
    expect(t.body).toMatchObject({ killedBy: 'timeout' });

    expect((await call('PUT', `/api/v1/sandboxes/${id}/files`, { files: [{ path: 'src/a.txt', content: 'one\n' }, { path: '/tmp/bin.dat', base64: Buffer.from([0, 1, 2, 255]).toString('base64') }] })).body).toEqual({ written: 2 });
    expect((await call('GET', `/api/v1/sandboxes/${id}/files?path=src/a.txt`)).body.content).toBe('one\n');
    expect((await call('GET', `/api/v1/sandboxes/${id}/files?path=/tmp/bin.dat&encoding=base64`)).body.content).toBe('AAEC/w==');
    const esc = await call('GET', `/api/v1/sandboxes/${id}/files?path=/etc/shadow`);
    expect(esc.body.error?.code).toBe('PATH_REFUSED');

    const listed = await call('GET', '/api/v1/sandboxes');
    expect(listed.body.sandboxes.map((s: { id: string }) => s.id), JSON.stringify(listed.body).slice(0, 600)).toContain(id);

    // refresh recreates from the record, which keeps env names only; ACI never returns secure values
    const refused = await call('POST', `/api/v1/sandboxes/${id}/refresh`);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'UNSUPPORTED_ON_RUNTIME' });
    expect(refused.body.error.message).toMatch(/TOKEN_X/);
    expect((await call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('running'); // untouched

    const stopped = await call('POST', `/api/v1/sandboxes/${id}/stop`, { timeoutMs: 3000 });
    expect(stopped.body.sandbox?.state, JSON.stringify(stopped.body)).toBe('exited');
    const removed = await call('DELETE', `/api/v1/sandboxes/${id}`);
    expect(removed.body).toMatchObject({ removed: true });
    made.delete(id);
    expect(await warden.runtime.find({ id })).toBeUndefined();
  });

  it('refreshes a sandbox with no env: the same id, running again, recreated from its record', async () => {
    const c = await call('POST', '/api/v1/sandboxes', { lifetime: 'persistent', network: 'open', resources: { memory: '512m', cpus: 0.5 } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id: string = c.body.sandbox.id;
    made.add(id);
    await call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'echo before > /tmp/mark'] });
    const r = await call('POST', `/api/v1/sandboxes/${id}/refresh`);
    expect(r.body.sandbox, JSON.stringify(r.body)).toMatchObject({ id, state: 'running' });
    // a new container group: what the old one held outside a kept workspace is gone
    expect((await call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'cat /tmp/mark 2>/dev/null || echo fresh'] })).body.stdout).toBe('fresh\n');
    expect((await call('DELETE', `/api/v1/sandboxes/${id}?force=true`)).body).toMatchObject({ removed: true });
    made.delete(id);
  });

  it("answers what ACI cannot do with 4xx UNSUPPORTED_ON_RUNTIME naming the capability, and makes nothing", async () => {
    const before = (await call('GET', '/api/v1/sandboxes')).body.sandboxes.length;
    const none = await call('POST', '/api/v1/sandboxes', { lifetime: 'persistent' }); // network 'none' by default
    expect(none.status).toBeGreaterThanOrEqual(400);
    expect(none.status).toBeLessThan(500);
    expect(none.body.error).toMatchObject({ code: 'UNSUPPORTED_ON_RUNTIME' });
    expect(none.body.error.message).toMatch(/egressNone/);
    expect((await call('GET', '/api/v1/sandboxes')).body.sandboxes.length).toBe(before);
  });
});
