import { afterAll, beforeAll, describe, expect } from 'vitest';
import { pack } from 'tar-stream';
import { readFileSync } from 'node:fs';
import { EGRESS_PROXY_HOST, EGRESS_PROXY_PORT, EGRESS_PROXY_URL, proxyEnv } from '../../src/egress/env.js';
import { GUEST_DIR, guardExec } from '../../src/guest/argv.js';
import { collect, contractIt, eventually, Made, plan, run, WORKLOAD } from './support.js';
import { hostAddresses, hostArg, hostCounter, spellings } from './egress-targets.js';
import { loadTarget } from './target.js';

/**
 * What the suite lists beyond lifecycle and exec: files as the workload (and the race rules),
 * the hardening seen from inside, egress allowed and denied by the unit's own proxy, the caps, and
 * nothing left after remove or panic. Backend-neutral: it speaks the runtime contract and the guest's
 * argv builders only (a backend's own view of leftovers comes from its target).
 */
const t = await loadTarget();
const rt = t.make();
const made = new Made();
const test = contractIt(t, rt);
let id = '';
beforeAll(async () => {
  id = made.add(await rt.create(plan(t, rt))).id;
});
afterAll(() => made.cleanup(rt));

const FILES = `${GUEST_DIR}/files.sh`;
/** The egress tries, run inside a unit (test/conformance/guest/egress-probe.sh). */
const PROBE = readFileSync(new URL('./guest/egress-probe.sh', import.meta.url), 'utf8');

/** A tar of `files` (name -> content). */
async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o644 }, content);
  p.finalize();
  return collect(p as unknown as NodeJS.ReadableStream);
}

describe('files, as the workload (the runtime contract)', () => {
  test('a tar goes in and comes out through guest/files.sh run by the guard as the workload user', ['guard'], async () => {
    const put = await run(rt, id, guardExec(['/bin/sh', FILES, 'x', '/workspace', 'dir', '=dir/a.txt'], WORKLOAD), { input: await tarOf({ 'dir/a.txt': 'hello files\n' }) });
    expect(put, put.stderr).toMatchObject({ exitCode: 0 });
    // find's fstatat, not stat's statx (gVisor answers statx on a tmpfs with EINVAL)
    const owner = await run(rt, id, guardExec(['find', '/workspace/dir/a.txt', '-printf', '%U:%G\n'], WORKLOAD));
    expect(owner.stdout).toBe(`${WORKLOAD.uid}:${WORKLOAD.gid}\n`);
    const h = await rt.exec(id, { cmd: guardExec(['/bin/sh', FILES, 'c', '/workspace', 'dir/a.txt', '~dir/a.txt'], WORKLOAD), env: {}, user: '0:0', stdin: false });
    const [tar, err, code] = await Promise.all([collect(h.stdout), collect(h.stderr), h.wait()]);
    expect(code, err.toString()).toBe(0);
    expect(tar.toString('latin1')).toContain('hello files');
  });

  test('a link the workload planted is refused up front, and a write through one reaches only what the workload may write', ['guard'], async () => {
    await run(rt, id, guardExec(['ln', '-sfn', '/etc', '/workspace/evil'], WORKLOAD));
    const refused = await run(rt, id, guardExec(['/bin/sh', FILES, 'x', '/workspace', 'evil', '=evil/passwd'], WORKLOAD), { input: await tarOf({ 'evil/passwd': 'owned\n' }) });
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(/symbolic link/);
    // the race: the link appears after the check; the write still runs as the workload user
    const raced = await run(rt, id, guardExec(['/bin/sh', FILES, 'x', '/workspace'], WORKLOAD), { input: await tarOf({ 'evil/passwd': 'owned\n' }) });
    expect(raced.exitCode).not.toBe(0);
    expect((await run(rt, id, ['grep', '-c', 'owned', '/etc/passwd'])).stdout).toBe('0\n');
  });
});

