import Docker from 'dockerode';
import { connect } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { WardenError } from '../src/errors.js';
import { LABEL } from '../src/policy/labels.js';
import { IdleStopper } from '../src/sandbox/idle.js';
import { PREVIEW_NETWORK } from '../src/runtime/docker/preview.js';
import { AppContainer } from './support/app-container.js';
import { eventually, httpGet, todoApp } from './support/apps.js';
import { runId, sandboxPool, testWarden } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

const docker = new Docker();
const warden = testWarden(`test-${runId()}-app`);
const pool = sandboxPool(warden);
const apps: AppContainer[] = [];
afterAll(async () => {
  await Promise.all(apps.map((a) => a.cleanup().catch(() => undefined)));
  await pool.cleanup();
});

/** Everything of one sandbox on the engine: its containers (sandbox, proxy, forwarder) and volumes. */
async function leftovers(id: string): Promise<{ containers: string[]; volumes: string[] }> {
  const filters = { label: [`${LABEL.id}=${id}`, `${TEST_RUN_LABEL}=${runId()}`] };
  const containers = await docker.listContainers({ all: true, filters });
  const { Volumes } = await docker.listVolumes({ filters });
  return { containers: containers.map((c) => c.Names[0] ?? c.Id), volumes: (Volumes ?? []).map((v) => v.Name) };
}

