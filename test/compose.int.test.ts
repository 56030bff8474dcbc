import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runId } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import { composeClient, deploymentDir, freePort, ownBy1000, REPO, sh } from './support/compose.js';

// Warden itself in Docker (issue 7): the real images, the real compose client, the real engine.
// Each flow is its own compose project (warden-test-<run>-prod/-dev) in its own directory on its own port;
// every sandbox carries this run's label (WARDEN_LABELS), so the suite's teardown sweeps what a failure leaves.

const docker = (...args: string[]): Promise<string> => sh('docker', args);
let compose: string[];

beforeAll(async () => {
  compose = await composeClient();
  // both images, cached by Docker's layer cache; the offline base unless the caller chose another
  const t0 = Date.now();
  await sh('bash', ['scripts/docker-build.sh'], { env: { ...process.env, WARDEN_OFFLINE: process.env.WARDEN_OFFLINE ?? '1' }, timeoutMs: 1_500_000 });
  console.log(`[compose] images ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; warden-server ${(Number(await docker('image', 'inspect', '-f', '{{.Size}}', 'warden-server:latest')) / 1e6).toFixed(0)} MB`);
}, 1_600_000);

interface Deployment {
  dir: string;
  project: string;
  url: string;
  env: NodeJS.ProcessEnv;
  instance: string;
  compose: (...args: string[]) => Promise<string>;
  call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  containerId: () => Promise<string>;
  cleanup: () => Promise<void>;
}