describe('hardening seen from inside (the runtime contract)', () => {
  test('the workload runs as its uid with no capabilities, on a read-only root, and cannot reach the guard', ['hardening', 'guard'], async () => {
    const r = await run(rt, id, guardExec(['sh', '-c', 'id -u; id -g; grep -E "^Cap(Eff|Prm|Inh|Amb)" /proc/self/status; touch /usr/x 2>/dev/null && echo root-writable || echo root-read-only; touch /.warden/x 2>/dev/null && echo guest-writable || echo guest-read-only; kill -STOP 1 2>/dev/null && echo stopped-guard || echo guard-out-of-reach'], WORKLOAD));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^1000\n1000\nCapInh:\s+0+\nCapPrm:\s+0+\nCapEff:\s+0+\n(?:CapBnd:.*\n)?(?:CapAmb:\s+0+\n)?root-read-only\nguest-read-only\nguard-out-of-reach\n$/);
    expect((await rt.find({ id }))?.state).toBe('running');
  });

  test('no-new-privileges and the seccomp filter show in /proc/self/status', ['hardening'], async () => {
    const r = await run(rt, id, guardExec(['grep', '-E', '^(NoNewPrivs|Seccomp):', '/proc/self/status'], WORKLOAD));
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1\nSeccomp:\s+2\n$/);
  }, undefined, 'noNewPrivsVisible');

  test('io_uring is refused by the seccomp profile', ['hardening'], async () => {
    // python3 may be missing; perl is in every Debian image: syscall 425 = io_uring_setup on x86_64
    const r = await run(rt, id, guardExec(['perl', '-e', 'my $b = "\\0" x 120; my $r = syscall(425, 1, $b); print $r < 0 ? "refused $!\\n" : "allowed\\n"'], WORKLOAD));
    expect(r.stdout).toMatch(/^refused /);
  }, undefined, 'seccompInside');
});

describe('caps (the runtime contract)', () => {
  test('the process count is capped, as the unit sees it (cgroup v1 or v2)', ['pidsLimit', 'stats'], async () => {
    // a fork bomb at the cap leaves nothing to count with (every exec needs a process): the cap is read instead
    const r = await run(rt, id, guardExec(['sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'], WORKLOAD));
    expect(r.stdout).toBe('256\n');
  });

  test('memory is capped: a process over the cap is killed, the unit lives on', ['guard'], async () => {
    // its own unit: a backend that ends the whole unit over the cap must not take the others' with it
    const u = made.add(await rt.create(plan(t, rt)));
    // one line of 700 MB held by tail, over the plan's 512 MiB (swap equal to memory: no way around)
    const r = await run(rt, u.id, guardExec(['sh', '-c', 'head -c 700000000 /dev/zero | tail -n 1 | wc -c'], WORKLOAD));
    expect(r.stdout.trim()).not.toBe('700000000');
    expect((await rt.find({ id: u.id }))?.state).toBe('running');
    expect((await run(rt, u.id, ['true'])).exitCode).toBe(0);
  }, undefined, 'processOom');
});

