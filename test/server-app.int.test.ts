import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpGet, todoApp } from './support/apps.js';
import { runId } from './support/fixture.js';
import { startTestServer, type TestServer } from './support/server.js';

// Seed 3's AppContainer flow through the HTTP API: template sandbox, base64 edits, commands, reads, URL, cleanup.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ owner: `test-${runId()}-api-app` });
}, 60_000);
afterAll(async () => s?.close());

describe('HTTP API: app sandboxes (template react-vite)', () => {
  it('creates from a template (ready when the dev server answers), edits through base64, builds, reads back, and cleans up', async () => {
    const key = `conv-${runId()}-api`;
    const c = await s.call('POST', '/api/v1/sandboxes', { template: 'react-vite', key });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const sb = c.body.sandbox;
    const port = (sb.ports as Array<{ containerPort: number; url?: string }>).find((p) => p.containerPort === 3001);
    expect(port?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const url = port!.url!;
    expect((await httpGet(url)).status).toBe(200); // ready at once: create waited for the dev server

    const up = await s.call('PUT', `/api/v1/sandboxes/${sb.id}/files`, { files: [{ path: 'src/App.tsx', base64: Buffer.from(todoApp('API todos')).toString('base64') }] });
    expect(up.body.written).toBe(1);
    expect((await s.call('GET', `/api/v1/sandboxes/${sb.id}/files?path=src/App.tsx`)).body.content).toBe(todoApp('API todos'));
    await eventually(async () => expect((await httpGet(`${url}/src/App.tsx`)).body).toContain('API todos'));
    const build = await s.call('POST', `/api/v1/sandboxes/${sb.id}/exec`, { cmd: ['bash', '-lc', 'npm run build 2>&1'], timeoutMs: 120_000 });
    expect(build.body.exitCode, build.body.stdout).toBe(0);
    expect((await s.call('GET', `/api/v1/sandboxes/${sb.id}/files?path=dist/index.html`)).body.content).toContain('<script type="module"');
    // ensure with the same key finds the same conversation
    expect((await s.call('POST', '/api/v1/sandboxes/ensure', { template: 'react-vite', key })).body.sandbox.id).toBe(sb.id);

    expect((await s.call('DELETE', `/api/v1/sandboxes/${sb.id}?force=true`)).body.removed).toBe(true);
    expect((await httpGet(url, 2_000)).error).toBeDefined();
  }, 180_000);

  it('an unknown template is a 400 naming the field', async () => {
    const r = await s.call('POST', '/api/v1/sandboxes', { template: 'rails' });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body.error)).toMatch(/template/);
  });
});
