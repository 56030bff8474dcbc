import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { wardenImage } from '../src/images/catalog.js';
import { gracefulStop } from '../src/runtime/docker/graceful-stop.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import { cli } from './support/cli.js';
import { untilLogsSay } from './support/container-logs.js';
import { hostProcs } from './support/host.js';
import { runId, sandboxPool, tempWorkspace, testWarden } from './support/fixture.js';
import { engineOf } from './support/engine.js';

const warden = testWarden(`test-${runId()}-stop`);
const pool = sandboxPool(warden);
afterAll(() => pool.cleanup());

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

async function startOwner(handleSignals: boolean): Promise<{ child: ChildProcess; ids: { ephemeral: string; persistent: string } }> {
  const child = spawn('node', ['test/support/owner-child.mjs', runId(), handleSignals ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WARDEN_LOG_LEVEL: 'error' } });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, ids: JSON.parse(line.toString()) as { ephemeral: string; persistent: string } };
}

const state = async (id: string): Promise<string> => (await engineOf(warden).inspect(id))?.state ?? 'gone';

describe('stop means stop', () => {
  it('dead-man switch: kill -9 of the owner stops its ephemeral sandbox within 10 s; persistent ones survive and are re-adopted', async () => {
    const { child, ids } = await startOwner(false);
    pool.track(await warden.get(ids.persistent));
    expect(await state(ids.ephemeral)).toBe('running');
    // the escapee is alive while its owner is (it double-forks: it may exec its sleep a moment after the owner printed)
    await until('the escapee runs', async () => hostProcs('sleep 4343').length === 1, 10_000);
    child.kill('SIGKILL');
    const ms = await until('ephemeral sandbox stopped', async () => (await state(ids.ephemeral)) !== 'running', 10_000);
    console.log(`[dead-man] ephemeral sandbox stopped ${ms} ms after kill -9 of its owner`);
    expect(hostProcs('sleep 4343')).toEqual([]);
    const adopted = await warden.get(ids.persistent);
    expect(adopted.info.state).toBe('running');
    expect((await adopted.exec(['echo', 'adopted'])).stdout).toBe('adopted\n');
    await warden.remove(ids.ephemeral, { force: true });
  });

  it('SIGTERM to a Warden process removes its ephemeral sandboxes before it exits', async () => {
    const { child, ids } = await startOwner(true);
    pool.track(await warden.get(ids.persistent));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(143);
    expect(await state(ids.ephemeral)).toBe('gone'); // removed before the process exited
    expect(await state(ids.persistent)).toBe('running');
  });

  it('stop sends SIGTERM first (a cooperative process cleans up), then SIGKILLs what ignores it', async () => {
    const ws = await tempWorkspace();
    const sb = await pool.create({ workspace: ws.dir });
    const coop = await sb.spawn(['sh', '-c', 'trap "echo saved > /workspace/saved.txt; exit 0" TERM; while :; do sleep 0.123; done']);
    const stubborn = await sb.spawn(['sh', '-c', 'trap "" TERM; (setsid sh -c "trap \\"\\" TERM; exec sleep 4242" >/dev/null 2>&1 &); exec sleep 4241']);
    for (const p of [coop, stubborn]) p.stdout.resume(), p.stderr.resume();
    // both sleeps run (waited for, not slept for: under load the commands start late), and the
    // cooperative shell has its trap (it loops on sleep 0.123 only after setting it)
    await expect.poll(() => hostProcs('sleep 424').length, { timeout: 15_000, interval: 50 }).toBe(2);
    await expect.poll(() => hostProcs('sleep 0.123').length, { timeout: 15_000, interval: 20 }).toBeGreaterThan(0);
    const t0 = Date.now();
    await sb.stop({ timeoutMs: 1500 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1400); // waited the grace for the stubborn ones
    expect(took).toBeLessThan(8000);
    expect(await readFile(join(ws.dir, 'saved.txt'), 'utf8')).toBe('saved\n');
    expect((await sb.refreshInfo()).state).toBe('exited');
    expect(hostProcs('sleep 424')).toEqual([]);
    await ws.cleanup();
  });

  it('stop returns early when everything exits on SIGTERM', async () => {
    const sb = await pool.create({});
    // the command runs before the stop (a stop that lands while the engine is still starting an exec
    // ends that exec before its command exists: the engine reports 126, a known limit in ARCHITECTURE.md)
    const p = await sb.spawn(['sh', '-c', 'echo up; exec sleep 600']);
    p.stderr.resume();
    await once(p.stdout, 'data');
    p.stdout.resume();
    const t0 = Date.now();
    await sb.stop({ timeoutMs: 20_000 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await p.wait()).exitCode).toBe(143);
  });

  it('kill stops at once; remove --force leaves nothing, even execs started as root', async () => {
    const sb = await pool.create({ allowRoot: true });
    const a = await sb.spawn(['sh', '-c', 'exec sleep 4251'], { user: '0:0' });
    const b = await sb.spawn(['sh', '-c', '(setsid sleep 4252 >/dev/null 2>&1 &)']);
    for (const p of [a, b]) p.stdout.resume(), p.stderr.resume();
    await new Promise((r) => setTimeout(r, 300));
    expect(hostProcs('sleep 425')).toHaveLength(2);
    await sb.kill();
    expect((await sb.refreshInfo()).state).toBe('exited');
    expect(hostProcs('sleep 425')).toEqual([]);
    await sb.remove({ force: true });
    expect(await warden.find(sb.id)).toBeUndefined();
  });

  it('maxRuntime stops the sandbox from inside, with no Warden timer', async () => {
    const sb = await pool.create({ lifetime: 'persistent', maxRuntime: '2s' });
    const p = await sb.spawn(['sleep', '4261']);
    p.stdout.resume();
    p.stderr.resume();
    const ms = await until('sandbox stopped by maxRuntime', async () => (await state(sb.containerId)) !== 'running', 8000);
    expect(ms).toBeGreaterThan(1000);
    expect(hostProcs('sleep 4261')).toEqual([]);
  });

  it('a signal other than SIGKILL reaches every workload process but not the keeper', async () => {
    const sb = await pool.create({});
    const p = await sb.spawn(['sh', '-c', 'trap "echo usr1; exit 3" USR1; while :; do sleep 0.1; done']);
    p.stderr.resume();
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 200));
    await sb.kill('SIGUSR1');
    expect((await p.wait()).exitCode).toBe(3);
    expect(out).toBe('usr1\n');
    expect((await sb.refreshInfo()).state).toBe('running');
  });
});