async function deployment(mode: 'prod' | 'dev'): Promise<Deployment> {
  const d = await deploymentDir({ withSource: mode === 'dev' });
  const port = await freePort();
  // prod: every name given; dev: as the README says, no variables but the ports (and this run's label,
  // so the suite's teardown can sweep): the compose project is the directory's name, the instance the
  // compose file's default
  const project = mode === 'prod' ? `warden-test-${runId()}-${mode}` : basename(d.dir).toLowerCase();
  const instance = `warden.instance=${mode === 'prod' ? project : 'warden-dev'}`;
  const { COMPOSE_PROJECT_NAME: _c, WARDEN_INSTANCE: _i, WARDEN_LABELS: _l, WARDEN_OWNER: _o, ...base } = process.env;
  const env = {
    ...base,
    PWD: d.dir,
    WARDEN_PORT: String(port),
    WARDEN_INSPECT_PORT: String(await freePort()),
    WARDEN_LABELS: `${TEST_RUN_LABEL}=${runId()}`,
    ...(mode === 'prod' ? { COMPOSE_PROJECT_NAME: project, WARDEN_INSTANCE: project, WARDEN_OWNER: project } : {}),
  };
  const file = mode === 'prod' ? 'compose.prod.yaml' : 'compose.yaml';
  let token: string | undefined;
  const dep: Deployment = {
    dir: d.dir,
    project,
    url: `http://127.0.0.1:${port}`,
    env,
    instance,
    compose: (...args) => sh(compose[0]!, [...compose.slice(1), '-f', file, ...args], { cwd: d.dir, env }),
    call: async (method, path, body) => {
      token ??= (await readFile(join(d.dir, mode === 'prod' ? 'secrets/warden_token' : 'data/token'), 'utf8')).trim();
      const res = await fetch(`${dep.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
    },
    containerId: async () => (await dep.compose('ps', '-q', 'warden')).trim(),
    cleanup: async () => {
      await sh('bash', ['scripts/docker-stop.sh', ...(mode === 'prod' ? ['--prod'] : [])], { cwd: d.dir, env }).catch(() => undefined);
      await d.cleanup();
    },
  };
  return dep;
}

async function untilHealthy(cid: string, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if ((await docker('inspect', '-f', '{{.State.Health.Status}}', cid)).trim() === 'healthy') return Date.now() - t0;
    await sleep(250);
  }
  throw new Error(`container ${cid} not healthy within ${timeoutMs} ms`);
}

async function untilAnswers(url: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return;
    await sleep(200);
  }
  throw new Error(`${url}/healthz did not answer within ${timeoutMs} ms`);
}

const containersWith = async (label: string): Promise<string[]> => (await docker('ps', '-aq', '--filter', `label=${label}`)).split('\n').filter(Boolean);
const networksWith = async (label: string): Promise<string[]> => (await docker('network', 'ls', '-q', '--filter', `label=${label}`)).split('\n').filter(Boolean);

describe('Warden in Docker: production (compose.prod.yaml)', () => {
  let dep: Deployment;
  beforeAll(async () => {
    dep = await deployment('prod');
  }, 60_000);
  afterAll(async () => dep?.cleanup(), 120_000);

  it('starts healthy, creates sandboxes with host-mapped workspaces, keeps state across a restart, and down leaves nothing', async () => {
    const t0 = Date.now();
    await sh('bash', ['scripts/docker-start.sh', '--prod'], { cwd: dep.dir, env: dep.env });
    const cid = await dep.containerId();
    const healthyMs = await untilHealthy(cid);
    console.log(`[compose] prod: compose up -> /healthz answering ${((Date.now() - t0 - healthyMs) / 1000).toFixed(1)} s, -> healthy ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect((await fetch(`${dep.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${dep.url}/api/v1/sandboxes`)).status).toBe(401); // the token from the compose secret guards the API

    // a persistent sandbox on a workspace under /workspace (= ./workspaces on the host), and an ephemeral one
    await mkdir(join(dep.dir, 'workspaces', 'p1'));
    await ownBy1000(join(dep.dir, 'workspaces', 'p1'));
    const persistent = await dep.call('POST', '/api/v1/sandboxes', { workspace: 'p1', lifetime: 'persistent', project: 'p1', resources: { memory: '256m' } });
    expect(persistent.status, JSON.stringify(persistent.body)).toBe(201);
    const pId: string = persistent.body.sandbox.id;
    const ephemeral = await dep.call('POST', '/api/v1/sandboxes', { resources: { memory: '128m' } });
    expect(ephemeral.status, JSON.stringify(ephemeral.body)).toBe(201);
    const eId: string = ephemeral.body.sandbox.id;
    // both carry this deployment's labels (what docker-stop.sh and the suite teardown use), and so does
    // the server's reaper (it removes the server's ephemeral sandboxes if the server dies)
    const reapers = (await docker('ps', '-aq', '--filter', `label=${dep.instance}`, '--filter', 'label=warden.role=reaper')).split('\n').filter(Boolean);
    expect(reapers).toHaveLength(1);
    expect(await containersWith(dep.instance)).toHaveLength(3);

    const w = await dep.call('POST', `/api/v1/sandboxes/${pId}/exec`, { cmd: ['sh', '-c', 'echo written-in-sandbox > /workspace/out.txt && id -u'] });
    expect(w.body.exitCode, JSON.stringify(w.body)).toBe(0);
    expect(w.body.stdout.trim()).toBe('1000');
    expect(await readFile(join(dep.dir, 'workspaces', 'p1', 'out.txt'), 'utf8')).toBe('written-in-sandbox\n');
    // the engine was given the host path, not the container's /workspace/p1
    const mounts = JSON.parse(await docker('inspect', '-f', '{{json .Mounts}}', (await containersWith(`warden.id=${pId}`))[0]!)) as Array<{ Source: string; Destination: string }>;
    expect(mounts.find((m) => m.Destination === '/workspace')?.Source).toBe(join(dep.dir, 'workspaces', 'p1'));
    // API clients cannot mount anything outside /workspace (WARDEN_WORKSPACE_ROOT), e.g. Warden's own state
    const outside = await dep.call('POST', '/api/v1/sandboxes', { workspace: '/app/data' });
    expect(outside.status).toBe(400);
    expect(JSON.stringify(outside.body)).toMatch(/outside this server's workspace root/);

    // the image: non-root, tini as PID 1, no dev dependencies, no compilers
    expect((await docker('exec', cid, 'id', '-u')).trim()).toBe('1000');
    expect((await docker('image', 'inspect', '-f', '{{.Config.User}}', 'warden-server:latest')).trim()).toBe('1000:1000');
    expect((await docker('exec', cid, 'cat', '/proc/1/comm')).trim()).toBe('tini');
    const modules = (await docker('exec', cid, 'ls', '/app/node_modules')).split('\n');
    expect(modules).toContain('fastify');
    expect(modules).toContain('better-sqlite3');
    // every devDependency is absent, unless a production dependency needs it too (@types/node, by @grpc)
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const prodTree = await sh('npm', ['ls', '--omit=dev', '--all', '--parseable']).catch((err: Error) => err.message);
    const prodPaths = prodTree.split('\n');
    const devOnly = Object.keys(pkg.devDependencies).filter((d) => !prodPaths.some((l) => l.endsWith(`/node_modules/${d}`)));
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', 'tsx', 'playwright-core', '@types/dockerode']));
    const present = (await docker('exec', cid, 'sh', '-c', `cd /app/node_modules && ls -d ${devOnly.join(' ')} esbuild @esbuild @vitest 2>/dev/null || true`)).trim();
    expect(present).toBe('');
    expect(await docker('exec', cid, 'sh', '-c', 'command -v gcc g++ make cc python3 npm || true')).toBe('');
    expect(await docker('exec', cid, 'sh', '-c', 'ls /app/src 2>&1 || true')).toMatch(/No such file/);

    // restart: SIGTERM (through tini) removes the ephemeral sandbox; the persistent one and the state stay
    const dbBefore = await stat(join(dep.dir, 'data', 'warden.db'));
    const t1 = Date.now();
    await dep.compose('restart', 'warden');
    await untilAnswers(dep.url);
    console.log(`[compose] prod: restart -> answering ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    expect(await containersWith(`warden.id=${eId}`)).toEqual([]);
    const list = await dep.call('GET', '/api/v1/sandboxes?project=p1');
    expect(list.body.sandboxes.map((s: { id: string; state: string }) => [s.id, s.state])).toEqual([[pId, 'running']]);
    const dbAfter = await stat(join(dep.dir, 'data', 'warden.db'));
    expect(dbAfter.ino).toBe(dbBefore.ino);
    const again = await dep.call('POST', `/api/v1/sandboxes/${pId}/exec`, { cmd: ['cat', '/workspace/out.txt'] });
    expect(again.body.stdout).toBe('written-in-sandbox\n');

    // down (scripts/docker-stop.sh): no Warden container, no sandbox container, no network left
    await sh('bash', ['scripts/docker-stop.sh', '--prod'], { cwd: dep.dir, env: dep.env });
    expect(await containersWith(`com.docker.compose.project=${dep.project}`)).toEqual([]);
    expect(await containersWith(dep.instance)).toEqual([]);
    expect(await networksWith(`com.docker.compose.project=${dep.project}`)).toEqual([]);
    expect(await networksWith(dep.instance)).toEqual([]);
    expect(await readFile(join(dep.dir, 'workspaces', 'p1', 'out.txt'), 'utf8')).toBe('written-in-sandbox\n'); // the workspace is the user's
    expect(await readdir(join(dep.dir, 'data'))).toContain('warden.db');
  }, 300_000);
});

describe('Warden in Docker: development (compose.yaml)', () => {
  let dep: Deployment;
  beforeAll(async () => {
    dep = await deployment('dev');
  }, 60_000);
  afterAll(async () => dep?.cleanup(), 120_000);

  it('reloads the server when a source file changes, with the inspector on 9229', async () => {
    const t0 = Date.now();
    await sh('bash', ['scripts/docker-start.sh'], { cwd: dep.dir, env: dep.env });
    console.log(`[compose] dev: compose up -> answering ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(await (await fetch(`${dep.url}/healthz`)).json()).toEqual({ status: 'ok' });
    // the Node inspector of the server process (Node 22 from the image)
    const inspector = await (await fetch(`http://127.0.0.1:${dep.env.WARDEN_INSPECT_PORT}/json/version`)).json() as { Browser: string };
    expect(inspector.Browser).toMatch(/^node\.js\/v22\./);
    // a sandbox the dev server owns is removed when it reloads (SIGTERM from tsx watch)
    const eph = await dep.call('POST', '/api/v1/sandboxes', { resources: { memory: '128m' } });
    expect(eph.status, JSON.stringify(eph.body)).toBe(201);

    const file = join(dep.dir, 'src', 'server', 'build.ts');
    const src = await readFile(file, 'utf8');
    const marker = `reloaded-${runId()}`;
    expect(src).toContain("async () => ({ status: 'ok' })");
    const t1 = Date.now();
    await writeFile(file, src.replace("async () => ({ status: 'ok' })", `async () => ({ status: 'ok', marker: '${marker}' })`));
    let body: unknown;
    while (Date.now() - t1 < 60_000) {
      body = await fetch(`${dep.url}/healthz`).then((r) => r.json(), () => undefined);
      if ((body as { marker?: string } | undefined)?.marker === marker) break;
      await sleep(100);
    }
    expect(body).toEqual({ status: 'ok', marker });
    console.log(`[compose] dev: edit -> changed response ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    expect(await containersWith(`warden.id=${eph.body.sandbox.id}`)).toEqual([]);

    // the README's stop command with no variable set at all: the server and its persistent sandboxes go
    const kept = await dep.call('POST', '/api/v1/sandboxes', { lifetime: 'persistent', resources: { memory: '128m' } });
    expect(kept.status, JSON.stringify(kept.body)).toBe(201);
    expect(kept.body.sandbox.labels['warden.instance']).toBe('warden-dev');
    await sh('bash', ['scripts/docker-stop.sh'], { cwd: dep.dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } });
    expect(await containersWith(`com.docker.compose.project=${dep.project}`)).toEqual([]);
    expect(await networksWith(`com.docker.compose.project=${dep.project}`)).toEqual([]);
    expect(await containersWith(`warden.id=${kept.body.sandbox.id}`)).toEqual([]);
  }, 300_000);
});