describe('egress (the runtime contract)', () => {
  test("an allowlisted unit reaches only its proxy: a denied name is refused there (403) and audited, an allowed one is passed on", ['egressAllowlist'], async () => {
    // names under .invalid never resolve: nothing leaves the machine whatever the proxy decides
    const p = plan(t, rt, { network: 'allowlist', env: proxyEnv(EGRESS_PROXY_URL) });
    if (p.egress.mode === 'allowlist') p.egress.allow = ['allowed.invalid'];
    const u = made.add(await rt.create(p));
    const curl = (host: string) => run(rt, u.id, guardExec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', `http://${host}/`], WORKLOAD));
    const denied = await curl('denied.invalid');
    expect(denied.stdout).toBe('403');
    const allowed = await curl('allowed.invalid');
    expect(allowed.stdout).toMatch(/^5\d\d$/); // passed on, and the name does not resolve: a gateway error, not a refusal
    const audit = await eventually(() => rt.egressLog(u.id), (l) => l.includes('denied.invalid'), 'the denial in the audit');
    expect(audit).toMatch(/denied\.invalid/);
  });

  test("a unit with network 'none' sends nothing out: not to a peer, the host, DNS or a proxy, by any spelling of their addresses", ['egressNone'], async () => {
    // What leaves is counted where it would arrive, on servers the test made: one on this machine
    // (every address of the host), one on the backend's own network where the target makes one (a
    // peer an unconfined unit would reach), and an allowlisted unit's proxy. Backends confine
    // differently (Docker: no interface but loopback; Kubernetes: an interface and a NetworkPolicy that
    // drops everything): the intent is what is checked, not the means.
    const host = await hostCounter();
    const peer = t.upstream ? await t.upstream() : undefined;
    try {
      const tries: string[] = [];
      for (const ip of hostAddresses()) tries.push(`tcp:${hostArg(ip)}:${host.port}`, `udp:${hostArg(ip)}:${host.port}`);
      if (peer) {
        // a DNS query to it and a connection by every spelling of its address
        for (const s of spellings(peer.ip)) tries.push(`tcp:${s}:${peer.port}`);
        tries.push(`udp:${hostArg(peer.ip)}:${peer.port}`);
      }
      // a proxy: the name allowlisted units use, and where another unit's proxy really is
      tries.push(`tcp:${EGRESS_PROXY_HOST}:${EGRESS_PROXY_PORT}`);
      if (rt.capabilities.has('egressAllowlist')) {
        const a = made.add(await rt.create(plan(t, rt, { network: 'allowlist' })));
        const ip = (await run(rt, a.id, ['getent', 'hosts', EGRESS_PROXY_HOST])).stdout.split(/\s+/)[0] ?? '';
        expect(ip, 'the allowlisted unit resolves its proxy').toMatch(/^[0-9a-f.:]+$/);
        for (const s of spellings(ip)) tries.push(`tcp:${s}:${EGRESS_PROXY_PORT}`);
        tries.push(`udp:${hostArg(ip)}:${EGRESS_PROXY_PORT}`);
      }
      const before = { host: host.seen(), peer: await peer?.seen() };
      // one try at a time where a blocked one fails at once (no interface); a NetworkPolicy drops, so a
      // blocked try there waits out its timeout, and six run at once
      const parallel = t.kind === 'kubernetes' ? 6 : 1;
      const r = await run(rt, id, ['env', `PROBE_PARALLEL=${parallel}`, 'sh', '-c', PROBE, 'egress-probe', ...tries]);
      const lines = r.stdout.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(tries.length);
      expect(lines.filter((l) => l.startsWith('tcp ') && !l.endsWith(' blocked')), 'connections made').toEqual([]);
      const sent = lines.filter((l) => l.startsWith('udp ') && l.includes(' sent')).length;
      if (process.env.WARDEN_CONFORMANCE_VERBOSE) console.log(lines.join('\n'));
      // the tries are over when the probe returns (a datagram's send has returned; this machine counts at once, the peer settles first)
      expect(host.seen(), 'what reached this machine').toEqual(before.host);
      if (peer) expect(await peer.seen(), 'what reached the peer').toEqual(before.peer);
      console.log(`[conformance] ${t.kind}: network 'none': ${tries.length} tries (${sent} datagrams the kernel took), none arrived ${t.where}`);
    } finally {
      await host.close();
      await peer?.close();
    }
  });
});

describe('leftovers (the runtime contract)', () => {
  test('remove takes everything made for a unit (proxy, network, volume, preview) with it', ['egressAllowlist', 'preview', 'workspaceVolume'], async () => {
    const p = plan(t, rt, { network: 'allowlist', preview: [3000], workspace: { kind: 'volume', seedFromImage: true } });
    const u = await rt.create(p);
    if (t.leftovers) expect((await t.leftovers(u.id)).length).toBeGreaterThan(1);
    await rt.remove(u.id);
    expect(await rt.find({ id: u.id })).toBeUndefined();
    if (t.leftovers) expect(await t.leftovers(u.id)).toEqual([]);
  });

  test('panic takes everything of the selected units, companions included', ['egressAllowlist'], async () => {
    const label = { batch: `leftovers-${Date.now()}` };
    const units = await Promise.all([rt.create(plan(t, rt, { network: 'allowlist', labels: label })), rt.create(plan(t, rt, { labels: label }))]);
    const r = await rt.panic({ instance: t.instance, labels: label });
    expect(r).toMatchObject({ sandboxes: 2, left: 0, errors: [] });
    for (const u of units) {
      expect(await rt.find({ id: u.id })).toBeUndefined();
      if (t.leftovers) expect(await t.leftovers(u.id)).toEqual([]);
    }
  });
});
