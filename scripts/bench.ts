/**
 * `npm run bench`: Warden's overhead against raw dockerode and the plain docker CLI, measured in the
 * same run on the same engine. Prints medians and ratios (Warden / raw dockerode). Not a test.
 * Needs the engine and images (scripts/setup.sh).
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtemp, chown, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough, Writable } from 'node:stream';
import { pack } from 'tar-stream';
import { createLogger } from '../src/log.js';
import { Warden } from '../src/sandbox/warden.js';
import { EGRESS_NETWORK } from '../src/runtime/docker/egress.js';
import { benchEgress, EGRESS_FOOTNOTE } from './bench-egress.js';
import { wardenImage } from '../src/images/catalog.js';

const IMAGE = wardenImage('sandbox');
const LABELS = { 'warden.bench': String(process.pid) };
const docker = new Docker();
const warden = new Warden({ owner: 'bench', labels: LABELS, logger: createLogger('error') });
const dockerCli = ['/usr/bin/docker', '/usr/local/bin/docker'].find((p) => { try { execFileSync(p, ['version'], { stdio: 'ignore' }); return true; } catch { return false; } }) ?? 'docker';

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
async function time(fn: () => Promise<unknown>): Promise<number> { const t = performance.now(); await fn(); return performance.now() - t; }

/** Interleave the variants so drift hits them alike; returns medians in ms. */
async function compare(n: number, variants: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const fn of Object.values(variants)) await fn(); // warm up
  for (let i = 0; i < n; i++) for (const [k, fn] of Object.entries(variants)) samples[k]!.push(await time(fn));
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

