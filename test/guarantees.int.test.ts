import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { link, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WardenError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { Warden } from '../src/sandbox/warden.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { cli } from './support/cli.js';
import { hostProcs } from './support/host.js';
import { runId, sandboxPool, tempWorkspace, testWarden } from './support/fixture.js';
import { engineOf } from './support/engine.js';
const execFileP = promisify(execFile);

/**
 * Issue 13: every guarantee attacked from inside the sandbox, as a hostile workload would. Each of
 * these failed on the code before the guard (PID 1 and exec holders as root with only the capabilities
 * they need, the workload as a non-root user with none).
 */
const warden = testWarden(`test-${runId()}-guarantees`);
const pool = sandboxPool(warden);
afterAll(() => pool.cleanup());

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

const state = async (containerId: string): Promise<string> => (await engineOf(warden).inspect(containerId))?.state ?? 'gone';
const sh = (sb: Sandbox, script: string, opts: { timeoutMs?: number } = {}) => sb.exec(['sh', '-c', script], opts);

/** Stop and SIGKILL every process the workload can see but did not start (keeper, watchers, init), and try to trace pid 1. */
const ATTACK_ALL = `me=$$; for d in /proc/[0-9]*; do p=\${d#/proc/}; [ "$p" = "$me" ] && continue; kill -STOP "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done; echo attacked`;

/** A sh fork bomb that fills the pids cap and keeps it full. */
const FORK_BOMB = 'bash -c "while :; do sleep 1000 & done" 2>/dev/null';

async function ownerProcess(kind: 'plain' | 'allowlist' | 'attack'): Promise<{ kill: () => void; ids: string[]; link: string }> {
  const child = spawn('node', ['test/support/dead-owner.mjs', runId(), kind], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WARDEN_LOG_LEVEL: 'error' } });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const out = JSON.parse(line.toString()) as { ids: string[]; link: string };
  return { kill: () => child.kill('SIGKILL'), ...out };
}

/** The owner's reaper container, if it is there. */
const reaperOf = async (link: string) => (await engineOf(warden).list({ 'warden.reaper-for': link }))[0];

/** Everything on the engine that belongs to a sandbox id: containers, networks, volumes. */
async function leftovers(id: string): Promise<string[]> {
  const cs = await engineOf(warden).list({ 'warden.id': id });
  const other = await engineOf(warden).listOther({ 'warden.id': id });
  return [...cs.map((c) => `container ${c.name} (${c.state})`), ...other.networks.map((n) => `network ${n}`), ...other.volumes.map((v) => `volume ${v}`)];
}

