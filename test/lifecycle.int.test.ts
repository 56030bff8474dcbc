import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../src/policy/labels.js';
import { runId, sandboxPool, tempWorkspace, testWarden } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import { wardenImage } from '../src/images/catalog.js';

const run = promisify(execFile);
const warden = testWarden();
const pool = sandboxPool(warden);
let ws: Awaited<ReturnType<typeof tempWorkspace>>;

beforeAll(async () => {
  ws = await tempWorkspace();
});
afterAll(async () => {
  await pool.cleanup();
  await ws.cleanup();
});

describe('sandbox lifecycle', () => {
  it('creates a labelled, running sandbox and finds it by id, name and container id', async () => {
    const sb = await pool.create({ workspace: ws.dir, name: `life-${runId()}` });
    expect(sb.info.state).toBe('running');
    expect(sb.id).toMatch(/^sbx-[0-9a-f]{12}$/);
    expect(sb.info.labels).toMatchObject({ [LABEL.managed]: 'true', [LABEL.id]: sb.id, [LABEL.owner]: `test-${runId()}`, [LABEL.lifetime]: 'ephemeral', [TEST_RUN_LABEL]: runId() });
    expect(sb.info.labels[LABEL.createdAt]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(sb.info.labels[LABEL.policyHash]).toMatch(/^[0-9a-f]{16}$/);
    for (const ref of [sb.id, sb.name, `warden-${sb.name}`, sb.containerId, sb.containerId.slice(0, 12)]) {
      expect((await warden.get(ref)).containerId).toBe(sb.containerId);
    }
    const listed = await warden.list({ labels: { [TEST_RUN_LABEL]: runId() } });
    expect(listed.map((s) => s.id)).toContain(sb.id);
  });

  it('stops, restarts through ensure, refreshes with the workspace kept, and removes', async () => {
    const key = `proj-${runId()}-a`;
    const sb = pool.track(await warden.ensure({ key, workspace: ws.dir, lifetime: 'persistent' }));
    const again = await warden.ensure({ key, workspace: ws.dir, lifetime: 'persistent' });
    expect(again.containerId).toBe(sb.containerId); // running: reused

    await sb.exec(['sh', '-c', 'echo kept > /workspace/state.txt; echo lost > /home/agent/scratch']);
    await sb.stop({ timeoutMs: 2000 });
    expect((await sb.refreshInfo()).state).toBe('exited');

    const restarted = await warden.ensure({ key, workspace: ws.dir, lifetime: 'persistent' });
    expect(restarted.containerId).toBe(sb.containerId); // stopped, same policy: restarted
    expect(restarted.info.state).toBe('running');

    const oldContainer = sb.containerId;
    await sb.refresh();
    expect(sb.containerId).not.toBe(oldContainer);
    expect(sb.id).toBe(restarted.id); // same Warden id, name and key
    const r = await sb.exec(['sh', '-c', 'cat /workspace/state.txt; ls /home/agent/scratch 2>&1 || true']);
    expect(r.stdout).toContain('kept');
    expect(r.stdout).toContain('No such file'); // home is fresh after a refresh
    expect(await warden.find(oldContainer)).toBeUndefined();

    await sb.remove();
    expect(await warden.find(sb.id)).toBeUndefined();
    await sb.remove(); // twice is fine
  });

  it('recreates a stopped sandbox when ensure asks for a different policy', async () => {
    const key = `proj-${runId()}-b`;
    const sb = pool.track(await warden.ensure({ key, resources: { memory: '256m' } }));
    await sb.stop({ timeoutMs: 1000 });
    const changed = pool.track(await warden.ensure({ key, resources: { memory: '512m' } }));
    expect(changed.containerId).not.toBe(sb.containerId);
    expect(changed.id).toBe(sb.id);
    expect(changed.info.policyHash).not.toBe(sb.info.policyHash);
  });

  it('hands concurrent ensure() calls for one key the same sandbox', async () => {
    const key = `proj-${runId()}-c`;
    const all = await Promise.all([0, 1, 2, 3].map(() => warden.ensure({ key })));
    all.forEach((s) => pool.track(s));
    expect(new Set(all.map((s) => s.containerId)).size).toBe(1);
    expect(await warden.list({ key })).toHaveLength(1);
  });

  it('is re-adopted and controlled by a second process (labels, not memory)', async () => {
    const sb = await pool.create({ key: `proj-${runId()}-d`, lifetime: 'persistent' });
    const cli = (...args: string[]) => run('node', ['bin/warden.js', ...args], { env: { ...process.env, WARDEN_LOG_LEVEL: 'error' } });
    const ps = JSON.parse((await cli('ps', '--json')).stdout) as Array<Record<string, unknown>>;
    const row = ps.find((p) => p.id === sb.id);
    expect(row).toMatchObject({ id: sb.id, name: sb.name, state: 'running', image: wardenImage('sandbox'), lifetime: 'persistent' });
    expect(row).toHaveProperty('createdAt');
    expect(row).toHaveProperty('labels');
    const out = await cli('exec', sb.id, '--', 'sh', '-c', 'echo from-second-process > /workspace/p2; cat /workspace/p2');
    expect(out.stdout.trim()).toBe('from-second-process');
    await cli('stop', sb.id, '--time', '1s');
    expect((await sb.refreshInfo()).state).toBe('exited');
  });

  it('keeps env values out of labels but restores them on refresh', async () => {
    const sb = await pool.create({ env: { API_TOKEN: 'tok-123' } });
    expect(JSON.stringify(sb.info.labels)).not.toContain('tok-123');
    await sb.refresh();
    expect((await sb.exec(['sh', '-c', 'echo $API_TOKEN'])).stdout.trim()).toBe('tok-123');
  });

  it('publishes ports on 127.0.0.1 only and url() reaches the server inside', async () => {
    const sb = await pool.create({ network: 'open', ports: [8080] });
    const url = sb.url(8080);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sb.info.ports.every((p) => p.hostIp === '127.0.0.1')).toBe(true);
    const server = await sb.spawn([
      'perl', '-MIO::Socket::INET', '-e',
      'my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { my $r = <$c>; print $c "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from the sandbox\\n"; close $c }',
    ]);
    server.stdout.resume();
    server.stderr.resume();
    let body = '';
    for (let i = 0; i < 50 && !body; i++) {
      body = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.text(), () => '');
      if (!body) await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toBe('hello from the sandbox\n');
    expect(() => sb.url(9999)).toThrow(/not published/);
  });

  it('leaves the host workspace owned by the workspace owner', async () => {
    const sb = await pool.create({ workspace: ws.dir });
    await sb.exec(['sh', '-c', 'mkdir -p /workspace/made && echo x > /workspace/made/inside.txt']);
    const st = await import('node:fs/promises').then((fs) => fs.stat(`${ws.dir}/made/inside.txt`));
    expect(st.uid).toBe(1000);
    expect(await readFile(`${ws.dir}/made/inside.txt`, 'utf8')).toBe('x\n');
  });
});