describe('app sandboxes (template react-vite)', () => {
  it("runs seed 3's AppContainer flow: boilerplate, base64 edit, npm run build, read back, dev server URL, cleanup", async () => {
    const app = new AppContainer(warden, `conv-${runId()}-flow`);
    apps.push(app);
    await app.initialize([
      { path: 'src/App.tsx', content: 'export default function App() { return <h1>boilerplate</h1>; }\n' },
      { path: 'src/components/Header.tsx', content: 'export const Header = () => <header>Header</header>;\n' },
    ]);
    const url = app.getDevServerUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await httpGet(url);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root"></div>');

    // the seed's base64 upload modifying an existing file, then read back as text
    await app.uploadFiles([{ path: 'src/App.tsx', base64: Buffer.from(todoApp('Built todos')).toString('base64') }]);
    const [back] = await app.downloadFiles(['src/App.tsx']);
    expect(back?.content).toBe(todoApp('Built todos'));
    // the dev server serves the new module (what the browser's hot reload fetches) once its watcher saw it
    await eventually(async () => expect((await httpGet(`${url}/src/App.tsx`)).body).toContain('Built todos'));

    const build = await app.executeCommand('npm run build 2>&1');
    expect(build.stdout).toMatch(/built in/);
    expect(build.exitCode).toBe(0);
    const html = await app.sandbox.readText('dist/index.html');
    expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
    const ls = await app.executeCommand('ls dist/assets | wc -l; id -u; node --version');
    expect(ls.stdout).toMatch(/^[1-9]\d*\n1000\nv22\./);

    const id = app.sandbox.id;
    await app.cleanup();
    expect((await httpGet(url, 2_000)).error).toBeDefined();
    expect(await leftovers(id)).toEqual({ containers: [], volumes: [] });
  });

  it('keeps egress confined while the preview is published on 127.0.0.1 only, with seed 3 caps', async () => {
    const sb = await pool.create({ template: 'react-vite', key: `conv-${runId()}-confined` });
    const inspect = await docker.getContainer(sb.containerId).inspect();
    expect(inspect.HostConfig.Memory).toBe(512 * 1024 ** 2);
    expect(inspect.HostConfig.NanoCpus).toBe(5e8);
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
    // the sandbox itself publishes nothing and sits on its internal network only
    expect(Object.keys(inspect.NetworkSettings.Networks)).toEqual([`warden-net-${sb.id}`]);
    expect(Object.values(inspect.NetworkSettings.Ports ?? {}).filter(Boolean)).toEqual([]);
    // its forwarder publishes 3001 on loopback, from the preview network
    const [fwd] = await docker.listContainers({ filters: { label: [`${LABEL.id}=${sb.id}`, `${LABEL.role}=preview-forwarder`] } });
    expect(fwd?.Ports.filter((p) => p.PublicPort).map((p) => `${p.IP}:${p.PrivatePort}`)).toEqual(['127.0.0.1:3001']);
    expect(Object.keys(fwd?.NetworkSettings.Networks ?? {}).sort()).toEqual([PREVIEW_NETWORK, `warden-net-${sb.id}`].sort());
    const net = await docker.getNetwork(PREVIEW_NETWORK).inspect();
    expect(net.Options?.['com.docker.network.bridge.enable_icc']).toBe('false');
    expect(net.Options?.['com.docker.network.bridge.enable_ip_masquerade']).toBe('false');

    // from inside: no direct route out, the proxy refuses what the npm preset does not name
    const r = await sb.exec(['sh', '-c', `curl -s -m 3 --noproxy '*' http://192.0.2.1/ >/dev/null; echo "direct $?"; curl -s -m 10 -o /dev/null -w '%{http_code}' http://example.com/; echo; getent hosts registry.npmjs.org || echo "no dns"`], { timeoutMs: 30_000 });
    expect(r.stdout).toMatch(/^direct (7|28)\n403\nno dns\n$/);
    // and the forwarder gives the sandbox no way out either: it only connects back to the sandbox
    const fwd2 = `warden-preview-${sb.id}`;
    const via = await sb.exec(['sh', '-c', `curl -s -m 30 --noproxy '*' -H 'Host: localhost' http://${fwd2}:3001/ | grep -c 'id="root"'; curl -s -m 3 --noproxy '*' http://${fwd2}:3128/ >/dev/null; echo "other port $?"`], { timeoutMs: 60_000 });
    expect(via.stdout).toBe('1\nother port 7\n'); // its own dev server again, and nothing else listens
  });

  it("fails with TEMPLATE_NOT_READY and the server's last log lines when the dev server cannot start, leaving nothing", async () => {
    const err = await warden
      .create({ template: 'react-vite', key: `conv-${runId()}-broken`, env: { NODE_OPTIONS: '--require=/nonexistent-preload.cjs' } })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WardenError);
    const w = err as WardenError;
    expect(w.code).toBe('TEMPLATE_NOT_READY');
    expect(w.message).toMatch(/the react-vite dev server of sandbox sbx-\w+ exited before it answered\. Its last log lines:\n[\s\S]*Cannot find module '\/nonexistent-preload\.cjs'/);
    expect(await leftovers(String(w.details?.sandbox))).toEqual({ containers: [], volumes: [] });
  });

  it('stops an idle app sandbox (an open preview connection counts as activity), keeps its files, and resumes it', async () => {
    const tag = { 'test-case': `idle-${runId()}` };
    const key = `conv-${runId()}-idle`;
    const sb = pool.track(await warden.create({ template: 'react-vite', key, labels: tag }));
    await sb.writeBase64('src/App.tsx', Buffer.from(todoApp('Resumed todos')).toString('base64'));
    const url = sb.url(3001);
    const idle = new IdleStopper(warden, { idleAfter: '1m' }, createLogger('error'));
    const later = Date.now() + 5 * 60_000;

    // a browser watching (an open connection through the forwarder) keeps it alive
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await once(socket, 'connect');
    await sleep(300);
    expect(await idle.checkOnce({ labels: tag }, later)).toEqual([]);
    socket.destroy();
    await sleep(300);
    // nobody watching and no SDK call for "5 minutes": stopped
    const stopped = await idle.checkOnce({ labels: tag }, later);
    expect(stopped.map((s) => s.id)).toEqual([sb.id]);
    expect((await sb.refreshInfo()).state).toBe('exited');
    expect(() => sb.url(3001)).toThrow(`sandbox ${sb.id} is exited, so nothing is published; resume it with ensure()`);
    expect((await httpGet(url, 2_000)).error).toBeDefined();

    // the conversation comes back: same sandbox, its files, a dev server answering again
    const back = await warden.ensure({ template: 'react-vite', key, labels: tag });
    expect(back.id).toBe(sb.id);
    expect(await back.readText('src/App.tsx')).toContain('Resumed todos');
    expect((await httpGet(`${back.url(3001)}/src/App.tsx`)).body).toContain('Resumed todos');
  });

  // The one test that contacts a registry: the real registry.npmjs.org, through the sandbox's egress proxy.
  it('npm install some-package: reaches the real npm registry through the egress proxy (npm preset)', async () => {
    const sb = await pool.create({ template: 'react-vite', key: `conv-${runId()}-npm` });
    const r = await sb.exec(['bash', '-lc', 'npm install --no-audit --no-fund left-pad@1.3.0 2>&1 && node -e "console.log(require(\'left-pad\')(42, 5, 0))"'], { timeoutMs: 180_000 });
    expect(r.stdout).toMatch(/added 1 package[\s\S]*\n00042\n$/);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(await sb.readText('package.json')).dependencies['left-pad']).toBe('^1.3.0');
    const log = await sb.egressLog();
    expect(log.some((e) => e.host === 'registry.npmjs.org' && e.allowed)).toBe(true);
    expect(log.filter((e) => !e.allowed)).toEqual([]);
  });
});
