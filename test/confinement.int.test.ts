import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { sandboxPool, tempWorkspace, testWarden } from './support/fixture.js';

const warden = testWarden();
const pool = sandboxPool(warden);
let sb: Sandbox;
let ws: Awaited<ReturnType<typeof tempWorkspace>>;
let extra: string;

const sh = async (script: string, user?: string): Promise<{ exitCode: number; stdout: string; stderr: string }> =>
  sb.exec(['sh', '-c', script], user ? { user } : {});

beforeAll(async () => {
  ws = await tempWorkspace();
  extra = await mkdtemp(join(tmpdir(), 'warden-extra-'));
  await writeFile(join(extra, 'data.txt'), 'read me', { mode: 0o644 });
  await chmod(extra, 0o755);
  sb = await pool.create({ workspace: ws.dir, mounts: [{ source: extra, target: '/data' }], resources: { memory: '300m', cpus: 0.5, pids: 100, tmpSize: '16m' } });
});
afterAll(async () => {
  await pool.cleanup();
  await ws.cleanup();
  await rm(extra, { recursive: true, force: true });
});

describe('confinement, checked from inside the sandbox', () => {
  it('runs as a non-root user with no capabilities, no-new-privileges and seccomp', async () => {
    const status = (await sh('cat /proc/self/status')).stdout;
    expect(status).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(status).toMatch(/^CapPrm:\s+0000000000000000$/m);
    // the bounding set holds only the guard's capabilities (DAC_READ_SEARCH, KILL, SETGID, SETUID); the workload has none of them
    expect(status).toMatch(/^CapBnd:\s+00000000000000e4$/m);
    expect(status).toMatch(/^CapInh:\s+0000000000000000$/m);
    expect(status).toMatch(/^CapAmb:\s+0000000000000000$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect((await sh('id -u')).stdout.trim()).not.toBe('0');
  });

  it('an exec as root is refused without allowRoot; with it, root still cannot write the root filesystem', async () => {
    await expect(sh('id -u', '0:0')).rejects.toMatchObject({ code: 'ROOT_REFUSED' });
    const rootOk = await pool.create({ allowRoot: true });
    const status = (await rootOk.exec(['cat', '/proc/self/status'], { user: '0:0' })).stdout;
    expect(status).toMatch(/^CapEff:\s+00000000000000e4$/m); // the guard's, as documented for allowRoot
    const r = await rootOk.exec(['sh', '-c', 'touch /etc/owned'], { user: '0:0' });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it('has a read-only root, writable workspace, /tmp and home', async () => {
    for (const p of ['/etc/x', '/usr/local/bin/x', '/var/tmp/x', '/x']) {
      expect((await sh(`echo x > ${p}`)).stderr).toMatch(/Read-only file system/);
    }
    expect((await sh('echo ok > /workspace/w && echo ok > /tmp/t && echo ok > $HOME/h && echo done')).stdout).toBe('done\n');
  });

  it('mounts extra folders read-only by default and nothing else of the host', async () => {
    expect((await sh('cat /data/data.txt')).stdout).toBe('read me');
    expect((await sh('echo x > /data/new')).stderr).toMatch(/Read-only file system/);
    const mounts = (await sh('cat /proc/mounts')).stdout;
    const binds = mounts.split('\n').filter((l) => / (ext4|xfs|btrfs) /.test(l)).map((l) => l.split(' ')[1]);
    expect(binds.sort(), mounts).toEqual(['/.warden', '/data', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/workspace']);
    expect((await sh('ls /var/run/docker.sock /run/docker.sock 2>&1; true')).stdout).toMatch(/No such file/);
    expect((await sh(`ls ${ws.dir} 2>&1; true`)).stdout).toMatch(/No such file/); // host paths are not there
  });

  it('has no network but loopback', async () => {
    expect((await sh('ls /sys/class/net')).stdout.trim()).toBe('lo');
    // No route at all (checked without sending traffic anywhere): only the header line of the route table.
    expect((await sh('cat /proc/net/route')).stdout.trim().split('\n')).toHaveLength(1);
    expect((await sh('cat /etc/resolv.conf; getent hosts example.com || echo unresolved')).stdout).toMatch(/unresolved/);
  });

  it("has Warden's guard as PID 1 (root, out of the workload's reach), which reaps zombies", async () => {
    expect((await sh('cat /proc/1/comm')).stdout.trim()).toBe('warden-guard');
    expect((await sh('grep ^Uid /proc/1/status')).stdout).toMatch(/^Uid:\s+0\s/);
    await sh('(sleep 0.1 &) ; sh -c "sleep 0.1 & exec true"');
    await new Promise((r) => setTimeout(r, 500));
    expect((await sh("ps -eo stat= | grep -c '^Z' || true")).stdout.trim()).toBe('0');
  });

  it('enforces memory (no swap), CPU quota and pids caps from the cgroup', async () => {
    const c = await sh('cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max');
    const [mem, memsw, quota, period, pids] = c.stdout.trim().split('\n');
    expect(Number(mem)).toBe(300 * 1024 * 1024);
    if (memsw) expect(Number(memsw)).toBe(300 * 1024 * 1024);
    expect(Number(quota) / Number(period)).toBe(0.5);
    expect(pids).toBe('100');
  });

  it('a fork bomb hits the pids cap and the sandbox keeps answering', async () => {
    const r = await sb.exec(['bash', '-c', 'for i in $(seq 1 300); do sleep 5 & done 2>&1 | tail -1; echo "made $(jobs -p | wc -l)"'], { timeoutMs: 30_000 });
    expect(r.stdout + r.stderr).toMatch(/fork: (retry: )?Resource temporarily unavailable|made ([0-9]|[1-9][0-9])$/m);
    expect(Number(/made (\d+)/.exec(r.stdout)?.[1] ?? 0)).toBeLessThan(100);
    await sh('pkill -f "sleep 5" || true');
    expect((await sh('echo alive')).stdout).toBe('alive\n');
  });

  it('caps /tmp at its tmpfs size (ENOSPC, the host disk untouched)', async () => {
    const r = await sh('dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; rm -f /tmp/fill');
    expect(r.stdout).toMatch(/No space left on device/);
  });

  it('cannot gain privileges through setuid binaries', async () => {
    const r = await sh('su -c id root </dev/null 2>&1; true');
    expect(r.stdout).not.toMatch(/uid=0/);
  });
});

describe('policies no spec can loosen', () => {
  it('refuses to mount the engine socket or host system folders', async () => {
    await expect(warden.create({ mounts: [{ source: '/var/run/docker.sock', target: '/sock' }] })).rejects.toThrow(/engine socket|does not exist/);
    await expect(warden.create({ mounts: [{ source: '/etc', target: '/hostetc' }] })).rejects.toThrow(/refused/);
    await expect(warden.create({ workspace: '/' })).rejects.toThrow(/refused/);
  });

  it('has no field for privileged mode, host network, host PID or added capabilities', async () => {
    for (const bad of [{ privileged: true }, { network: 'host' }, { pidMode: 'host' }, { capAdd: ['SYS_ADMIN'] }]) {
      await expect(warden.create(bad as never)).rejects.toMatchObject({ code: 'INVALID_SPEC' });
    }
  });
});
