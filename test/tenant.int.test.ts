import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../src/policy/labels.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { cli } from './support/cli.js';
import { runId, testWarden } from './support/fixture.js';
import { startTestServer, type TestServer } from './support/server.js';

// Issue 14: a server, the CLI and the SDK act only on their own instance (warden.instance); named
// tokens see and do only what their role and label set allow; `warden ps` filters like docker's.
const instA = `tenant-a-${runId()}`;
const instB = `tenant-b-${runId()}`;
const a = testWarden(`test-${runId()}-tenant`, { instance: instA });
const b = testWarden(`test-${runId()}-tenant`, { instance: instB });
const made: Sandbox[] = [];
let srv: TestServer;
let ofA: Sandbox;
let ofB: Sandbox;

beforeAll(async () => {
  [ofA, ofB] = await Promise.all([a.create({ lifetime: 'persistent', labels: { team: 'x' } }), b.create({ lifetime: 'persistent' })]);
  made.push(ofA, ofB);
  srv = await startTestServer({ instance: instA });
}, 120_000);

afterAll(async () => {
  await srv?.close();
  await Promise.all(made.map((sb) => testWarden(undefined, { instance: sb.info.labels[LABEL.instance]! }).remove(sb.containerId, { force: true }).catch(() => undefined)));
}, 120_000);

