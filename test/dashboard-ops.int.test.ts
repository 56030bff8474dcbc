import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runId } from './support/fixture.js';
import { startTestServer, type TestServer } from './support/server.js';
import { dashboardStreams, launchChromium, steadyPage } from './support/browser.js';

// The operator's dashboard in a real headless Chromium (Debian's), against a real server and engine:
// terminal (xterm.js over the WebSocket terminal route), file browser, overview, filters, deep links,
// confirmations, stale figures, scrolling, the unreachable-server banner, agent runs.
let s: TestServer;
let browser: Browser;
const ids: string[] = [];

beforeAll(async () => {
  s = await startTestServer({ owner: `test-${runId()}-ops`, sampleIntervalMs: 1000 });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  for (const id of ids) await s.call('DELETE', `/api/v1/sandboxes/${id}?force=true`).catch(() => undefined);
  await s?.close();
});

async function create(body: Record<string, unknown>): Promise<string> {
  const r = await s.call('POST', '/api/v1/sandboxes', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const id = r.body.sandbox.id as string;
  ids.push(id);
  return id;
}

async function login(page: Page, hash = ''): Promise<void> {
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.log('[console]', m.text()); });
  await page.goto(`${s.url}/${hash}`);
  await page.getByTestId('token').fill(s.token);
  await page.getByTestId('login').click();
  await page.locator('#app').waitFor({ state: 'visible' });
}

/** The text xterm.js shows (its DOM renderer's rows). */
const screen = (page: Page): Promise<string> => page.locator('#term .xterm-rows').innerText();

