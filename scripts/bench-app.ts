/**
 * App sandboxes (issue 8): time from `warden.create({ template: 'react-vite' })` to the dev server's first
 * successful response, against a plain `vite` start on the host measured in the same run (seed 3's
 * target: "equal or better than the mock system", which ran vite as a host child process).
 *
 *   npx tsx scripts/bench-app.ts [runs=3]
 *
 * Rows: host vite (same app files, node_modules and pre-bundled deps, taken from the image),
 * cold create (sandbox + egress proxy + preview forwarder + workspace volume, then the dev server),
 * the infrastructure part alone, resume after an idle stop (ensure), and cold create with 2 CPUs instead
 * of the template's 0.5; and, with Debian's chromium, until the page is rendered (what the user sees).
 * Warm: `warden.pool({ template, size: 1 })` keeps one ready; the rows time ensure() by a new key until
 * the first response, with the pool refilled (untimed) between runs: once with the member settled for a
 * few seconds (the usual case), once made just now (a burst right after a refill, while vite still warms
 * up on its 0.5 CPU). Everything made is labelled and removed.
 */
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { extract } from 'tar-fs';
import { createLogger } from '../src/log.js';
import { Warden } from '../src/sandbox/warden.js';
import { getTemplate, withTemplate } from '../src/templates/catalog.js';
import { ensureDevServer, probeHttp } from '../src/templates/readiness.js';
import { wardenImage } from '../src/images/catalog.js';

const RUNS = Number(process.argv[2] ?? 3);
const IMAGE = wardenImage('react-vite');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tag = `bench-${randomBytes(3).toString('hex')}`;
const docker = new Docker();
const warden = new Warden({ owner: `bench@${tag}`, labels: { 'warden.bench': tag }, logger: createLogger('error') });
const t = getTemplate('react-vite');

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function untilOk(url: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const s = await probeHttp(url, 2_000);
    if (s !== undefined && s < 500) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The app as the image has it (files + node_modules), on the host. */
async function hostCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-bench-app-'));
  const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'], Labels: { 'warden.bench': tag } });
  try {
    await pipeline((await c.getArchive({ path: '/workspace/.' })) as unknown as NodeJS.ReadableStream, extract(dir, { strip: 1 }));
  } finally {
    await c.remove({ force: true });
  }
  return dir;
}

const CHROMIUM = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium';
let browser: Browser | undefined;
let renderFailures = 0;

/** From `t0` until the template's page is rendered in chromium (undefined without chromium). */
async function rendered(url: string, t0: number): Promise<number | undefined> {
  if (!browser) return undefined;
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByText('Your app will appear here').waitFor({ timeout: 60_000 });
    return performance.now() - t0;
  } catch (err) {
    // one page that never renders must not lose the whole run: it is reported and left out
    console.error(`warning: ${url} did not render: ${(err as Error).message.split('\n')[0]}`);
    renderFailures++;
    return undefined;
  } finally {
    await page.close();
  }
}