describe('enforcement the workload cannot reach', () => {
  it('max runtime fires although the workload SIGSTOPs and SIGKILLs every process it can see', async () => {
    const sb = await pool.create({ maxRuntime: '6s' });
    const t0 = Date.now();
    expect((await sh(sb, ATTACK_ALL)).stdout).toContain('attacked');
    await until('sandbox stopped by max runtime', async () => (await state(sb.containerId)) !== 'running', 20_000);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await sb.health()).exit?.reason).toMatch(/max ?runtime/i);
  });

  it('max runtime fires while a fork bomb holds the pids cap', async () => {
    const sb = await pool.create({ maxRuntime: '6s', resources: { pids: 48 } });
    await sb.startBackground(['sh', '-c', FORK_BOMB]);
    await until('sandbox stopped by max runtime', async () => (await state(sb.containerId)) !== 'running', 25_000, 250);
  });

  it('ptrace of pid 1 and of the exec holder is refused (different uid, no capabilities)', async () => {
    const sb = await pool.create({});
    // x86_64: ptrace = 101, PTRACE_ATTACH = 16
    const r = await sh(sb, `for p in 1 $PPID; do perl -e 'my $r = syscall(101, 16, $ARGV[0] + 0, 0, 0); print "$ARGV[0]:$r:", ($!+0), "\\n"' "$p"; done; grep -E '^(Uid|CapEff|CapPrm|NoNewPrivs)' /proc/self/status`);
    expect(r.stdout).toMatch(/^1:-1:1$/m); // EPERM
    expect(r.stdout).toMatch(/^CapEff:\s+0+$/m);
    expect(r.stdout).toMatch(/^CapPrm:\s+0+$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Uid:\s+1000\s/m);
    const init = await sh(sb, 'kill -0 1; echo "kill:$?"; grep ^Uid /proc/1/status');
    expect(init.stdout).toMatch(/kill:1/);
    expect(init.stdout).toMatch(/^Uid:\s+0\s/m);
  });

  it('the disk quota holds although the workload kills every process it can see', async () => {
    const ws = await tempWorkspace();
    try {
      const sb = await pool.create({ workspace: ws.dir, resources: { disk: '20m' } });
      await sh(sb, ATTACK_ALL);
      await sh(sb, 'dd if=/dev/zero of=/workspace/big bs=1M count=40 2>/dev/null; sleep 30', { timeoutMs: 20_000 }).catch(() => undefined);
      await until('sandbox stopped by its disk quota', async () => (await state(sb.containerId)) !== 'running', 15_000);
      expect((await sb.health()).exit?.reason).toMatch(/disk quota/);
    } finally {
      await ws.cleanup();
    }
  });

  it('the disk quota sees into a directory the workload made unreadable (chmod 000)', async () => {
    const ws = await tempWorkspace();
    try {
      const sb = await pool.create({ workspace: ws.dir, resources: { disk: '20m' } });
      await sh(sb, 'mkdir /workspace/hide && dd if=/dev/zero of=/workspace/hide/big bs=1M count=40 2>/dev/null; chmod 000 /workspace/hide; sleep 30', { timeoutMs: 20_000 }).catch(() => undefined);
      await until('sandbox stopped by its disk quota', async () => (await state(sb.containerId)) !== 'running', 15_000);
    } finally {
      await ws.cleanup();
    }
  });

  it('a workspace nested deeper than the guard can measure ends the sandbox with the reason (the guard never crashes)', async () => {
    // glibc's nftw recursed once per level: ~60,000 nested directories overflowed PID 1's stack
    const ws = await tempWorkspace();
    try {
      const sb = await pool.create({ workspace: ws.dir, resources: { disk: '1g' } });
      await sb.exec(['perl', '-e', 'chdir "/workspace" or die; for (1..4200) { mkdir "d" or die; chdir "d" or die }'], { timeoutMs: 30_000 });
      await until('sandbox stopped: cannot be measured', async () => (await state(sb.containerId)) !== 'running', 15_000);
      expect((await sb.health()).exit?.reason).toMatch(/nested deeper than 4096 directories/);
    } finally {
      await execFileP('rm', ['-rf', ws.dir]);
      await ws.cleanup();
    }
  });

  it('a workload uid 0 is refused unless the spec opts in', async () => {
    const err = await warden.create({ user: '0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WardenError);
    expect((err as WardenError).code).toBe('ROOT_REFUSED');
    expect((err as Error).message).toMatch(/allowRoot/);
    const sb = await pool.create({});
    const e2 = await sb.exec(['id', '-u'], { user: '0:0' }).catch((e: unknown) => e);
    expect((e2 as WardenError).code).toBe('ROOT_REFUSED');
  });
});

