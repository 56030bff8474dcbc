import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { hostProcs } from '../support/host.js';
import { cli } from '../support/cli.js';
import { runId, sandboxPool, tempWorkspace, testWarden } from '../support/fixture.js';

const warden = testWarden(`test-${runId()}-faults`);
const pool = sandboxPool(warden);
afterAll(() => pool.cleanup());

async function engineUp(timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await new Docker().ping().then(() => true, () => false)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function restartDockerd(): Promise<void> {
  spawn('pkill', ['-x', 'dockerd'], { stdio: 'ignore' });
  const t0 = Date.now();
  while (Date.now() - t0 < 30_000 && (await new Docker().ping().then(() => true, () => false))) await new Promise((r) => setTimeout(r, 200));
  // wait for the old daemon to be gone, then start a new one the way scripts/lib/ensure-engine.sh does
  while (Date.now() - t0 < 60_000 && (await import('node:child_process')).execFileSync('sh', ['-c', 'pgrep -x dockerd || true'], { encoding: 'utf8' }).trim()) {
    await new Promise((r) => setTimeout(r, 200));
  }
  spawn('sh', ['-c', 'nohup dockerd >>/var/log/warden-dockerd.log 2>&1 &'], { stdio: 'ignore', detached: true }).unref();
  expect(await engineUp(60_000)).toBe(true);
}

describe('engine faults', () => {
  it('dockerd restarted while sandboxes run: nothing keeps running, Warden reconnects, its view matches the engine, ensure brings the project back', async () => {
    const ws = await tempWorkspace();
    const key = `faults-${runId()}`;
    const persistent = pool.track(await warden.ensure({ key, workspace: ws.dir, lifetime: 'persistent' }));
    const ephemeral = await pool.create({});
    for (const [sb, n] of [[persistent, 4601], [ephemeral, 4602]] as const) {
      const p = await sb.spawn(['sh', '-c', `(setsid sleep ${n} >/dev/null 2>&1 &); echo x > /workspace/before-${n}`]);
      p.stdout.resume();
      p.stderr.resume();
      await p.wait();
    }
    expect(hostProcs('sleep 460')).toHaveLength(2);

    await restartDockerd();

    expect(hostProcs('sleep 460')).toEqual([]); // no orphan survived the engine going away
    const listed = await warden.list({ owner: `test-${runId()}-faults` });
    const engineView = await new Docker().listContainers({ all: true, filters: { label: [`warden.owner=test-${runId()}-faults`] } });
    expect(listed.map((s) => `${s.containerId}:${s.state}`).sort()).toEqual(engineView.map((c) => `${c.Id}:${c.State}`).sort());
    expect(listed.every((s) => s.state !== 'running')).toBe(true);

    const back = await warden.ensure({ key, workspace: ws.dir, lifetime: 'persistent' });
    expect(back.containerId).toBe(persistent.containerId); // restarted, not recreated
    expect((await back.exec(['cat', '/workspace/before-4601'])).stdout).toBe('x\n'); // nothing lost
    const ps = JSON.parse((await cli(['ps', '--json', '--key', key])).stdout) as Array<{ state: string }>;
    expect(ps.map((s) => s.state)).toEqual(['running']);
    await ws.cleanup();
  });
});