describe('dashboard operator views', () => {
  it('terminal tab: a shell in the sandbox, typed into, output shown; survives leaving the tab', async () => {
    const id = await create({ project: 'ops-a', resources: { memory: '256m' } });
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await login(page, `#/sandboxes/${id}/terminal`); // deep link straight to the tab
    await page.locator('#term .xterm-rows').waitFor();
    await expect.poll(() => page.getByTestId('term-status').textContent(), { timeout: 20_000 }).toMatch(/session [0-9a-f]{16}/);
    await page.locator('#term').click();
    await page.keyboard.type('echo "hello from $(whoami) at $((6*7))"');
    await page.keyboard.press('Enter');
    await expect.poll(() => screen(page), { timeout: 20_000 }).toContain('hello from agent at 42');
    await page.keyboard.type('cd /workspace && printf "made in the terminal\\n" > term.txt && ls');
    await page.keyboard.press('Enter');
    await expect.poll(() => screen(page), { timeout: 20_000 }).toContain('term.txt');
    await mkdir('docs/img', { recursive: true });
    await page.getByTestId('detail').screenshot({ path: 'docs/img/dashboard-terminal.png' });
    const ptyId = await page.locator('#term').getAttribute('data-pty-id');

    // leave the tab and come back: the same session, its recent output replayed
    await page.getByTestId('tab-overview').click();
    await page.getByTestId('tab-terminal').click();
    await expect.poll(() => page.locator('#term').getAttribute('data-pty-id'), { timeout: 20_000 }).toBe(ptyId);
    await expect.poll(() => screen(page), { timeout: 20_000 }).toContain('hello from agent at 42');
    // audited like any exec
    await expect.poll(async () => (await s.call('GET', `/api/v1/sandboxes/${id}/execs`)).body.execs.some((e: { mode: string }) => e.mode === 'pty')).toBe(true);
    expect(errors).toEqual([]);
  }, 120_000);

  it('files tab: lists /workspace, uploads a file that then appears, downloads one', async () => {
    const id = await create({ project: 'ops-b' });
    await s.call('PUT', `/api/v1/sandboxes/${id}/files`, { files: [{ path: 'src/app.js', content: 'console.log(1)\n' }, { path: 'README.md', content: '# hi\n' }] });
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    await login(page, `#/sandboxes/${id}/files`);
    await page.getByTestId('file-src').waitFor({ timeout: 20_000 });
    await page.getByTestId('file-README.md').waitFor();
    const local = join(tmpdir(), `upload-${runId()}.txt`);
    await writeFile(local, 'uploaded through the dashboard\n');
    await page.getByTestId('files-upload').setInputFiles(local);
    await page.getByTestId(`file-upload-${runId()}.txt`).waitFor({ timeout: 20_000 });
    expect((await s.call('GET', `/api/v1/sandboxes/${id}/files?path=${encodeURIComponent(`upload-${runId()}.txt`)}`)).body.content).toBe('uploaded through the dashboard\n');
    // into a sub-directory
    await page.getByTestId('file-src').getByRole('link').click();
    await page.getByTestId('file-app.js').waitFor();
    expect(await page.getByTestId('files-path').innerText()).toMatch(/workspace\s*\/\s*src/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('file-app.js').getByRole('button', { name: 'Download' }).click()]);
    expect(await readFile((await download.path())!, 'utf8')).toBe('console.log(1)\n');
  }, 120_000);

  it('overview shows spec, limits, mounts, policy and the preview link; filters and search narrow the list', async () => {
    const a = await create({ project: 'alpha', labels: { team: 'red' }, resources: { memory: '256m', cpus: 0.5 }, network: 'open', ports: [8080], maxRuntime: '1h' });
    const b = await create({ project: 'beta', labels: { team: 'blue' } });
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 900 } });
    await login(page, `#/sandboxes/${a}`);
    await page.getByTestId('spec').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('limits').innerText()).toMatch(/memory 256M · 0\.5 CPUs/);
    expect(await page.getByTestId('network').innerText()).toBe('open');
    expect(await page.getByTestId('mounts').innerText()).toMatch(/\/workspace/);
    expect(await page.getByTestId('preview-link').getAttribute('href')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await page.getByTestId('spec').innerText()).toMatch(/Max runtime\s+3600 s/);

    await page.getByTestId('filter-project').selectOption('beta');
    await expect.poll(() => page.getByTestId(`row-${a}`).count()).toBe(0);
    expect(await page.getByTestId(`row-${b}`).count()).toBe(1);
    await page.getByTestId('filter-project').selectOption('');
    await page.getByTestId('filter-label').fill('team=red');
    await expect.poll(() => page.getByTestId(`row-${b}`).count()).toBe(0);
    expect(await page.getByTestId(`row-${a}`).count()).toBe(1);
    await page.getByTestId('filter-label').fill('');
    await page.getByTestId('filter-search').fill(b.slice(4, 10));
    await expect.poll(() => page.getByTestId(`row-${a}`).count()).toBe(0);
    await page.getByTestId('filter-search').fill('');
    await page.getByTestId('filter-state').selectOption('exited');
    await expect.poll(() => page.getByTestId(`row-${a}`).count()).toBe(0);
  }, 120_000);

  it('stop asks first (cancel keeps it running); after a stop its figures are cleared; the detail is scrolled into sight', async () => {
    const made: string[] = [];
    for (let i = 0; i < 6; i++) made.push(await create({ project: 'ops-many' }));
    const id = made[0]!;
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 600 } });
    await login(page);
    const row = page.getByTestId(`row-${id}`);
    await row.waitFor({ timeout: 20_000 });
    // a sample arrives: the memory figure is shown
    await expect.poll(async () => (await row.getByTestId('mem').innerText()).trim(), { timeout: 20_000 }).toMatch(/\d+[KMG]/);
    await row.getByTestId('stop').click();
    await page.getByTestId('confirm-action').waitFor({ state: 'visible' });
    await page.getByTestId('confirm-cancel').click();
    expect((await s.call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('running');
    await row.getByTestId('stop').click();
    await page.getByTestId('confirm-ok').click();
    await expect.poll(() => row.getByTestId('state').textContent(), { timeout: 30_000 }).toBe('exited');
    expect((await row.getByTestId('mem').innerText()).trim()).toBe('–');
    expect((await row.getByTestId('cpu').innerText()).trim()).toBe('–');

    // selecting the last row brings the detail (below the list) into the viewport
    await page.getByTestId(`row-${made[5]}`).locator('a.name').click();
    await page.getByTestId('detail').waitFor();
    await expect.poll(() => page.getByTestId('detail').evaluate((el) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.top < (globalThis as unknown as { innerHeight: number }).innerHeight; })).toBe(true);
    expect(new URL(page.url()).hash).toBe(`#/sandboxes/${made[5]}`);
  }, 180_000);

  it('agent runs: the list, and one run with its events (deep-linked)', async () => {
    const repo = s.server.ctx.store.agentRuns;
    const runIdValue = `run-${randomBytes(6).toString('hex')}`;
    // the server's recorder, written as a finished run would write it
    await repo.recordStart({ runId: runIdValue, agent: 'claude', sandboxId: 'sbx-000000000000', prompt: 'add a test for the parser', flags: ['--dangerously-skip-permissions'], auth: 'keyless', startedAt: new Date().toISOString() });
    await repo.recordEvent({ runId: runIdValue, at: new Date().toISOString(), kind: 'tool_call', summary: 'Write {"file_path":"/workspace/parser.test.ts"}' });
    await repo.recordEnd({ runId: runIdValue, endedAt: new Date().toISOString(), status: 'succeeded', exitCode: 0, durationMs: 4200, toolCalls: { Write: 1 }, filesChanged: ' parser.test.ts | 12 ++++' });
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 900 } });
    await login(page, `#/agent-runs/${runIdValue}`);
    await page.getByTestId(`run-${runIdValue}`).waitFor({ timeout: 20_000 });
    await page.getByTestId('run-events').waitFor();
    expect(await page.getByTestId('run-events').innerText()).toMatch(/tool_call\s+Write .*parser\.test\.ts/);
    expect(await page.getByTestId('run-detail').innerText()).toMatch(/add a test for the parser[\s\S]*succeeded[\s\S]*parser\.test\.ts \| 12/);
  }, 60_000);

  it('asks a read once more when the browser failed it without an answer (Chrome does so whenever the host gets a new network): no banner, the list is there', async () => {
    const id = await create({ project: 'ops-retry' });
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 700 } });
    await login(page);
    // whether the banner ever shows, from the page's first script on
    await page.addInitScript(() => {
      // (the page's DOM, typed here: the tests compile without the DOM library)
      const g = globalThis as unknown as {
        offlineShown?: boolean;
        document: { getElementById(id: string): { hidden: boolean } | null };
        MutationObserver: new (cb: () => void) => { observe(target: unknown, opts: object): void };
      };
      new g.MutationObserver(() => {
        if (g.document.getElementById('offline')?.hidden === false) g.offlineShown = true;
      }).observe(g.document, { subtree: true, attributes: true, attributeFilter: ['hidden'] });
    });
    // the next read of the list and the next liveness check each fail once, as Chrome fails requests in
    // flight with ERR_NETWORK_CHANGED (the closest error Playwright can give is 'failed')
    const failOnce = (pattern: RegExp): { tries: () => number } => {
      let n = 0;
      void page.route(pattern, (route) => (n++ === 0 ? route.abort('failed') : route.fallback()));
      return { tries: () => n };
    };
    const list = failOnce(/\/api\/v1\/sandboxes$/);
    const health = failOnce(/\/healthz$/);
    await page.reload(); // the token is kept for the tab: the dashboard reads the list at once
    await page.getByTestId(`row-${id}`).waitFor({ timeout: 20_000 });
    await expect.poll(() => health.tries(), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect(list.tries()).toBeGreaterThanOrEqual(2);
    expect(await page.evaluate(() => (globalThis as unknown as { offlineShown?: boolean }).offlineShown ?? false)).toBe(false);
  }, 60_000);

  it('a banner says when the server does not answer, and goes away when it is back', async () => {
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1280, height: 700 } });
    await login(page);
    expect(await page.getByTestId('offline').isVisible()).toBe(false);
    // the browser loses the server (as when it stops): every API call fails to connect
    await page.route(/\/(healthz|api\/v1\/)/, (route) => route.abort('connectionrefused'));
    await expect.poll(() => page.getByTestId('offline').isVisible(), { timeout: 20_000 }).toBe(true);
    await page.unroute(/\/(healthz|api\/v1\/)/);
    await expect.poll(() => page.getByTestId('offline').isVisible(), { timeout: 20_000 }).toBe(false);
  }, 60_000);
});
