/**
 * Egress proxy overhead, measured in one run against the same local upstream (`npm run bench:egress`,
 * also part of `npm run bench`). Client (this process), upstream (scripts/lib/bench-upstream.mjs) and
 * proxy (src/egress/main.ts, as in its container) are three processes, so none shares an event loop.
 *
 * Rows: small-request latency; HTTP download; CONNECT download and upload at full loopback speed;
 * CONNECT downloads from an upstream paced like a 1 and a 10 Gbit/s link. Ratios are medians of
 * adjacent direct/proxy pairs (alternating order), which drift on a shared VM affects alike.
 *
 * At full loopback speed the direct path is bounded by CPU, and a relay doubles the TCP work (two
 * connections instead of one), so no relay reaches 80% there on a small machine. To show where that
 * ceiling lies, the run also measures a kernel splice(2) relay (scripts/lib/splice-relay.py, needs
 * python3): the leanest relay there is, copying nothing in user space.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const MIB = 1024 * 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
/** Link speeds the paced upstream imitates, MB/s (1 and 10 Gbit/s). */
const PACED = { '1 Gbit/s': 125, '10 Gbit/s': 1250 } as const;

/** The first line a child prints (its ports, or that it is ready); the rest of its output is drained. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += String(chunk);
      if (!buf.includes('\n')) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(buf.split('\n')[0]!);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${child.spawnfile} exited (${code}) before it was ready`)));
  });
}

async function freePort(): Promise<number> {
  const probe = createTcpServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  probe.close();
  return port;
}

/** CPU time (user + system) a process has used so far, ms; Linux only. */
function cpuMs(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Runs `a` and `b` n times in adjacent pairs (order alternating); returns their medians and the median b/a. */
async function pairs(n: number, a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: number; b: number; ratio: number }> {
  await a();
  await b();
  const as: number[] = [];
  const bs: number[] = [];
  const rs: number[] = [];
  for (let i = 0; i < n; i++) {
    let x: number;
    let y: number;
    if (i % 2 === 0) {
      x = await a();
      y = await b();
    } else {
      y = await b();
      x = await a();
    }
    as.push(x);
    bs.push(y);
    rs.push(y / x);
  }
  return { a: median(as), b: median(bs), ratio: median(rs) };
}

/** Printed under the egress table: how to read it. */
export const EGRESS_FOOTNOTE = [
  'loopback rows: CPU-bound on this machine, and a relay doubles the TCP work, so the splice(2) row is the ceiling for any proxy;',
  'paced rows: an upstream sending like a 1 or 10 Gbit/s link, i.e. what a real network gives. See docs/ARCHITECTURE.md, "Proxy data path".',
];

export async function benchEgress(): Promise<string[][]> {
  const children: ChildProcess[] = [];
  const start = (cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(c);
    return c;
  };
  try {
    const upstream = start(process.execPath, [here('./lib/bench-upstream.mjs')], { WARDEN_BENCH_RATES: Object.values(PACED).join(',') });
    const ports = JSON.parse(await firstLine(upstream)) as Record<string, number>;
    const proxyPort = await freePort();
    const config = { allow: Object.values(ports).map((p) => `bench.local:${p}`), addHosts: { 'bench.local': '127.0.0.1' }, port: proxyPort };
    // the proxy as its container runs it (WARDEN_TIED: it exits when this process goes away)
    const proxy = start(process.execPath, ['--import', 'tsx', here('../src/egress/main.ts')], { WARDEN_EGRESS_CONFIG: JSON.stringify(config), WARDEN_TIED: '1' });
    await firstLine(proxy);
    const python = spawnSync('python3', ['-c', 'import os; os.splice'], { stdio: 'ignore' }).status === 0;
    const splicePort = python ? (JSON.parse(await firstLine(start('python3', [here('./lib/splice-relay.py'), String(ports.source)]))) as { port: number }).port : undefined;

    const agent = new Agent({ keepAlive: true });
    const get = (viaProxy: boolean, path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const t = performance.now();
        const opts = viaProxy ? { agent, host: '127.0.0.1', port: proxyPort, path: `http://bench.local:${ports.http}${path}` } : { agent, host: '127.0.0.1', port: ports.http, path };
        request(opts, (res) => {
          res.resume();
          res.on('end', () => resolve(performance.now() - t));
        })
          .on('error', reject)
          .end();
      });
    /** Opens a TCP stream to `port`, directly or through a CONNECT tunnel; resolves once data may flow. */
    const open = (port: number, via: 'direct' | 'proxy' | 'splice'): Promise<{ s: ReturnType<typeof connect>; rest: Buffer }> =>
      new Promise((resolve, reject) => {
        const s = connect(via === 'proxy' ? proxyPort : via === 'splice' ? splicePort! : port, '127.0.0.1');
        s.on('error', reject);
        if (via !== 'proxy') return void s.once('connect', () => resolve({ s, rest: Buffer.alloc(0) }));
        s.once('connect', () => s.write(`CONNECT bench.local:${port} HTTP/1.1\r\n\r\n`));
        let head = Buffer.alloc(0);
        const onData = (d: Buffer): void => {
          head = Buffer.concat([head, d]);
          const i = head.indexOf('\r\n\r\n');
          if (i < 0) return;
          s.off('data', onData);
          s.pause();
          if (!head.subarray(0, 12).equals(Buffer.from('HTTP/1.1 200'))) return reject(new Error(head.toString()));
          resolve({ s, rest: head.subarray(i + 4) });
        };
        s.on('data', onData);
      });
    /** MB/s of a 256 MiB download from `port` (the source, or a paced source). */
    const download = async (port: number, via: 'direct' | 'proxy' | 'splice'): Promise<number> => {
      const { s, rest } = await open(port, via);
      const t = performance.now();
      let n = rest.length;
      s.on('data', (d: Buffer) => (n += d.length));
      s.resume();
      await once(s, 'end');
      if (n !== 256 * MIB) throw new Error(`download through ${via}: ${n} bytes, expected ${256 * MIB}`);
      return 256 * MIB / 1e3 / (performance.now() - t);
    };
    /** MB/s of a 256 MiB upload to the sink. */
    const upload = async (via: 'direct' | 'proxy'): Promise<number> => {
      const { s } = await open(ports.sink!, via);
      s.resume();
      const chunk = Buffer.alloc(MIB, 3);
      const t = performance.now();
      for (let i = 0; i < 256; i++) if (!s.write(chunk)) await once(s, 'drain');
      s.end();
      await once(s, 'close');
      return 256 * MIB / 1e3 / (performance.now() - t);
    };

    for (let i = 0; i < 50; i++) await get(i % 2 === 0, '/');
    const lat = await pairs(401, () => get(false, '/'), () => get(true, '/'));
    const http = await pairs(11, async () => 64 * MIB / 1e3 / (await get(false, '/big')), async () => 64 * MIB / 1e3 / (await get(true, '/big')));
    const cpu0 = cpuMs(proxy.pid!);
    const down = await pairs(9, () => download(ports.source!, 'direct'), () => download(ports.source!, 'proxy'));
    const cpu1 = cpuMs(proxy.pid!);
    const ref = splicePort ? await pairs(9, () => download(ports.source!, 'direct'), () => download(ports.source!, 'splice')) : undefined;
    const up = await pairs(7, () => upload('direct'), () => upload('proxy'));
    const paced = [];
    for (const [name, rate] of Object.entries(PACED)) {
      const port = ports[`paced${rate}`]!;
      paced.push({ name, ...(await pairs(rate < 500 ? 3 : 7, () => download(port, 'direct'), () => download(port, 'proxy'))) });
    }
    agent.destroy();

    const mbs = (x: number): string => `${x.toFixed(0)} MB/s`;
    const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
    const versus = (ratio: number, ceiling?: number): string =>
      ratio >= 0.8 ? 'ok (>= 80%)' : ceiling !== undefined ? `UNDER 80% (a splice(2) relay: ${pct(ceiling)} on the download)` : 'UNDER 80%';
    // ceiling for the rows without their own splice run: the download one (same kind of transfer)
    const ceiling = ref?.ratio;
    // CPU per GiB over the 2 x 10 proxied downloads (one warm-up pair included)
    const perGiB = cpu0 !== undefined && cpu1 !== undefined ? `; proxy CPU ${(((cpu1 - cpu0) / (10 * 256)) * 1024).toFixed(0)} ms/GiB` : '';
    return [
      ['request latency (small GET)', `${lat.b.toFixed(3)} ms`, `${lat.a.toFixed(3)} ms`, `+${(lat.b - lat.a).toFixed(3)} ms`, lat.b - lat.a <= 1 ? 'ok (<= +1 ms)' : 'OVER +1 ms'],
      ['HTTP download 64 MiB, loopback', mbs(http.b), mbs(http.a), pct(http.ratio), versus(http.ratio, ceiling)],
      ['CONNECT download 256 MiB, loopback', mbs(down.b), mbs(down.a), pct(down.ratio), versus(down.ratio, ceiling) + perGiB],
      ...(ref ? [['  splice(2) relay, same download (reference)', mbs(ref.b), mbs(ref.a), pct(ref.ratio), 'the ceiling for any relay on this machine']] : []),
      ['CONNECT upload 256 MiB, loopback', mbs(up.b), mbs(up.a), pct(up.ratio), versus(up.ratio, ceiling)],
      ...paced.map((p) => [`CONNECT download, ${p.name} upstream`, mbs(p.b), mbs(p.a), pct(p.ratio), versus(p.ratio)]),
    ];
  } finally {
    for (const c of children) c.kill();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchEgress();
  const head = ['egress proxy', 'through proxy', 'direct', 'proxy vs direct', 'goal'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  console.log(`\n${EGRESS_FOOTNOTE.join('\n')}`);
}