describe('emergency stop', () => {
  it('warden panic removes 20 sandboxes at once and reports it', async () => {
    const w = testWarden(`test-${runId()}-panic`);
    const made = await Promise.all(Array.from({ length: 20 }, () => w.create({ lifetime: 'persistent' }).then((sb) => sb.containerId)));
    // scoped to this test's owner: the real one takes everything on the engine, other tests' sandboxes included
    const r = await cli(['panic', '--json', '--label', `warden.owner=test-${runId()}-panic`], { env: { WARDEN_LOG_LEVEL: 'silent' } });
    const report = JSON.parse(r.stdout) as { containers: number; left: number; durationMs: number };
    console.log(`[panic] removed ${report.containers} sandboxes in ${report.durationMs} ms`);
    expect(r.code).toBe(0);
    expect(report).toMatchObject({ containers: 20, left: 0 });
    for (const id of made) expect(await state(id)).toBe('gone');
  });

  it('scripts/emergency-stop.sh does the same with bash and the docker CLI only', async () => {
    const w = testWarden(`test-${runId()}-estop`);
    const made = await Promise.all(Array.from({ length: 5 }, () => w.create({ lifetime: 'persistent' }).then((sb) => sb.containerId)));
    const out = execFileSync('bash', ['scripts/emergency-stop.sh', '--label', `warden.owner=test-${runId()}-estop`], { encoding: 'utf8', env: { ...process.env, PATH: `/usr/bin:/bin:/usr/sbin:/sbin` } });
    expect(out).toMatch(/^emergency-stop: removed 5 containers, 0 networks, 0 volumes in \d+ ms; 0 left$/m);
    for (const id of made) expect(await state(id)).toBe('gone');
  });
});