async function hostVite(dir: string): Promise<{ ready: number; page?: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, ['node_modules/vite/bin/vite.js', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: dir, stdio: 'ignore' });
  try {
    await untilOk(`http://127.0.0.1:${port}/`);
    const ready = performance.now() - t0;
    const page = await rendered(`http://127.0.0.1:${port}/`, t0);
    return { ready, ...(page !== undefined ? { page } : {}) };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const rows: Array<[string, number[]]> = [];
  const dir = await hostCopy();
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  const pages: Array<[string, number[]]> = [];
  try {
    await hostVite(dir); // warm the host's file cache once, as the image layers are warm for the engine
    const host: number[] = [];
    const hostPage: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await hostVite(dir);
      host.push(r.ready);
      if (r.page !== undefined) hostPage.push(r.page);
    }
    rows.push(['host: plain `vite` start (node ' + process.versions.node + ', no caps)', host]);
    if (hostPage.length) pages.push(['host: plain `vite` start -> page rendered', hostPage]);

    const cold: number[] = [];
    const coldPage: number[] = [];
    const resume: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const key = `${tag}-cold-${i}`;
      const t0 = performance.now();
      const sb = await warden.create({ template: 'react-vite', key });
      cold.push(performance.now() - t0);
      if ((await probeHttp(sb.url(3001))) !== 200) throw new Error('the dev server did not answer 200 after create');
      const page = await rendered(sb.url(3001), t0);
      if (page !== undefined) coldPage.push(page);
      await sb.stop({ timeoutMs: 2_000 });
      const t1 = performance.now();
      const back = await warden.ensure({ template: 'react-vite', key });
      resume.push(performance.now() - t1);
      await warden.remove(back.containerId, { force: true });
    }
    rows.push(['sandbox: create -> first response, cold (0.5 CPU, 512 MB)', cold]);
    if (coldPage.length) pages.push(['sandbox: create -> page rendered, cold', coldPage]);

    const infra: number[] = [];
    const dev: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const { template: _t, ...spec } = withTemplate({ key: `${tag}-infra-${i}` }, t);
      const t0 = performance.now();
      const sb = await warden.create(spec);
      infra.push(performance.now() - t0);
      const t1 = performance.now();
      await ensureDevServer(sb, t);
      dev.push(performance.now() - t1);
      await warden.remove(sb.containerId, { force: true });
    }
    rows.push(['  of which: containers + network + volume', infra]);
    rows.push(['  of which: dev server start -> first response', dev]);
    rows.push(['sandbox: resume after idle stop (ensure) -> first response', resume]);

    const big: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const sb = await warden.create({ template: 'react-vite', key: `${tag}-2cpu-${i}`, resources: { cpus: 2 } });
      big.push(performance.now() - t0);
      await warden.remove(sb.containerId, { force: true });
    }
    rows.push(['sandbox: create -> first response, cold, 2 CPUs', big]);

    const pool = warden.pool({ template: 'react-vite', size: 1, interval: '1h' });
    for (const settled of [true, false]) {
      const warm: number[] = [];
      const warmPage: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        await pool.fill(); // untimed: the pool is refilled between requests
        if (settled) await new Promise((r) => setTimeout(r, 8_000));
        const [member] = await pool.members();
        const t0 = performance.now();
        const sb = await warden.ensure({ template: 'react-vite', key: `${tag}-warm-${settled}-${i}` });
        if ((await probeHttp(sb.url(3001))) !== 200) throw new Error('the claimed dev server did not answer 200');
        warm.push(performance.now() - t0);
        if (sb.containerId !== member?.containerId) throw new Error('ensure did not claim the warm member');
        const page = await rendered(sb.url(3001), t0);
        if (page !== undefined) warmPage.push(page);
        await warden.remove(sb.containerId, { force: true });
      }
      const what = settled ? 'from a warm pool' : 'from a pool member made just now';
      rows.push([`sandbox: ensure -> first response, ${what}`, warm]);
      if (warmPage.length) pages.push([`sandbox: ensure -> page rendered, ${what}`, warmPage]);
    }
    await pool.stop();
  } finally {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
    for (const c of await docker.listContainers({ all: true, filters: { label: [`warden.bench=${tag}`] } })) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
    for (const v of (await docker.listVolumes({ filters: { label: [`warden.bench=${tag}`] } })).Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
  }
  const hostMedian = median(rows[0]![1]);
  const img = await docker.getImage(IMAGE).inspect();
  console.log(`\nApp sandboxes: create -> dev server's first response (${RUNS} runs each, median; same run, same machine)\n`);
  const w = Math.max(...[...rows, ...pages].map(([name]) => name.length)) + 1;
  console.log(`${'what'.padEnd(w)} ${'median'.padStart(9)} ${'runs (ms)'.padEnd(24)} vs host vite`);
  for (const [name, xs] of rows) {
    console.log(`${name.padEnd(w)} ${`${median(xs).toFixed(0)} ms`.padStart(9)} ${xs.map((x) => x.toFixed(0)).join(' / ').padEnd(24)} ${(median(xs) / hostMedian).toFixed(2)}x`);
  }
  if (pages.length) {
    const hostPage = median(pages[0]![1]);
    console.log(`\nUntil the page is rendered in chromium (what the user sees)\n`);
    for (const [name, xs] of pages) {
      console.log(`${name.padEnd(w)} ${`${median(xs).toFixed(0)} ms`.padStart(9)} ${xs.map((x) => x.toFixed(0)).join(' / ').padEnd(24)} ${(median(xs) / hostPage).toFixed(2)}x`);
    }
  }
  if (renderFailures) console.log(`\n${renderFailures} page load(s) did not render within 60 s and are left out (see the warnings above)`);
  console.log(`\nimage ${IMAGE}: ${(img.Size / 1e6).toFixed(0)} MB`);
}

await main();
