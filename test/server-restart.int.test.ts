import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { runId } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

// The real `warden up` process: killed with SIGKILL mid-work, restarted on the same data dir.
const docker = new Docker();
const token = `restart-token-${runId()}-0123456789`;
const owner = `test-${runId()}-restart`;
let home: string;
const children: ChildProcess[] = [];

async function up(args: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn('node', ['bin/warden.js', 'up', '--port', '0', ...args], {
    env: { ...process.env, WARDEN_HOME: home, WARDEN_TOKEN: token, WARDEN_OWNER: owner, WARDEN_LABELS: `${TEST_RUN_LABEL}=${runId()}`, WARDEN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`warden up exited ${code}: ${err}`)));
  });
  return { child, url };
}

const call = async (url: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as any };
};

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (home) await rm(home, { recursive: true, force: true });
});

describe('server restart after kill -9', () => {
  it('re-adopts persistent sandboxes, marks vanished and stopped ones, keeps exec history, closes abandoned execs', async () => {
    home = await mkdtemp(join(tmpdir(), 'warden-restart-'));
    const a = await up();
    const keep = (await call(a.url, 'POST', '/api/v1/sandboxes', { lifetime: 'persistent', key: `keep-${runId()}` })).body.sandbox;
    const gone = (await call(a.url, 'POST', '/api/v1/sandboxes', { lifetime: 'persistent' })).body.sandbox;
    const eph = (await call(a.url, 'POST', '/api/v1/sandboxes', { lifetime: 'ephemeral' })).body.sandbox;
    expect((await call(a.url, 'POST', `/api/v1/sandboxes/${keep.id}/exec`, { cmd: ['sh', '-c', 'echo before-crash > /workspace/mark; echo ok'] })).body.stdout).toBe('ok\n');
    // a streamed exec in flight when the server dies
    const ac = new AbortController();
    const stream = await fetch(`${a.url}/api/v1/sandboxes/${keep.id}/exec/stream`, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmd: ['sleep', '30'] }) });
    await stream.body!.getReader().read();
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    ac.abort();
    // while it is down: someone removes a sandbox behind its back
    await docker.getContainer(gone.containerId).remove({ force: true });
    // the dead-man switch stops the ephemeral one
    let ephState = 'running';
    for (let i = 0; i < 50 && ephState === 'running'; i++) {
      await sleep(100);
      ephState = (await docker.getContainer(eph.containerId).inspect().catch(() => ({ State: { Status: 'gone' } }))).State.Status;
    }
    expect(ephState).not.toBe('running');

    const t0 = Date.now();
    const b = await up();
    console.log(`[restart] server answering again ${Date.now() - t0} ms after start`);
    expect((await call(b.url, 'GET', '/readyz')).body.status).toBe('ready');
    const list = (await call(b.url, 'GET', `/api/v1/sandboxes?owner=${owner}&includeVanished=true`)).body.sandboxes as any[];
    const byId = new Map(list.map((x) => [x.id, x]));
    expect(byId.get(keep.id)).toMatchObject({ state: 'running', key: `keep-${runId()}` });
    expect(byId.get(gone.id)).toMatchObject({ state: 'vanished' });
    expect(byId.get(gone.id).vanishedAt).toBeDefined();
    expect(['exited', 'vanished']).toContain(byId.get(eph.id)?.state);
    // the adopted sandbox works through the new process; its history survived
    expect((await call(b.url, 'POST', `/api/v1/sandboxes/${keep.id}/exec`, { cmd: ['cat', '/workspace/mark'] })).body.stdout).toBe('before-crash\n');
    const execs = (await call(b.url, 'GET', `/api/v1/sandboxes/${keep.id}/execs`)).body.execs as any[];
    expect(execs.find((e) => e.command[0] === 'sh')).toMatchObject({ exitCode: 0, stdoutTail: 'ok\n' });
    expect(execs.find((e) => e.command[0] === 'sleep')).toMatchObject({ killedBy: 'server-restart' });
    expect((await call(b.url, 'GET', `/api/v1/sandboxes/${keep.id}/actions`)).body.actions.map((x: any) => x.action)).toContain('create');
    // a graceful stop removes the server's ephemeral sandboxes but keeps persistent ones
    const eph2 = (await call(b.url, 'POST', '/api/v1/sandboxes', {})).body.sandbox;
    b.child.kill('SIGTERM');
    const code = await new Promise((r) => b.child.once('exit', r));
    expect(code).toBe(0);
    expect(await docker.listContainers({ all: true, filters: { label: [`warden.id=${eph2.id}`] } })).toEqual([]);
    expect((await docker.getContainer(keep.containerId).inspect()).State.Status).toBe('running');
    await docker.getContainer(keep.containerId).remove({ force: true });
  }, 120_000);
});

describe('warden up --detach', () => {
  it('returns once the server answers, which keeps running in the background until killed', async () => {
    const dhome = await mkdtemp(join(tmpdir(), 'warden-detach-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const { cli } = await import('./support/cli.js');
    const r = await cli(['up', '--detach', '--port', String(port)], { env: { WARDEN_HOME: dhome, WARDEN_TOKEN: token } });
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`started in the background \\(pid \\d+\\) on http://127\\.0\\.0\\.1:${port}`));
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      const { readFile } = await import('node:fs/promises');
      const pid = Number((await readFile(join(dhome, 'server.pid'), 'utf8')).trim());
      if (pid) process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 50; i++) {
        try {
          process.kill(pid, 0);
          await sleep(100);
        } catch {
          break;
        }
      }
      await rm(dhome, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('warden up --pool', () => {
  it('keeps a warm app sandbox that an ensure through the API gets at once; SIGTERM removes the pool and what it handed out', async () => {
    const phome = await mkdtemp(join(tmpdir(), 'warden-pool-'));
    const saved = home;
    home = phome;
    try {
      const s = await up(['--pool', 'react-vite:1']);
      let member: any;
      for (let i = 0; i < 600 && !member; i++) {
        member = (await call(s.url, 'GET', '/api/v1/sandboxes?state=running')).body.sandboxes.find((x: any) => x.owner === owner && x.name.startsWith('pool-react-vite-')); // other files have pools too
        if (!member) await sleep(100);
      }
      expect(member, 'no warm member within 60 s').toBeDefined();
      expect((await call(s.url, 'GET', '/api/v1/pools')).body.pools).toEqual([{ template: 'react-vite', size: 1, ready: 1, preparing: 0 }]);
      const key = `pooled-${runId()}`;
      const got = await call(s.url, 'POST', '/api/v1/sandboxes/ensure', { template: 'react-vite', key });
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      expect(got.body.sandbox).toMatchObject({ id: member.id, name: `k-${key}`, key });
      const url = got.body.sandbox.ports.find((p: any) => p.containerPort === 3001)?.url;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(url)).status).toBe(200); // the dev server was already up
      s.child.kill('SIGTERM');
      expect(await new Promise((r) => s.child.once('exit', r))).toBe(0);
      const left = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId()}`, `warden.owner=${owner}`, 'warden.pool=react-vite'] } });
      expect(left.map((c) => c.Names[0])).toEqual([]);
    } finally {
      home = saved;
      await rm(phome, { recursive: true, force: true });
    }
  }, 180_000);
});
