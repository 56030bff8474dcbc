import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WardenError } from '../../../src/errors.js';
import { GUARD, GUEST_SCRIPTS } from '../../../src/guest/argv.js';
import type { Capability, SandboxRuntime, Unit } from '../../../src/runtime/sandbox-runtime.js';
import { download, killExec, run, sh, upload, type ContractFixture } from './fixture.js';

/**
 * The runtime contract's behaviours, each attacked or measured from inside a real unit. Every suite
 * takes only a fixture (a backend factory and a few facts) and skips, naming it, what the backend does
 * not declare. Run on Kubernetes by test/kube/contract.kube.test.ts.
 */

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof WardenError ? err.code : `not a WardenError: ${String(err)}`;
  }
};

/** A unit for the whole describe block, removed after it. */
function sharedUnit(fx: ContractFixture, o: Parameters<ContractFixture['plan']>[0] = {}): { unit: () => Unit } {
  let unit: Unit | undefined;
  beforeAll(async () => {
    unit = await fx.runtime().create(fx.plan(o));
  });
  afterAll(async () => {
    if (unit) await fx.runtime().remove(unit.id);
  });
  return { unit: () => unit as Unit };
}

/** Whether the backend declares `cap` (known when the suites are collected: a runtime's constructor makes no call). */
const capable = (fx: ContractFixture, cap: Capability): boolean => fx.runtime().capabilities.has(cap);

