import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect } from 'vitest';
import { guardExec } from '../../src/guest/argv.js';
import type { SandboxRuntime } from '../../src/runtime/sandbox-runtime.js';
import { collect, contractIt, eventually, Made, plan, run, WORKLOAD } from './support.js';
import { loadTarget } from './target.js';

const t = await loadTarget();
const rt = t.make();
const made = new Made();
const test = contractIt(t, rt);
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await made.cleanup(rt);
});

const OWNER = fileURLToPath(new URL('./owner-process.ts', import.meta.url));

/** Starts a separate Warden process that creates an ephemeral unit; resolves with it and the unit's id. */
async function owner(opts: Record<string, unknown> = {}): Promise<{ child: ChildProcess; id: string; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', OWNER, JSON.stringify(opts)], { env: { ...t.childEnv(), PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const id = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const m = /^created (\S+)$/.exec(line);
        if (m) resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`the owner process exited (${code}) before it made its unit: ${err.slice(-1500)}`)));
  });
  made.ids.push(id);
  return { child, id, lines };
}

async function logText(r: SandboxRuntime, id: string): Promise<string> {
  return (await collect(await r.logs(id, { tail: 50 }))).toString('utf8');
}

describe('guarantees (the runtime contract)', () => {
  test('a unit ends at its max runtime by itself, and says why', ['maxRuntime'], async () => {
    const u = made.add(await rt.create(plan(t, rt, { maxRuntimeS: 4 })));
    const ended = await eventually(() => rt.find({ id: u.id }), (x) => x?.state === 'stopped', 'the unit to reach its max runtime', 90_000);
    expect(ended?.exitCode).toBe(0);
    expect(await logText(rt, u.id)).toContain('warden: stopped: reached its maxRuntime of 4 s');
  });

  test('a graceful stop gives every process its SIGTERM and the unit ends once they have', [], async () => {
    const u = made.add(await rt.create(plan(t, rt)));
    await rt.execDetached(u.id, { cmd: guardExec(['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'], WORKLOAD), env: {}, user: '0:0' });
    const t0 = Date.now();
    await rt.stop(u.id, 30_000);
    expect(Date.now() - t0).toBeLessThan(30_000); // it did not need the whole grace
    expect((await rt.find({ id: u.id }))?.state).toBe('stopped');
    expect(await logText(rt, u.id)).toContain('stopped gracefully');
  });

  test('kill ends everything at once, also what ignores SIGTERM', [], async () => {
    const u = made.add(await rt.create(plan(t, rt)));
    await rt.execDetached(u.id, { cmd: guardExec(['sh', '-c', 'trap "" TERM; exec sleep 7100'], WORKLOAD), env: {}, user: '0:0' });
    const t0 = Date.now();
    await rt.kill(u.id);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect((await rt.find({ id: u.id }))?.state).toBe('stopped');
  });

  test('the workspace is capped: writing past resources.disk ends the unit', ['diskQuota'], async () => {
    const u = made.add(await rt.create(plan(t, rt, { diskBytes: 8 * 1024 ** 2 })));
    // detached: the exec's connection is not what the test waits on (under runsc it outlives a unit the guard ended)
    await rt.execDetached(u.id, { cmd: guardExec(['sh', '-c', 'head -c 20971520 /dev/zero > /workspace/big; sync; sleep 30'], WORKLOAD), env: {}, user: '0:0' });
    await eventually(() => rt.find({ id: u.id }), (x) => x?.state === 'stopped', 'the guard to end the unit over its quota', 60_000);
    expect(await logText(rt, u.id)).toMatch(/over its disk quota/);
  });

  test('an ephemeral unit ends by itself when its owner process is killed (kill -9), and the sweep then removes it', ['ownerLink'], async () => {
    const { child, id } = await owner();
    expect((await rt.find({ id }))?.state).toBe('running');
    child.kill('SIGKILL');
    const t0 = Date.now();
    // a backend with a watcher outside the unit (Docker's reaper) may remove it before it is seen stopped
    const gone = await eventually(() => rt.find({ id }), (x) => x === undefined || x.state === 'stopped', 'the unit to end without its owner', 90_000);
    console.log(`[conformance] ${t.kind}: the unit ${gone ? 'ended' : 'was removed'} ${((Date.now() - t0) / 1000).toFixed(1)} s after its owner was killed ${t.where}`);
    if (gone) {
      expect(gone.record.lifetime).toBe('ephemeral');
      const said = await logText(rt, id).catch(() => 'its owner process is gone (removed meanwhile)');
      expect(said).toContain('its owner process is gone');
      // the owner's lease runs out (nothing renews it): a sweep of the instance removes the group
      await eventually(async () => ((await rt.find({ id })) ? (await rt.prune({ instance: t.instance })).sandboxes : [id]), (r) => r.includes(id), 'a sweep to remove the abandoned unit', 90_000);
    }
    expect(await rt.find({ id })).toBeUndefined();
  });

  test('a released ephemeral unit outlives its owner (it ends at its max runtime, not for want of an owner)', ['ownerLink', 'maxRuntime'], async () => {
    const { child, id } = await owner({ release: true, maxRuntimeS: 24 });
    const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', r)));
    expect(code).toBe(0);
    expect((await rt.prune({ instance: t.instance })).sandboxes).not.toContain(id); // released: no lease to run out
    await eventually(() => rt.find({ id }), (x) => x?.state === 'stopped', 'the released unit to reach its max runtime', 120_000);
    expect(await logText(rt, id)).toContain('reached its maxRuntime of 24 s');
  }, undefined, 'releaseKeepsUnits');

  test('a published port answers on the unit\'s URL', ['preview', 'egressOpen'], async () => {
    const u = made.add(await rt.create(plan(t, rt, { network: 'open', preview: [9418] })));
    // the host port is the backend's choice (ACI: the container's own; Docker: one the engine picks)
    expect(u.ports).toEqual([expect.objectContaining({ containerPort: 9418, hostPort: expect.any(Number) })]);
    const url = new URL(u.ports[0]!.url);
    await rt.execDetached(u.id, { cmd: guardExec(['git', 'daemon', '--reuseaddr', '--listen=0.0.0.0', '--port=9418', '--base-path=/tmp', '/tmp'], WORKLOAD), env: {}, user: '0:0' });
    // git's daemon speaks its own protocol: a TCP connection that opens is the answer
    await eventually(
      () =>
        new Promise<boolean>((resolve) => {
          const s = connect({ host: url.hostname, port: Number(url.port) }, () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      (ok) => ok,
      'the published port to accept a connection',
    );
  });
});
