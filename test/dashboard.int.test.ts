import type { Browser } from 'playwright-core';
import { mkdir } from 'node:fs/promises';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runId } from './support/fixture.js';
import { startTestServer, type TestServer } from './support/server.js';
import { dashboardStreams, launchChromium, steadyPage } from './support/browser.js';

// The dashboard in a real headless Chromium (Debian's), against a real server and engine.
let s: TestServer;
let browser: Browser;

beforeAll(async () => {
  s = await startTestServer({ owner: `test-${runId()}-dash`, sampleIntervalMs: 1000 });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('dashboard', () => {
  it('logs in with the token, lists a sandbox created through the API, shows its output live, and its stop button stops it', async () => {
    const pool = s.server.ctx.warden.pool({ template: 'react-vite', size: 0, interval: '1h' });
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(s.url);
    // wrong token first: refused, still on the login form
    await page.getByTestId('token').fill('not-the-token-at-all');
    await page.getByTestId('login').click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('refused');
    await page.getByTestId('token').fill(s.token);
    await page.getByTestId('login').click();
    await page.locator('#app').waitFor({ state: 'visible' });
    expect(await page.locator('#login').isVisible()).toBe(false);
    // the header counts sandboxes and shows the server's warm pools (an empty one here: nothing to make)
    await expect.poll(() => page.getByTestId('summary').textContent(), { timeout: 15_000 }).toContain('warm pool: react-vite 0/0');
    await pool.stop();

    const created = await s.call('POST', '/api/v1/sandboxes', { key: `dash-${runId()}`, project: 'dashboard-demo', resources: { memory: '256m', cpus: 1 } });
    const id = created.body.sandbox.id as string;
    const row = page.getByTestId(`row-${id}`);
    await row.waitFor({ timeout: 15_000 }); // appeared live, without a reload
    expect(await row.getByTestId('state').textContent()).toBe('running');

    await row.click();
    await page.getByTestId('detail').waitFor();
    // output produced after the page subscribed arrives live
    const run = s.call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['bash', '-c', 'for i in 1 2 3; do echo "tick $i from warden"; sleep 0.3; done; echo oops >&2'] });
    await expect.poll(() => page.getByTestId('output').textContent(), { timeout: 15_000 }).toContain('tick 1 from warden');
    await run;
    await expect.poll(() => page.getByTestId('output').textContent()).toContain('[exit 0');
    expect(await page.locator('#tab-output .stderr').first().textContent()).toBe('oops\n');
    // a usage sample reached the row (sparkline data)
    await expect.poll(async () => (await row.locator('td').nth(4).textContent())?.trim(), { timeout: 15_000 }).toMatch(/\d+(\.\d)?[KMG]/);
    await row.locator('svg.spark polyline').first().waitFor({ timeout: 15_000 }); // two samples or more: a sparkline
    await mkdir('docs/img', { recursive: true });
    await page.screenshot({ path: 'docs/img/dashboard.png' });

    // the emergency stop asks first; cancelling does nothing
    await page.getByTestId('panic').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    await page.locator('#confirm').getByRole('button', { name: 'Cancel' }).click();
    expect((await s.call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('running');

    await row.getByTestId('stop').click();
    await page.getByTestId('confirm-ok').click(); // stop asks first too
    await expect.poll(async () => row.getByTestId('state').textContent(), { timeout: 30_000 }).toBe('exited');
    const c = await new Docker().getContainer(created.body.sandbox.containerId).inspect();
    expect(c.State.Running).toBe(false);
    expect((await s.call('GET', `/api/v1/sandboxes/${id}/actions`)).body.actions.map((a: any) => a.action)).toContain('stop');
    expect(errors).toEqual([]);
    await s.call('DELETE', `/api/v1/sandboxes/${id}?force=true`);
  }, 120_000);
});