const hardened = (name: string): Docker.ContainerCreateOptions => ({
  name, Image: IMAGE, Entrypoint: ['/bin/sh'], Cmd: ['-c', 'trap "" TERM; exec sleep infinity'], User: '1000:1000', Labels: LABELS,
  HostConfig: { Init: true, ReadonlyRootfs: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'], NetworkMode: 'none', Memory: 2 ** 31, MemorySwap: 2 ** 31, NanoCpus: 2e9, PidsLimit: 512, Tmpfs: { '/tmp': 'rw,exec,size=536870912', '/home/agent': 'rw,exec,size=268435456' } },
});

async function rawExec(c: Docker.Container, cmd: string[], sink?: Writable): Promise<number> {
  const e = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const s = await e.start({ hijack: false, stdin: false });
  const out = sink ?? new PassThrough().resume();
  docker.modem.demuxStream(s, out, new PassThrough().resume());
  await new Promise((r) => s.on('end', r));
  return (await e.inspect()).ExitCode ?? -1;
}

const rows: string[][] = [];
const row = (what: string, w: number, raw: number, cli: number | undefined, unit: string, higherIsBetter = false): void => {
  const ratio = higherIsBetter ? raw / w : w / raw;
  rows.push([what, `${w.toFixed(1)} ${unit}`, `${raw.toFixed(1)} ${unit}`, cli === undefined ? '-' : `${cli.toFixed(1)} ${unit}`, `${ratio.toFixed(3)}`, ratio <= 1.1 ? 'ok' : 'OVER 10%']);
};

let seq = 0;
const containerEgress: string[][] = [];
try {
  // 1. create + start (and remove, untimed)
  const made: string[] = [];
  const cr = await compare(7, {
    warden: async () => { const sb = await warden.create({}); made.push(sb.containerId); },
    raw: async () => { const c = await docker.createContainer(hardened(`warden-bench-raw-${process.pid}-${seq++}`)); await c.start(); made.push(c.id); },
  });
  const cliRun = await compare(5, { cli: async () => execFileSync(dockerCli, ['run', '--rm', '--network', 'none', '--label', `warden.bench=${process.pid}`, IMAGE, 'true']) });
  await Promise.all(made.map((id) => docker.getContainer(id).remove({ force: true })));
  row('create+start sandbox', cr.warden!, cr.raw!, cliRun.cli, 'ms');

  // 2. exec round trip of `true`
  const sb = await warden.create({});
  const c = docker.getContainer(sb.containerId);
  const ex = await compare(25, {
    warden: () => sb.exec(['true']),
    raw: () => rawExec(c, ['true']),
    cli: async () => execFileSync(dockerCli, ['exec', sb.containerId, 'true']),
  });
  row('exec round trip (true)', ex.warden!, ex.raw!, ex.cli, 'ms');

  // 3. stdout stream throughput (256 MiB)
  const MB = 256;
  const count = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
  const st = await compare(3, {
    warden: async () => { const p = await sb.spawn(['head', '-c', `${MB}M`, '/dev/zero']); p.stderr.resume(); p.stdout.pipe(count()); await p.wait(); },
    raw: () => rawExec(c, ['head', '-c', `${MB}M`, '/dev/zero'], count()),
  });
  row('stream stdout 256 MiB', MB / (st.warden! / 1000), MB / (st.raw! / 1000), undefined, 'MiB/s', true);

  // 4. upload / download 64 MiB to the bind-mounted workspace
  const ws = await mkdtemp(join(tmpdir(), 'warden-bench-'));
  await chown(ws, 1000, 1000);
  const wsb = await warden.create({ workspace: ws });
  const wc = docker.getContainer(wsb.containerId);
  const data = Buffer.alloc(64 * 1024 * 1024, 7);
  const up = await compare(5, {
    warden: () => wsb.writeFiles([{ path: 'blob.bin', content: data }]),
    raw: async () => { const p = pack(); p.entry({ name: 'blob-raw.bin', uid: 1000, gid: 1000 }, data); p.finalize(); await wc.putArchive(p as never, { path: '/workspace' }); },
  });
  row('upload 64 MiB', 64 / (up.warden! / 1000), 64 / (up.raw! / 1000), undefined, 'MiB/s', true);
  const down = await compare(5, {
    warden: () => wsb.readFile('blob.bin'),
    raw: async () => { const s = (await wc.getArchive({ path: '/workspace/blob-raw.bin' })) as unknown as NodeJS.ReadableStream; const parts: Buffer[] = []; for await (const x of s) parts.push(x as Buffer); Buffer.concat(parts); },
  });
  row('download 64 MiB', 64 / (down.warden! / 1000), 64 / (down.raw! / 1000), undefined, 'MiB/s', true);

  await Promise.all([sb.remove({ force: true }), wsb.remove({ force: true })]);
  await rm(ws, { recursive: true, force: true });

  // 5. egress as a sandbox gets it: curl in an allowlisted sandbox through its proxy container (plain
  //    HTTP forwarding, and a CONNECT tunnel) vs curl in an `open` sandbox straight to the same upstream
  //    container. Everything crosses engine bridges; nothing leaves the machine.
  const UP = 'bench-upstream.test';
  const allowed = await warden.create({ network: 'allowlist', egress: { allow: [`${UP}:8080`] } });
  // the direct path: a plain container on the engine's default bridge, next to the upstream (Warden's
  // `open` sandboxes sit on warden-open with inter-container traffic off, so they cannot reach it)
  const direct = await docker.createContainer({ ...hardened(`warden-bench-direct-${process.pid}`), HostConfig: { ...hardened('x').HostConfig, NetworkMode: 'bridge' } });
  await direct.start();
  const upstream = await docker.createContainer({
    name: `warden-bench-upstream-${process.pid}`,
    Image: wardenImage('egress'),
    Cmd: ['node', '/bench/bench-upstream.mjs'],
    Env: ['WARDEN_BENCH_HOST=0.0.0.0', 'WARDEN_BENCH_HTTP_PORT=8080'],
    User: '65534:65534',
    Labels: LABELS,
    HostConfig: { Binds: [`${fileURLToPath(new URL('./lib', import.meta.url))}:/bench:ro`], NetworkMode: EGRESS_NETWORK },
    NetworkingConfig: { EndpointsConfig: { [EGRESS_NETWORK]: { Aliases: [UP] } } },
  });
  await docker.getNetwork('bridge').connect({ Container: upstream.id });
  await upstream.start();
  const upIp = (await upstream.inspect()).NetworkSettings.Networks['bridge']!.IPAddress;
  await new Promise((r) => setTimeout(r, 1000));
  const curl = async (s: typeof sb, args: string[]): Promise<number> => {
    const r = await s.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{speed_download}', ...args], { timeoutMs: 60_000 });
    if (r.exitCode !== 0) throw new Error(`curl ${args.join(' ')}: ${r.stderr}`);
    return Number(r.stdout) / 1e6;
  };
  const curlDirect = async (url: string): Promise<number> => {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (d: Buffer) => parts.push(d));
    const code = await rawExec(direct, ['curl', '-sS', '-o', '/dev/null', '-w', '%{speed_download}', url], out);
    if (code !== 0) throw new Error(`curl ${url}: exit ${code}`);
    return Number(Buffer.concat(parts).toString()) / 1e6;
  };
  const eg = { direct: [] as number[], http: [] as number[], tunnel: [] as number[] };
  for (let i = 0; i < 6; i++) {
    const d = await curlDirect(`http://${upIp}:8080/big`);
    const h = await curl(allowed, [`http://${UP}:8080/big`]);
    const t = await curl(allowed, ['--proxytunnel', `http://${UP}:8080/big`]);
    if (i === 0) continue; // warm-up
    eg.direct.push(d);
    eg.http.push(h);
    eg.tunnel.push(t);
  }
  containerEgress.push(
    ['HTTP download 64 MiB, containers', `${median(eg.http).toFixed(0)} MB/s`, `${median(eg.direct).toFixed(0)} MB/s`, `${((median(eg.http) / median(eg.direct)) * 100).toFixed(0)}%`, median(eg.http) / median(eg.direct) >= 0.8 ? 'ok (>= 80%)' : 'UNDER 80% (proxy container: 1 CPU)'],
    ['CONNECT download 64 MiB, containers', `${median(eg.tunnel).toFixed(0)} MB/s`, `${median(eg.direct).toFixed(0)} MB/s`, `${((median(eg.tunnel) / median(eg.direct)) * 100).toFixed(0)}%`, median(eg.tunnel) / median(eg.direct) >= 0.8 ? 'ok (>= 80%)' : 'UNDER 80% (proxy container: 1 CPU)'],
  );
  await Promise.all([allowed.remove({ force: true }), direct.remove({ force: true }), upstream.remove({ force: true })]);

  // 6. stop for certain: panic of 50 sandboxes, and a dead owner (kill -9) until nothing of its
  //    sandboxes is left on the engine, each against `docker rm -f` of as many plain containers
  const N = 50;
  const makeSandboxes = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 5) await Promise.all(Array.from({ length: Math.min(5, n - i) }, () => warden.create({ lifetime: 'persistent' })));
  };
  const makeRaw = async (n: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 5) {
      ids.push(...(await Promise.all(Array.from({ length: Math.min(5, n - i) }, async () => { const c = await docker.createContainer(hardened(`warden-bench-raw-${process.pid}-${seq++}`)); await c.start(); return c.id; }))));
    }
    return ids;
  };
  const rmF = async (ids: string[]): Promise<number> => time(async () => execFileSync(dockerCli, ['rm', '-f', ...ids], { stdio: 'ignore' }));
  await makeSandboxes(N);
  const panicMs = await time(() => warden.panic({ labels: LABELS }));
  const rawPanicMs = await rmF(await makeRaw(N));
  rows.push([`panic of ${N} sandboxes`, `${panicMs.toFixed(0)} ms`, '-', `${rawPanicMs.toFixed(0)} ms`, `${(panicMs / rawPanicMs).toFixed(3)} (vs docker rm -f)`, panicMs <= 2000 ? 'ok (<= 2 s)' : 'OVER 2 s']);

  const D = 10;
  const { spawn } = await import('node:child_process');
  const owner = spawn('node', [fileURLToPath(new URL('./lib/bench-owner.mjs', import.meta.url)), String(process.pid), String(D)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => owner.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
  const ids = (JSON.parse(line) as { ids: string[] }).ids;
  const leftOf = async (): Promise<number> => {
    const per = await Promise.all(ids.map(async (id) => (await docker.listContainers({ all: true, filters: { label: [`warden.id=${id}`] } })).length));
    return per.reduce((a, b) => a + b, 0);
  };
  const t0 = performance.now();
  owner.kill('SIGKILL');
  while ((await leftOf()) > 0) await new Promise((r) => setTimeout(r, 50));
  const deadMs = performance.now() - t0;
  const rawDeadMs = await rmF(await makeRaw(D));
  rows.push([`owner kill -9 -> nothing of ${D} left`, `${deadMs.toFixed(0)} ms`, '-', `${rawDeadMs.toFixed(0)} ms`, `${(deadMs / rawDeadMs).toFixed(3)} (vs docker rm -f)`, deadMs <= 10_000 ? 'ok (<= 10 s)' : 'OVER 10 s']);
} finally {
  const left = await docker.listContainers({ all: true, filters: { label: [`warden.bench=${process.pid}`] } });
  await Promise.all(left.map((l) => docker.getContainer(l.Id).remove({ force: true })));
}

const head = ['operation', 'warden', 'raw dockerode', 'docker CLI', 'ratio (cost vs raw)', 'goal <=1.10'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
console.log('\nratio = Warden cost / raw dockerode cost (time for latency, 1/throughput for rates); medians, interleaved runs.');

const egressRows = [...(await benchEgress()), ...containerEgress];
const eh = ['egress proxy', 'through proxy', 'direct', 'proxy vs direct', 'goal'];
const ew = eh.map((h, i) => Math.max(h.length, ...egressRows.map((r) => r[i]!.length)));
console.log('');
for (const r of [eh, ...egressRows]) console.log(r.map((c, i) => c.padEnd(ew[i]!)).join('  '));
console.log(`\n${EGRESS_FOOTNOTE.join('\n')}`);
