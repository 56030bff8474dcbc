import { afterAll, describe, expect, it } from 'vitest';
import { getTemplate } from '../src/templates/catalog.js';
import { ensureDevServer } from '../src/templates/readiness.js';
import { httpGet } from './support/apps.js';
import { runId, sandboxPool, testWarden } from './support/fixture.js';

// Issue 14's flake: two concurrent ensure() calls for one key each started the dev server; the second
// died with "Port 3001 is already in use" and its call failed with TEMPLATE_NOT_READY. One dev-server
// start per sandbox, whoever calls, in this process or another.
const t = getTemplate('react-vite');
const warden = testWarden(`test-${runId()}-ready`);
const pool = sandboxPool(warden);
afterAll(() => pool.cleanup(), 120_000);

describe('template readiness', () => {
  it('callers in two processes (two Wardens) wait for one dev server: one start, no port clash', async () => {
    const sb = await pool.create({ template: 'react-vite', key: `ready-${runId()}` });
    // down with the dev server, as after a restart; then two "processes" bring it back at once
    await sb.exec(['sh', '-c', 'kill $(cat /tmp/warden-dev-server.pid); : > /tmp/warden-dev-server.log'], { timeoutMs: 10_000 });
    for (let i = 0; i < 100 && (await sb.exec(['sh', '-c', 'kill -0 $(cat /tmp/warden-dev-server.pid) 2>/dev/null'])).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const [h1, h2] = await Promise.all([testWarden(`test-${runId()}-ready`).get(sb.id), testWarden(`test-${runId()}-ready`).get(sb.id)]);
    const [r1, r2, r3] = await Promise.all([ensureDevServer(h1!, t), ensureDevServer(h2!, t), ensureDevServer(h1!, t)]);
    expect([r1, r2, r3].every((r) => r.url === sb.url(t.port))).toBe(true);
    expect((await httpGet(sb.url(t.port))).status).toBe(200);
    const log = (await sb.exec(['cat', '/tmp/warden-dev-server.log'])).stdout;
    expect(log).not.toMatch(/already in use/);
    expect(log.match(/ready in/g) ?? []).toHaveLength(1);
    // by program name: the guard's exec holders carry the command line they started in theirs
    const vites = (await sb.exec(['sh', '-c', 'ps -C node -o args= | grep -c "node_modules/.bin/vite"'])).stdout.trim();
    expect(vites).toBe('1');
  }, 120_000);

  it('concurrent ensure() calls for one key in one process share one readiness wait', async () => {
    const key = `ready-b-${runId()}`;
    const all = await Promise.all([1, 2, 3].map(() => warden.ensure({ template: 'react-vite', key })));
    pool.track(all[0]!);
    expect(new Set(all.map((s) => s.containerId)).size).toBe(1);
    const log = (await all[0]!.exec(['cat', '/tmp/warden-dev-server.log'])).stdout;
    expect(log).not.toMatch(/already in use/);
  }, 120_000);
});