describe('exec timeouts kill everything the exec started', () => {
  it('including a child that leaves the session and wipes its environment (setsid env -i)', async () => {
    const sb = await pool.create({});
    const err = await sh(sb, '(setsid env -i sh -c "exec sleep 4747" >/dev/null 2>&1 &); exec sleep 600', { timeoutMs: 1500 }).catch((e: unknown) => e);
    expect((err as WardenError).code).toBe('EXEC_TIMEOUT');
    await until('escapee killed', async () => hostProcs('sleep 4747').length === 0, 5_000);
  });

  it('including what the command left running after it exited (the deadline still covers it)', async () => {
    const sb = await pool.create({});
    // the command returns at once; its escapee left the session, wiped its environment and ignores SIGTERM
    const r = await sh(sb, '(setsid env -i sh -c "trap \\"\\" TERM; exec sleep 4848" >/dev/null 2>&1 &); exit 0', { timeoutMs: 1500 });
    expect(r.exitCode).toBe(0);
    await until('escapee running', async () => hostProcs('sleep 4848').length === 1, 5_000, 50);
    await until('escapee killed at the deadline', async () => hostProcs('sleep 4848').length === 0, 6_000);
  });

  it('kill() of an exec reaches what it left running, whatever its session and environment', async () => {
    const sb = await pool.create({});
    const p = await sb.spawn(['sh', '-c', '(setsid env -i sh -c "exec sleep 4949" >/dev/null 2>&1 &); exit 3']);
    p.stdout.resume();
    p.stderr.resume();
    expect((await p.wait()).exitCode).toBe(3);
    await until('escapee running', async () => hostProcs('sleep 4949').length === 1, 5_000, 50); // no timeout: background work outlives the command
    expect(await p.kill('SIGKILL')).toBe(1);
    await until('escapee killed', async () => hostProcs('sleep 4949').length === 0, 5_000);
  });

  it('at the pids cap (a fork bomb), with no new exec possible', async () => {
    const sb = await pool.create({ resources: { pids: 48 } });
    const t0 = Date.now();
    const err = await sh(sb, FORK_BOMB, { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect((err as WardenError).code).toBe('EXEC_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(10_000); // before the guard: 19.4 s (the kill exec waited for a free pid)
    // the whole tree is gone: the sandbox takes commands again
    await until('pids freed', async () => (await sb.exec(['true']).then((r) => r.exitCode === 0, () => false)), 15_000, 500);
  });
});

describe('nothing left behind when the owner dies', () => {
  it('kill -9 of the owner removes its allowlist sandbox, proxy, forwarder, network and volume within 10 s', async () => {
    const owner = await ownerProcess('allowlist');
    const id = owner.ids[0]!;
    expect((await leftovers(id)).length).toBeGreaterThanOrEqual(4);
    owner.kill();
    const ms = await until('nothing left', async () => (await leftovers(id)).length === 0 && !(await reaperOf(owner.link)), 10_000, 200);
    console.log(`[dead-man] allowlist sandbox, companions and the reaper gone ${ms} ms after kill -9`);
  });

  it('a dead owner whose reaper was gone too is swept by the next Warden process (prune says what)', async () => {
    const owner = await ownerProcess('plain');
    const id = owner.ids[0]!;
    const reaper = await reaperOf(owner.link);
    expect(reaper?.state).toBe('running');
    await engineOf(warden).kill(reaper!.id, 'SIGKILL'); // as if it had been removed by hand
    await until('reaper gone', async () => !(await reaperOf(owner.link)), 10_000);
    owner.kill();
    await until('sandbox stopped by the dead-man switch', async () => (await engineOf(warden).list({ 'warden.id': id }))[0]?.state !== 'running', 10_000);
    expect((await leftovers(id)).length).toBeGreaterThan(0); // stopped, but nobody removed it
    // scoped to that owner: other test files of this run keep their stopped sandboxes
    const report = await testWarden(`test-${runId()}-sweeper`).prune({ labels: { 'warden.test-run': runId(), 'warden.owner-link': owner.link } });
    expect(report.containers.join(' ')).toContain(id);
    expect(await leftovers(id)).toEqual([]);
  });

  it('prune removes exited sandboxes with their companions and lists them (CLI too)', async () => {
    // its own label, so other test files of this run keep their stopped sandboxes
    const scope = { [TEST_RUN_LABEL]: runId(), 'warden.test-case': `prune-${runId()}` };
    const scoped = new Warden({ owner: `test-${runId()}-prune`, labels: scope, logger: createLogger('error') });
    const sb = await scoped.create({ lifetime: 'persistent', network: 'allowlist', egress: { allow: ['example.invalid'] } });
    await sb.stop({ timeoutMs: 1000 });
    const running = pool.track(await scoped.create({}));
    const r = await cli(['prune', '--json', '--label', `warden.test-case=prune-${runId()}`]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { sandboxes: string[] };
    expect(report.sandboxes).toContain(sb.id);
    expect(await leftovers(sb.id)).toEqual([]);
    expect((await running.refreshInfo()).state).toBe('running');
  });

  it('even after the workload attacked every process it can see', async () => {
    const owner = await ownerProcess('attack');
    const id = owner.ids[0]!;
    owner.kill();
    await until('nothing left', async () => (await leftovers(id)).length === 0, 10_000, 200);
    expect(hostProcs('sleep 4646')).toEqual([]);
  });
});

describe('caps with no holes', () => {
  it('io_uring is refused, core dumps are off, no setuid/setgid files', async () => {
    const sb = await pool.create({});
    const r = await sh(sb, `perl -e 'my $r = syscall(425, 8, 0); print "uring:$r:", ($!+0), "\\n"'; echo "core:$(ulimit -Hc)"; echo "suid:$(find / -xdev -perm /6000 -type f 2>/dev/null | wc -l)"`);
    expect(r.stdout).toMatch(/^uring:-1:1$/m); // EPERM, not EFAULT (allowed) or ENOSYS
    expect(r.stdout).toMatch(/^core:0$/m);
    expect(r.stdout).toMatch(/^suid:0$/m);
  });

  it('filling /tmp under a small memory cap ends in ENOSPC, not an OOM kill', async () => {
    const sb = await pool.create({ resources: { memory: '96m' } });
    const r = await sh(sb, 'dd if=/dev/zero of=/tmp/fill bs=1M count=200; echo "dd:$?"');
    expect(r.stderr).toMatch(/No space left on device/);
    expect(r.stdout).toMatch(/dd:1/);
    expect((await sb.stats()).oomKills ?? 0).toBe(0);
    expect((await sb.refreshInfo()).state).toBe('running');
  });

  it('a host workspace has a disk cap by default', async () => {
    const ws = await tempWorkspace();
    try {
      const sb = await pool.create({ workspace: ws.dir });
      const spec = JSON.parse(sb.info.labels['warden.spec']!) as { resources: { disk?: number } };
      expect(spec.resources.disk).toBeGreaterThan(0);
    } finally {
      await ws.cleanup();
    }
  });
});

describe('race-free files', () => {
  it('a directory swapped for a symlink to /etc never gets the host-side writes', async () => {
    const ws = await tempWorkspace();
    try {
      const sb = await pool.create({ workspace: ws.dir });
      const swapper = await sb.spawn(['sh', '-c', 'cd /workspace && mkdir dirv && ln -s /etc linkv && while :; do mv -T dirv d; mv -T d dirv; mv -T linkv d; mv -T d linkv; done']);
      swapper.stdout.resume();
      swapper.stderr.resume();
      for (let i = 0; i < 150; i++) await sb.writeFiles([{ path: 'd/warden-race.txt', content: 'pwned' }]).catch(() => undefined);
      await swapper.kill('SIGKILL');
      expect((await sh(sb, 'ls /etc/warden-race.txt 2>&1; true')).stdout).toMatch(/No such file/);
    } finally {
      await ws.cleanup();
    }
  });

  it('`warden cp ID:file HOSTPATH` never follows a symlink the sandbox planted at the destination', async () => {
    const ws = await tempWorkspace();
    const victimDir = await mkdtemp(join(tmpdir(), 'warden-victim-'));
    const victim = join(victimDir, 'victim.txt');
    await writeFile(victim, 'host secret');
    try {
      const sb = await pool.create({ workspace: ws.dir, lifetime: 'persistent' });
      await sh(sb, `echo overwritten > /tmp/data.txt && ln -s ${victim} /workspace/report`);
      const r = await cli(['cp', `${sb.id}:/tmp/data.txt`, join(ws.dir, 'report')]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/symbolic link/);
      expect(await readFile(victim, 'utf8')).toBe('host secret');
      expect((await lstat(join(ws.dir, 'report'))).isSymbolicLink()).toBe(true);
    } finally {
      await ws.cleanup();
      await rm(victimDir, { recursive: true, force: true });
    }
  });

  it('cp keeps hard links in both directions', async () => {
    const sb = await pool.create({ lifetime: 'persistent' });
    await sh(sb, 'mkdir /tmp/hl && echo same > /tmp/hl/a && ln /tmp/hl/a /tmp/hl/b');
    const out = await mkdtemp(join(tmpdir(), 'warden-hl-'));
    try {
      const r = await cli(['cp', `${sb.id}:/tmp/hl`, out]);
      expect(r.stderr).toBe('');
      const [a, b] = await Promise.all([stat(join(out, 'hl', 'a')), stat(join(out, 'hl', 'b'))]);
      expect(b.ino).toBe(a.ino);
      await mkdir(join(out, 'up'));
      await writeFile(join(out, 'up', 'x'), 'x');
      await link(join(out, 'up', 'x'), join(out, 'up', 'y'));
      await symlink('x', join(out, 'up', 'z'));
      expect((await cli(['cp', join(out, 'up'), `${sb.id}:/tmp/`])).code).toBe(0);
      expect((await sh(sb, 'stat -c %h /tmp/up/x /tmp/up/y')).stdout).toBe('2\n2\n');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('mounts only where they are meant', () => {
  it('a mount source that is a parent of the engine data root, or of /etc, is refused', async () => {
    for (const source of ['/var/lib', '/var', '/usr/../etc/..']) {
      const err = await warden.create({ mounts: [{ source, target: '/x' }] }).catch((e: unknown) => e);
      expect((err as WardenError).code, source).toBe('INVALID_SPEC');
      expect((err as Error).message).toMatch(/refused|not allowed/);
    }
  });
});

describe('open does not open everything', () => {
  it('two open sandboxes cannot reach each other', async () => {
    const [a, b] = await Promise.all([pool.create({ network: 'open' }), pool.create({ network: 'open' })]);
    const listener = await a.spawn(['perl', '-MIO::Socket::INET', '-e', '$s = IO::Socket::INET->new(LocalPort => 8099, Listen => 5, ReuseAddr => 1) or die; print "up\\n"; $|=1; while ($c = $s->accept) { print $c "hi\\n"; close $c }']);
    listener.stderr.resume();
    await once(listener.stdout, 'data');
    const ip = (await sh(a, 'hostname -i')).stdout.trim().split(/\s+/)[0]!;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect((await sh(a, `perl -MIO::Socket::INET -e 'my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:8099", Timeout => 2) or die "no"; print <$c>'`)).stdout).toBe('hi\n');
    const r = await sh(b, `perl -MIO::Socket::INET -e 'my $c = IO::Socket::INET->new(PeerAddr => "${ip}:8099", Timeout => 2) or die "refused\\n"; print <$c>'`);
    expect(r.stdout).not.toContain('hi');
    await listener.kill('SIGKILL');
  });
});