describe('instances', () => {
  it('every object carries warden.instance; list, get, actions and panic see only their own', async () => {
    expect(ofA.info.labels[LABEL.instance]).toBe(instA);
    expect((await a.list()).map((s) => s.id)).toContain(ofA.id);
    expect((await a.list()).map((s) => s.id)).not.toContain(ofB.id);
    await expect(a.get(ofB.id)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await expect(a.stop(ofB.id)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await expect(a.kill(ofB.containerId)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    // the engine's admin view
    expect((await a.list({ allInstances: true })).map((s) => s.id)).toEqual(expect.arrayContaining([ofA.id, ofB.id]));
    // a panic of an instance with nothing of its own leaves the others alone
    const c = testWarden(undefined, { instance: `tenant-c-${runId()}` });
    expect((await c.panic()).containers).toBe(0);
    expect((await b.get(ofB.id)).info.state).toBe('running');
  });

  it("a server of instance A: B's sandboxes are 404 on every route, absent from the list, untouched by panic", async () => {
    const list = (await srv.call('GET', '/api/v1/sandboxes')).body.sandboxes.map((s: { id: string }) => s.id);
    expect(list).toContain(ofA.id);
    expect(list).not.toContain(ofB.id);
    for (const [m, p] of [['GET', ''], ['GET', '/stats'], ['POST', '/stop'], ['POST', '/kill'], ['DELETE', ''], ['GET', '/execs'], ['GET', '/actions']] as const) {
      expect((await srv.call(m, `/api/v1/sandboxes/${ofB.id}${p}`, m === 'POST' ? {} : undefined)).status, `${m} ${p}`).toBe(404);
    }
    expect((await srv.call('GET', '/api/v1/whoami')).body).toMatchObject({ role: 'admin', instance: instA });
  });
});

describe('named tokens', () => {
  let readOnly: string;
  let teamX: string;
  let operator: string;

  it('warden tokens add|ls|rm manage the store; secrets are shown once and stored hashed', async () => {
    const env = { WARDEN_HOME: srv.dataDir };
    const r = await cli(['tokens', 'add', 'viewer', '--role', 'read-only'], { env });
    expect(r.code, r.stderr).toBe(0);
    readOnly = r.stdout.trim();
    expect(readOnly).toMatch(/^wdn_/);
    const x = await cli(['tokens', 'add', 'team-x', '--label', 'team=x', '--json'], { env });
    teamX = JSON.parse(x.stdout).token;
    operator = JSON.parse((await cli(['tokens', 'add', 'ops', '--json'], { env })).stdout).token;
    const ls = await cli(['tokens', 'ls', '--json'], { env });
    const names = JSON.parse(ls.stdout).map((t: { name: string; role: string }) => `${t.name}:${t.role}`);
    expect(names).toEqual(['ops:operator', 'team-x:operator', 'viewer:read-only']);
    expect(ls.stdout).not.toContain(readOnly);
    expect((await cli(['tokens', 'add', 'ops'], { env })).code).toBe(125); // taken
    expect((await cli(['tokens', 'add', 'bad', '--role', 'root'], { env })).code).toBe(125);
  });

  it('read-only reads; operator operates but cannot panic; admin (the server token) can', async () => {
    expect((await srv.call('GET', '/api/v1/sandboxes', undefined, { token: readOnly })).status).toBe(200);
    const denied = await srv.call('POST', `/api/v1/sandboxes/${ofA.id}/exec`, { cmd: ['true'] }, { token: readOnly });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('FORBIDDEN');
    expect((await srv.call('POST', `/api/v1/sandboxes/${ofA.id}/exec`, { cmd: ['true'] }, { token: operator })).body.exitCode).toBe(0);
    expect((await srv.call('POST', '/api/v1/panic', { labels: { nothing: 'matches' } }, { token: operator })).status).toBe(403);
    expect((await srv.call('GET', '/api/v1/tokens', undefined, { token: operator })).status).toBe(403);
    expect((await srv.call('POST', '/api/v1/panic', { labels: { nothing: 'matches' } })).status).toBe(200);
  });

  it('a token bound to a label set sees only those sandboxes, and what it creates carries them', async () => {
    const other = (await srv.call('POST', '/api/v1/sandboxes', {})).body.sandbox;
    made.push(await a.get(other.id));
    const seen = (await srv.call('GET', '/api/v1/sandboxes', undefined, { token: teamX })).body.sandboxes.map((s: { id: string }) => s.id);
    expect(seen).toEqual([ofA.id]);
    expect((await srv.call('GET', `/api/v1/sandboxes/${other.id}`, undefined, { token: teamX })).status).toBe(404);
    expect((await srv.call('POST', `/api/v1/sandboxes/${other.id}/exec`, { cmd: ['true'] }, { token: teamX })).status).toBe(404);
    const mine = await srv.call('POST', '/api/v1/sandboxes', {}, { token: teamX });
    expect(mine.status).toBe(201);
    made.push(await a.get(mine.body.sandbox.id));
    expect(mine.body.sandbox.labels.team).toBe('x');
    expect((await srv.call('GET', `/api/v1/sandboxes/${mine.body.sandbox.id}`, undefined, { token: teamX })).status).toBe(200);
  });

  it('a removed token stops working at once', async () => {
    expect((await cli(['tokens', 'rm', 'viewer'], { env: { WARDEN_HOME: srv.dataDir } })).code).toBe(0);
    expect((await srv.call('GET', '/api/v1/sandboxes', undefined, { token: readOnly })).status).toBe(401);
  });
});

describe('warden ps', () => {
  it('-q, --format, --filter, -a and --all-instances', async () => {
    const env = { WARDEN_INSTANCE: instA };
    const stopped = await a.create({ lifetime: 'persistent' });
    made.push(stopped);
    await a.stop(stopped.containerId, { timeoutMs: 1000 });
    const q = await cli(['ps', '-q'], { env });
    expect(q.stdout.split('\n')).toContain(ofA.id);
    expect(q.stdout).not.toContain(stopped.id); // running only by default
    expect(q.stdout).not.toContain(ofB.id); // another instance
    expect((await cli(['ps', '-aq'], { env })).stdout.split('\n')).toContain(stopped.id);
    const f = await cli(['ps', '--format', '{{.ID}} {{.State}} {{.Instance}}', '--filter', 'label=team=x'], { env });
    expect(f.stdout).toContain(`${ofA.id} running ${instA}\n`);
    expect(f.stdout.trim().split('\n').every((l) => l.endsWith(` running ${instA}`))).toBe(true);
    expect((await cli(['ps', '-q', '--filter', 'state=exited'], { env })).stdout.trim()).toBe(stopped.id);
    const json = await cli(['ps', '--format', 'json', '--filter', 'label=team=x'], { env });
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ ID: ofA.id, State: 'running' }));
    expect((await cli(['ps', '-q', '--all-instances'], { env })).stdout.split('\n')).toEqual(expect.arrayContaining([ofA.id, ofB.id]));
    const bad = await cli(['ps', '--filter', 'color=red'], { env });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/unknown filter 'color'/);
    expect((await cli(['ps', '--format', '{{.Nope}}'], { env })).stderr).toMatch(/is not a field/);
  });
});