describe('a SIGTERM that PID 1 drops', () => {
  it('is sent again until PID 1 acts on it: a stop right after a start never waits out the grace (found by the API fuzzer)', async () => {
    // A PID 1 drops every signal it has no handler for. Right after a start the engine may answer before
    // the guard has its signal mask in place; here a shell as PID 1 stands for that moment: it installs
    // its TERM trap only when the test says so, after the stop's first SIGTERM is known to be lost.
    // The stop begins once the shell says it runs: before that, PID 1 can still be the engine's `runc
    // init` (a Go program; start answers before it has exec'd the entrypoint), which a SIGTERM ends at
    // once with exit code 2 (Go's runtime exits 2 when the re-raised signal is dropped): a stop that
    // works, but not the dropped signal this test is about (seen once in a loaded full run).
    const docker = new Docker();
    const c = await docker.createContainer({
      Image: wardenImage('sandbox'),
      Entrypoint: ['/bin/sh', '-c', 'echo shell-is-pid-1; while [ ! -e /tmp/go ]; do sleep 0.05; done; trap "exit 0" TERM; while :; do sleep 0.05; done'],
      Labels: { [TEST_RUN_LABEL]: runId() },
      HostConfig: { AutoRemove: false },
    });
    try {
      await c.start();
      await untilLogsSay(c, 'shell-is-pid-1', 'the stand-in PID 1', 30_000);
      const kills: string[] = [];
      let firstKill!: () => void;
      const first = new Promise<void>((resolve) => (firstKill = resolve));
      const spy = {
        getContainer: (id: string) => {
          const real = docker.getContainer(id);
          return {
            wait: real.wait.bind(real),
            kill: async (o: { signal: string }) => {
              const r: unknown = await real.kill(o);
              kills.push(o.signal);
              firstKill();
              return r;
            },
          };
        },
      } as unknown as Docker;
      const stopping = gracefulStop(spy, c.id, 120_000);
      await first; // the first SIGTERM reached a PID 1 with no handler: dropped
      expect((await c.inspect()).State.Running).toBe(true);
      const e = await c.exec({ Cmd: ['touch', '/tmp/go'], User: '0:0' });
      await e.start({ hijack: false });
      await stopping;
      const st = (await c.inspect()).State;
      const said = (await c.logs({ stdout: true, stderr: true })).toString('latin1');
      expect(st.ExitCode, `kills: ${kills.join(' ')}; PID 1 said: ${said}`).toBe(0); // the trap ran: a SIGTERM sent again, not the SIGKILL at the grace's end
      expect(kills.filter((k) => k === 'SIGTERM').length).toBeGreaterThan(1);
      expect(kills).not.toContain('SIGKILL');
    } finally {
      await c.remove({ force: true });
    }
  }, 60_000);
});

describe('leaked runtime shims (a stand-in process named like a leaked containerd shim)', () => {
  it('kills the shim and its children of a container the engine no longer has, and spares live ones', async () => {
    const live = await pool.create({});
    const gone = 'f'.repeat(56) + runId().replace(/[^0-9a-f]/g, '0').padEnd(8, '0').slice(0, 8);
    const fake = (id: string) =>
      spawn('bash', ['-c', `exec -a "containerd-shim-runc-v2 -namespace moby -id ${id} -address /run/fake.sock" bash -c "sleep 4701 & wait"`], { stdio: 'ignore', detached: true });
    const orphan = fake(gone);
    const alive = fake(live.containerId);
    try {
      // both stand-ins run (waited for, not slept for: under load they start late)
      await expect.poll(() => hostProcs('sleep 4701').length, { timeout: 15_000, interval: 50 }).toBe(2);
      const n = await engineOf(warden).reapOrphans([gone, live.containerId]);
      expect(n).toBe(1);
      if (orphan.exitCode === null && orphan.signalCode === null) await once(orphan, 'exit');
      expect(orphan.signalCode).toBe('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      expect(hostProcs('sleep 4701')).toHaveLength(1); // the orphan's child died with it; the live one's did not
      expect(alive.exitCode).toBeNull();
    } finally {
      // whatever happened, no stand-in survives to confuse a later run
      for (const p of [orphan, alive]) p.kill('SIGKILL');
      try {
        execFileSync('pkill', ['-9', '-f', 'sleep 4701']);
      } catch {
        /* none left */
      }
    }
  });
});