export function lifecycleSuite(fx: ContractFixture): void {
  describe('lifecycle', () => {
    it('creates a running unit that find() sees by id, name, key and backend id, and list() by its labels and owner', async () => {
      const rt = fx.runtime();
      const key = `lc-${Date.now()}`;
      const plan = fx.plan({ key, labels: { project: 'p/1 with spaces', 'team.example.com/x': 'y' } });
      const u = await rt.create(plan);
      try {
        expect(u.state).toBe('running');
        expect(u.id).toBe(plan.id);
        expect(u.key).toBe(key);
        expect(u.record.id).toBe(plan.id);
        // the plan's labels as given, and Warden's own selection labels verbatim (the core scopes by warden.instance)
        expect(u.labels).toEqual({ ...plan.labels, 'warden.managed': 'true', 'warden.id': plan.id, 'warden.instance': plan.record.instance, 'warden.owner': plan.record.owner, 'warden.lifetime': plan.lifetime });
        for (const ref of [{ id: u.id }, { name: u.name }, { key }, { backendId: u.backendId }]) expect((await rt.find(ref))?.id).toBe(u.id);
        const listed = await rt.list({ instance: plan.record.instance, labels: { project: 'p/1 with spaces' } });
        expect(listed.map((x) => x.id)).toEqual([u.id]);
        expect((await rt.list({ instance: plan.record.instance, owner: plan.owner.owner, key })).map((x) => x.id)).toEqual([u.id]);
        expect(await rt.list({ instance: 'another-instance', key })).toEqual([]);
        expect(await rt.find({ id: 'sbx-000000000000' })).toBeUndefined();
        expect(await rt.find({ key: 'no-such-key' })).toBeUndefined();
      } finally {
        await rt.remove(u.id);
      }
      expect(await rt.find({ id: u.id })).toBeUndefined();
      expect(await fx.leftovers(u.id)).toEqual([]);
      await rt.remove(u.id); // safe twice
    });

    it('one unit per key: concurrent creates of one key, one wins, the other is KEY_TAKEN and leaves nothing', async () => {
      const rt = fx.runtime();
      const key = `race-${Date.now()}`;
      const plans = [fx.plan({ key }), fx.plan({ key }), fx.plan({ key })];
      const results = await Promise.allSettled(plans.map((p) => rt.create(p)));
      const won = results.filter((r): r is PromiseFulfilledResult<Unit> => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((l) => (l.reason as WardenError).code)).toEqual(['KEY_TAKEN', 'KEY_TAKEN']);
      const winner = won[0]!.value;
      try {
        expect((await rt.find({ key }))?.id).toBe(winner.id);
        for (const p of plans.filter((p) => p.id !== winner.id)) expect(await fx.leftovers(p.id)).toEqual([]);
      } finally {
        await rt.remove(winner.id);
      }
    });

    it('a taken name is NAME_CONFLICT, and nothing of the refused unit stays', async () => {
      const rt = fx.runtime();
      const name = `named-${Date.now()}`;
      const first = await rt.create(fx.plan({ name }));
      try {
        const second = fx.plan({ name });
        expect(await codeOf(rt.create(second))).toBe('NAME_CONFLICT');
        expect(await fx.leftovers(second.id)).toEqual([]);
      } finally {
        await rt.remove(first.id);
      }
    });

    it('stop ends every process gracefully (SIGTERM reaches the workload) and leaves a stopped unit until remove', async () => {
      const rt = fx.runtime();
      const u = await rt.create(fx.plan());
      try {
        await rt.execDetached(u.id, { cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--', 'sh', '-c', 'trap "echo got-term > /tmp/term; exit 0" TERM; while :; do sleep 0.1; done'], env: {}, user: '0:0' });
        await fx.eventually('the trap is set', async () => (await sh(rt, u, "pgrep -f '^sh -c trap' >/dev/null && echo y")).stdout.trim() === 'y');
        const t0 = Date.now();
        await rt.stop(u.id, 10_000);
        expect(Date.now() - t0).toBeLessThan(9_000); // the workload ended on SIGTERM, not at the grace's end
        const after = await rt.find({ id: u.id });
        expect(after?.state).toBe('stopped');
        expect(await codeOf(rt.exec(u.id, { cmd: ['true'], env: {}, user: '0:0', stdin: false }))).toBe('SANDBOX_NOT_RUNNING');
        const logs = await rt.logs(u.id, { tail: 20 });
        const parts: Buffer[] = [];
        for await (const c of logs as AsyncIterable<Buffer>) parts.push(c);
        expect(Buffer.concat(parts).toString()).toMatch(/warden: stopped: stopped gracefully/);
      } finally {
        await rt.remove(u.id);
      }
    });

    it('kill ends a workload that ignores SIGTERM at once', async () => {
      const rt = fx.runtime();
      const u = await rt.create(fx.plan());
      try {
        await rt.execDetached(u.id, { cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--', 'sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'], env: {}, user: '0:0' });
        const t0 = Date.now();
        await rt.kill(u.id);
        expect(Date.now() - t0).toBeLessThan(8_000);
        expect((await rt.find({ id: u.id }))?.state).toBe('stopped');
      } finally {
        await rt.remove(u.id);
      }
    });

    it('panic removes every unit of the selector, and only those', async () => {
      const rt = fx.runtime();
      const tag = `panic${Date.now()}`;
      const mine = await Promise.all([0, 1, 2].map(() => rt.create(fx.plan({ labels: { batch: tag } }))));
      const other = await rt.create(fx.plan({ labels: { batch: `${tag}-other` } }));
      try {
        const res = await rt.panic({ instance: mine[0]!.record.instance, labels: { batch: tag } });
        expect(res.sandboxes).toBe(3);
        expect(res.left).toBe(0);
        expect(res.errors).toEqual([]);
        for (const u of mine) expect(await fx.leftovers(u.id)).toEqual([]);
        expect((await rt.find({ id: other.id }))?.state).toBe('running');
      } finally {
        await rt.remove(other.id);
      }
    });
  });
}

export function execSuite(fx: ContractFixture): void {
  describe('exec', () => {
    const { unit } = sharedUnit(fx);

    it('gives stdout and stderr apart and the exit code; a missing command is 127; a signal death is 128+N', async () => {
      const rt = fx.runtime();
      const r = await sh(rt, unit(), 'echo out; echo err >&2; exit 3');
      expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3 });
      const missing = await run(rt, unit(), ['no-such-program-h17']);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toMatch(/no-such-program-h17: command not found/);
      expect((await sh(rt, unit(), 'kill -KILL $$')).code).toBe(137);
    });

    it('runs as the workload user in the requested directory with the requested environment (values of any shape)', async () => {
      const rt = fx.runtime();
      const env = { PLAIN: 'v', SPACES: 'a b  c', NEWLINE: 'line1\nline2', UNICODE: 'héllo ✓', EQUALS: 'a=b=c' };
      const r = await sh(rt, unit(), 'id -u; pwd; printf "%s|" "$PLAIN" "$SPACES" "$NEWLINE" "$UNICODE" "$EQUALS"', { env, cwd: '/tmp' });
      expect(r.stdout).toBe(`${unit().record.user.uid}\n/tmp\nv|a b  c|line1\nline2|héllo ✓|a=b=c|`);
    });

    it('streams: output arrives while the command still runs, and stdin reaches it as it is written', async () => {
      const rt = fx.runtime();
      const u = unit();
      const h = await rt.exec(u.id, { cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--', 'sh', '-c', 'echo ready; read line; echo "got $line"'], env: {}, user: '0:0', stdin: true });
      h.stderr.resume();
      const lines: string[] = [];
      const first = new Promise<void>((resolve) => h.stdout.on('data', (d: Buffer) => (lines.push(d.toString()), resolve())));
      await first;
      expect(lines.join('')).toBe('ready\n');
      h.stdin!.write('hello\n');
      const code = await h.wait();
      expect(lines.join('')).toBe('ready\ngot hello\n');
      expect(code).toBe(0);
    });

    it.runIf(capable(fx, 'stdinEof'))('closing stdin is EOF inside (cat ends with what it got)', async () => {
      const rt = fx.runtime();
      const r = await run(rt, unit(), ['sh', '-c', 'cat; echo "<eof>"'], { stdin: 'some input' });
      expect(r).toEqual({ stdout: 'some input<eof>\n', stderr: '', code: 0 });
    });

    it('moves 32 MiB of output intact, with backpressure from a slow reader', async () => {
      const rt = fx.runtime();
      const u = unit();
      const h = await rt.exec(u.id, { cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--', 'sh', '-c', 'head -c 33554432 /dev/urandom > /tmp/big && sha256sum /tmp/big >&2 && cat /tmp/big && rm /tmp/big'], env: {}, user: '0:0', stdin: false });
      const hash = createHash('sha256');
      let bytes = 0;
      let slow = 0;
      for await (const chunk of h.stdout as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        if (slow++ < 20) await new Promise((r) => setTimeout(r, 20)); // a slow start: the sender must wait
      }
      const stderr: Buffer[] = [];
      for await (const c of h.stderr as AsyncIterable<Buffer>) stderr.push(c);
      expect(await h.wait()).toBe(0);
      expect(bytes).toBe(33554432);
      expect(Buffer.concat(stderr).toString().split(' ')[0]).toBe(hash.digest('hex'));
    });

    it.runIf(capable(fx, 'tty'))('runs on a terminal of the asked size, and resize reaches it', async () => {
      const rt = fx.runtime();
      const u = unit();
      const h = await rt.exec(u.id, {
        // the resize and the line typed after it travel on separate streams (Kubernetes handles the resize
        // channel beside stdin, not in order with it): the command waits (at most ~10 s) for the new size
        cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--tty', '--', 'sh', '-c', 'stty size; read x; i=0; while [ "$(stty size)" != "40 120" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; stty size; tty'],
        env: { TERM: 'xterm' },
        user: '0:0',
        stdin: true,
        tty: { cols: 91, rows: 33 },
      });
      let out = '';
      const saw = (re: RegExp) => new Promise<void>((resolve) => {
        const check = (): void => void (re.test(out) && resolve());
        h.stdout.on('data', (d: Buffer) => ((out += d.toString()), check()));
        check();
      });
      await saw(/33 91/);
      await h.resize!(120, 40);
      h.stdin!.write('go\r');
      expect(await h.wait()).toBe(0);
      expect(out).toMatch(/33 91\r\n[\s\S]*40 120\r\n\/dev\/pts\/\d+/);
    });

    it('a deadline ends the command and what it left running (the guard\'s holder, also without Warden)', async () => {
      const rt = fx.runtime();
      const t0 = Date.now();
      const r = await sh(rt, unit(), '(setsid sh -c "exec sleep 7201" >/dev/null 2>&1 &); sleep 600', { timeoutMs: 1500 });
      expect(r.code).toBe(137);
      expect(Date.now() - t0).toBeLessThan(10_000);
      await fx.eventually('the escapee is gone', async () => (await sh(rt, unit(), "pgrep -f '^sleep 7201$' || echo none")).stdout.trim() === 'none');
    });

    it("kill of an exec's tree reaches children that left its session", async () => {
      const rt = fx.runtime();
      const u = unit();
      const running = sh(rt, u, '(setsid sh -c "exec sleep 7202" >/dev/null 2>&1 &); exec sleep 7203', { execId: 'tree1' });
      await fx.eventually('both sleeps run', async () => (await sh(rt, u, "pgrep -fc '^sleep 720[23]$'")).stdout.trim() === '2');
      expect(await killExec(rt, u, 'tree1')).toBeGreaterThanOrEqual(2);
      expect((await running).code).toBe(137);
      await fx.eventually('the tree is gone', async () => (await sh(rt, u, "pgrep -f '^sleep 720[23]$' || echo none")).stdout.trim() === 'none');
    });

    it('execDetached returns at once and its command runs on', async () => {
      const rt = fx.runtime();
      const u = unit();
      const t0 = Date.now();
      await rt.execDetached(u.id, { cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--', 'sh', '-c', 'sleep 1; echo "$MARK" > /tmp/detached'], env: { MARK: 'detached-ran' }, user: '0:0' });
      expect(Date.now() - t0).toBeLessThan(5_000);
      await fx.eventually('the detached command wrote its file', async () => (await sh(rt, u, 'cat /tmp/detached 2>/dev/null')).stdout.trim() === 'detached-ran');
    });

    it('refuses hostile exec input with coded errors', async () => {
      const rt = fx.runtime();
      const u = unit();
      expect(await codeOf(rt.exec('sbx-doesnotexist', { cmd: ['true'], env: {}, user: '0:0', stdin: false }))).toBe('SANDBOX_NOT_FOUND');
      expect(await codeOf(rt.exec(u.id, { cmd: ['true'], env: { 'A=B': 'x' }, user: '0:0', stdin: false }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(rt.exec(u.id, { cmd: ['true'], env: { A: 'nul\0' }, user: '0:0', stdin: false }))).toBe('INVALID_ARGUMENT');
    });
  });
}

export function filesSuite(fx: ContractFixture): void {
  describe('files (guest files.sh over exec)', () => {
    const { unit } = sharedUnit(fx);

    it('uploads and downloads as the workload user, byte for byte', async () => {
      const rt = fx.runtime();
      const files = { 'a.txt': 'alpha\n', 'dir/b.txt': 'beta ✓\n' };
      const up = await upload(rt, unit(), '/workspace', files);
      expect(up.code).toBe(0);
      const owner = await sh(rt, unit(), 'stat -c "%u %n" /workspace/a.txt /workspace/dir/b.txt');
      expect(owner.stdout).toBe(`${unit().record.user.uid} /workspace/a.txt\n${unit().record.user.uid} /workspace/dir/b.txt\n`);
      const down = await download(rt, unit(), '/workspace', 'dir');
      expect(down.code).toBe(0);
      expect(down.files['dir/b.txt']).toBe('beta ✓\n');
    });

    it('refuses a planted symbolic link on the way, for writes and reads (path confinement)', async () => {
      const rt = fx.runtime();
      expect((await sh(rt, unit(), 'mkdir -p /workspace/safe && ln -sfn /etc /workspace/evil && ln -sfn /etc/passwd /workspace/pw')).code).toBe(0);
      const write = await upload(rt, unit(), '/workspace', { 'evil/x': 'no' }, ['evil']);
      expect(write.code).toBe(3);
      expect(write.stderr).toMatch(/symbolic link/);
      const read = await download(rt, unit(), '/workspace', 'pw', ['~pw']);
      expect(read.code).toBe(3);
      // and whatever a link resolves to, the write runs as the workload user: the read-only root stays untouched
      const direct = await upload(rt, unit(), '/etc', { 'warden-h17': 'x' });
      expect(direct.code).not.toBe(0);
    });

    it.runIf(capable(fx, 'stats'))("reads the unit's own cgroup figures through the guest's stats.sh", async () => {
      const rt = fx.runtime();
      const r = await run(rt, unit(), ['sh', GUEST_SCRIPTS.stats]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^cpu \d+ \d+ \d+ \d+$/m);
      const mem = /^mem (\d+) (\d+)/m.exec(r.stdout);
      expect(Number(mem?.[2])).toBe(512 * 1024 * 1024); // the plan's memory cap (the fixture's default)
    });
  });
}

export function hardeningSuite(fx: ContractFixture): void {
  describe.runIf(capable(fx, 'hardening'))('hardening, seen and attacked from inside', () => {
    const { unit } = sharedUnit(fx);

    it('the workload is non-root with no capabilities, no new privileges and a seccomp filter', async () => {
      const r = await sh(fx.runtime(), unit(), 'id -u; grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status');
      expect(r.stdout).toMatch(/^[1-9]\d*\n/);
      for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(r.stdout).toMatch(new RegExp(`${cap}:\\s+0+\\n`));
      expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
      expect(r.stdout).toMatch(/Seccomp:\s+2/);
    });

    it("Warden's seccomp profile holds: io_uring, open_by_handle_at, keyctl, userfaultfd, remap_file_pages refused", async () => {
      // syscall numbers of x86_64: io_uring_setup 425, open_by_handle_at 304, keyctl 250, userfaultfd 323, remap_file_pages 216
      const r = await run(fx.runtime(), unit(), ['perl', '-e', 'for my $n (425, 304, 250, 323, 216) { my $r = syscall($n, 0, 0, 0, 0, 0); print "$n:", ($r == -1 ? $!+0 : "ok"), "\\n" }']);
      expect(r.stdout).toBe('425:1\n304:1\n250:1\n323:1\n216:1\n');
    });

    it('the root filesystem is read-only; setuid binaries give nothing; no service account token; no route to the node', async () => {
      const r = await sh(fx.runtime(), unit(), 'touch /usr/x 2>&1; touch /etc/x 2>&1; su -c id 2>&1 </dev/null; ls /var/run/secrets/kubernetes.io 2>&1; echo done');
      expect(r.stdout).toMatch(/Read-only file system[\s\S]*Read-only file system/);
      expect(r.stdout).not.toMatch(/uid=0/);
      expect(r.stdout).toMatch(/No such file or directory\ndone\n$/);
    });

    it('the workload cannot raise its hard limits or become root through the guard binary', async () => {
      const r = await sh(fx.runtime(), unit(), `ulimit -H -c 100 2>&1; ${GUARD} exec --uid 0 --gid 0 -- id 2>&1; echo rc=$?`);
      expect(r.stdout).not.toMatch(/uid=0/);
      expect(r.stdout).toMatch(/rc=126/);
    });
  });
}

export function capsSuite(fx: ContractFixture): void {
  describe('caps', () => {
    it('memory: a process over the memory cap is killed (OOM), the unit says so or the exit says 137', async () => {
      const rt = fx.runtime();
      const u = await rt.create(fx.plan({ memoryBytes: 96 * 1024 * 1024, tmpBytes: 16 * 1024 * 1024, workspaceBytes: 16 * 1024 * 1024 }));
      try {
        const r = await run(rt, u, ['perl', '-e', 'my @a; push @a, "x" x (8*1024*1024) for 1..64; print "survived\\n"']);
        expect(r.stdout).not.toMatch(/survived/);
        expect(r.code).toBe(137);
      } finally {
        await rt.remove(u.id);
      }
    });

    it.runIf(capable(fx, 'diskQuota'))('disk: the workspace is capped (ENOSPC), and so is /tmp', async () => {
      const rt = fx.runtime();
      const u = await rt.create(fx.plan({ workspaceBytes: 8 * 1024 * 1024, tmpBytes: 4 * 1024 * 1024 }));
      try {
        const ws = await sh(rt, u, 'dd if=/dev/zero of=/workspace/fill bs=1M count=64 2>&1; du -sk /workspace | cut -f1');
        expect(ws.stdout).toMatch(/No space left on device/);
        expect(Number(ws.stdout.trim().split('\n').pop())).toBeLessThanOrEqual(8 * 1024 + 64);
        const tmp = await sh(rt, u, 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1');
        expect(tmp.stdout).toMatch(/No space left on device/);
      } finally {
        await rt.remove(u.id);
      }
    });

    it.runIf(capable(fx, 'maxRuntime'))('max runtime: the unit ends at its deadline with no Warden call', async () => {
      const rt = fx.runtime();
      const u = await rt.create(fx.plan({ maxRuntimeMs: 4_000 }));
      try {
        const ended = await fx.eventually('the unit reached its max runtime', async () => {
          const now = await rt.find({ id: u.id });
          return now && now.state !== 'running' ? now : undefined;
        }, 60_000);
        expect(ended.state).toBe('stopped');
        expect(Date.parse(ended.finishedAt ?? '') - Date.parse(u.startedAt ?? '')).toBeLessThan(15_000);
      } finally {
        await rt.remove(u.id);
      }
    });
  });
}

export function egressSuite(fx: ContractFixture): void {
  describe.runIf(capable(fx, 'egressAllowlist'))('egress allowlist through the unit\'s own proxy', () => {
    let upstream: { ip: string; port: number };
    let unit: Unit;
    beforeAll(async () => {
      upstream = await fx.upstream();
      unit = await fx.runtime().create(
        fx.plan({
          egress: { mode: 'allowlist', presets: [], allow: [`upstream.test:${upstream.port}`], credentials: [], addHosts: { 'upstream.test': upstream.ip, 'other.test': upstream.ip }, secrets: {} },
        }),
      );
    });
    afterAll(async () => {
      if (unit) await fx.runtime().remove(unit.id);
    });

    it('reaches an allowed host through the proxy, and the audit records it', async () => {
      const r = await sh(fx.runtime(), unit, `curl -sS -m 10 http://upstream.test:${upstream.port}/`);
      expect(r.stdout).toMatch(/hello from/);
      const log = await fx.runtime().egressLog(unit.id);
      expect(log).toMatch(/"host":"upstream.test".*"allowed":true/);
    });

    it('a host not on the list is refused by the proxy, and every direct connection fails (any spelling of the address)', async () => {
      const rt = fx.runtime();
      const denied = await sh(rt, unit, `curl -sS -m 10 -o /dev/null -w "%{http_code}" http://other.test:${upstream.port}/`);
      expect(denied.stdout).toBe('403');
      const ip = upstream.ip;
      const dec = ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
      for (const spelling of [ip, String(dec), `0x${dec.toString(16)}`]) {
        const direct = await sh(rt, unit, `curl -sS -m 3 --noproxy '*' http://${spelling}:${upstream.port}/ 2>&1; echo rc=$?`);
        expect(direct.stdout).not.toMatch(/hello from/);
        expect(direct.stdout).toMatch(/rc=(7|28)/);
      }
      const dns = await sh(rt, unit, 'getent hosts upstream.test || echo unresolved');
      expect(dns.stdout.trim()).toBe('unresolved');
    });
  });

  describe('no network', () => {
    const { unit } = sharedUnit(fx, { egress: { mode: 'none' } });
    it('a unit without egress connects nowhere', async () => {
      const up = await fx.upstream();
      const r = await sh(fx.runtime(), unit(), `curl -sS -m 3 http://${up.ip}:${up.port}/ 2>&1; echo rc=$?`);
      expect(r.stdout).toMatch(/rc=(7|28)/);
      expect(r.stdout).not.toMatch(/hello from/);
    });
  });
}

export function previewSuite(fx: ContractFixture): void {
  describe.runIf(capable(fx, 'preview'))('preview ports', () => {
    const { unit } = sharedUnit(fx, { preview: [{ containerPort: 3001, hostIp: '127.0.0.1' }] });
    it('the host reaches a unit port at its url on loopback, and the activity is recorded', async () => {
      const rt = fx.runtime();
      const u = unit();
      expect(u.ports).toHaveLength(1);
      expect(u.ports[0]?.hostIp).toBe('127.0.0.1');
      await rt.execDetached(u.id, {
        cmd: [GUARD, 'exec', '--uid', String(u.record.user.uid), '--gid', String(u.record.user.gid), '--', 'perl', '-MIO::Socket::IP', '-e', 'my $s = IO::Socket::IP->new(LocalAddr => "0.0.0.0", LocalPort => 3001, Listen => 16, ReuseAddr => 1) or die; while (my $c = $s->accept) { my $l = <$c>; print $c "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\npreview says hi\\n"; close $c }'],
        env: {},
        user: '0:0',
      });
      const text = await fx.eventually('the preview answers', async () => {
        const res = await fetch(u.ports[0]!.url).then((r) => r.text(), () => undefined);
        return res?.includes('preview says hi') ? res : undefined;
      });
      expect(text).toBe('preview says hi\n');
      const act = await rt.previewActivity(u.id);
      expect(act?.at).toBeGreaterThan(Date.now() - 60_000);
    });
  });
}

export function keysAndPoolsSuite(fx: ContractFixture): void {
  describe('warm pool claims', () => {
    it('a member is claimed only once ready; concurrent claims of one member: one wins; of one key: one wins', async () => {
      const rt = fx.runtime();
      const pool = `pool${Date.now()}`;
      const members = await Promise.all([0, 1].map(() => rt.create(fx.plan({ pool: { id: pool, signature: 'sig1' }, name: `pool-${pool}-${Math.random().toString(16).slice(2, 8)}` }))));
      try {
        const [a, b] = members as [Unit, Unit];
        expect(a.pool).toEqual({ id: pool, ready: false });
        expect(await codeOf(rt.claim(a.id, 'k-not-ready', rt.owner.link))).toBe('SANDBOX_NOT_FOUND');
        await Promise.all([rt.markPoolReady(a.id), rt.markPoolReady(b.id)]);
        expect((await rt.find({ id: a.id }))?.pool).toEqual({ id: pool, ready: true });
        // one member, two keys
        const k1 = `k1-${pool}`;
        const k2 = `k2-${pool}`;
        const same = await Promise.allSettled([rt.claim(a.id, k1, rt.owner.link), rt.claim(a.id, k2, rt.owner.link)]);
        expect(same.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const wonKey = same[0]!.status === 'fulfilled' ? k1 : k2;
        const lostKey = wonKey === k1 ? k2 : k1;
        expect((await rt.find({ key: wonKey }))?.id).toBe(a.id);
        expect(await rt.find({ key: lostKey })).toBeUndefined();
        const claimed = await rt.find({ id: a.id });
        expect(claimed?.pool).toBeUndefined();
        expect(claimed?.key).toBe(wonKey);
        // one key, another member: KEY_TAKEN
        expect(await codeOf(rt.claim(b.id, wonKey, rt.owner.link))).toBe('KEY_TAKEN');
        expect((await rt.find({ id: b.id }))?.pool).toEqual({ id: pool, ready: true });
        expect((await rt.list({ instance: a.record.instance, pool })).map((u) => u.id)).toEqual([b.id]);
      } finally {
        await Promise.all(members.map((m) => rt.remove(m.id)));
      }
    });
  });

  describe('re-adoption', () => {
    it('a second Warden process finds, runs in and removes units the first made, by id and by key', async () => {
      const rt = fx.runtime();
      const key = `adopt-${Date.now()}`;
      const u = await rt.create(fx.plan({ key, lifetime: 'persistent' }));
      const other = await fx.second();
      try {
        const found = await other.find({ key });
        expect(found?.id).toBe(u.id);
        expect(found?.env?.WARDEN_SANDBOX_ID).toBe(u.id);
        expect((await sh(other, found as Unit, 'echo from-the-second')).stdout).toBe('from-the-second\n');
        await other.remove(u.id);
        expect(await rt.find({ id: u.id })).toBeUndefined();
      } finally {
        await rt.remove(u.id);
        await other.close();
      }
    });
  });
}

export function refusalsSuite(fx: ContractFixture): void {
  describe('what the backend cannot do is refused, named', () => {
    it('undeclared capabilities are UNSUPPORTED_ON_RUNTIME and make nothing', async () => {
      const rt = fx.runtime();
      const cases: Array<[Capability, Partial<ReturnType<ContractFixture['plan']>>]> = [
        ['hostMounts', { workspace: { kind: 'host', path: '/tmp' } }],
        ['workspaceVolume', { workspace: { kind: 'volume', seedFromImage: true } }],
        ['gvisor', { isolation: 'gvisor' }],
      ];
      for (const [cap, change] of cases) {
        if (rt.capabilities.has(cap)) continue;
        const plan = { ...fx.plan(), ...change } as ReturnType<ContractFixture['plan']>;
        expect(await codeOf(rt.create(plan))).toBe('UNSUPPORTED_ON_RUNTIME');
        expect(await fx.leftovers(plan.id)).toEqual([]);
      }
      if (!rt.capabilities.has('resume')) expect(await codeOf(rt.resume('sbx-x', rt.owner.link))).toBe('UNSUPPORTED_ON_RUNTIME');
    });
  });
}

/** Every suite, in order. */
export function contractSuites(fx: ContractFixture): void {
  lifecycleSuite(fx);
  execSuite(fx);
  filesSuite(fx);
  hardeningSuite(fx);
  capsSuite(fx);
  egressSuite(fx);
  previewSuite(fx);
  keysAndPoolsSuite(fx);
  refusalsSuite(fx);
}

export type { SandboxRuntime };
