/**
 * Egress proxy overhead on loopback-class paths, measured in one run against the same local upstream:
 * request latency (direct vs through the proxy), HTTP download throughput, CONNECT tunnel throughput.
 * Imported by scripts/bench.ts; prints its own table.
 */
import { once } from 'node:events';
import { Agent, createServer, request } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const BIG = Buffer.alloc(64 * 1024 * 1024, 1);

export async function benchEgress(): Promise<string[][]> {
  const upstream = createServer((req, res) => res.end(req.url === '/big' ? BIG : 'ok')).listen(0, '127.0.0.1');
  const sink = createTcpServer((s) => s.resume().on('end', () => s.end())).listen(0, '127.0.0.1');
  await Promise.all([once(upstream, 'listening'), once(sink, 'listening')]);
  const upPort = (upstream.address() as AddressInfo).port;
  const sinkPort = (sink.address() as AddressInfo).port;
  // the proxy runs in its own process, as in its container (built code: npm run build first)
  const probe = createTcpServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const proxyPort = (probe.address() as AddressInfo).port;
  probe.close();
  const config = { allow: [`bench.local:${upPort}`, `bench.local:${sinkPort}`], addHosts: { 'bench.local': '127.0.0.1' }, port: proxyPort };
  const proxy = spawn('node', [fileURLToPath(new URL('../dist/egress/main.js', import.meta.url))], { env: { ...process.env, WARDEN_EGRESS_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => proxy.stdout.once('data', () => resolve()));
  proxy.stdout.resume();
  const agent = new Agent({ keepAlive: true });

  const get = (viaProxy: boolean, path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const t = performance.now();
      const opts = viaProxy
        ? { agent, host: '127.0.0.1', port: proxyPort, path: `http://bench.local:${upPort}${path}` }
        : { agent, host: '127.0.0.1', port: upPort, path };
      request(opts, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t));
      }).on('error', reject).end();
    });

  const lat: Record<string, number[]> = { direct: [], proxy: [] };
  for (let i = 0; i < 50; i++) await get(i % 2 === 0, '/');
  for (let i = 0; i < 400; i++) {
    lat.direct!.push(await get(false, '/'));
    lat.proxy!.push(await get(true, '/'));
  }
  const thr: Record<string, number[]> = { direct: [], proxy: [] };
  for (let i = 0; i < 11; i++) {
    thr.direct!.push(64 / ((await get(false, '/big')) / 1000));
    thr.proxy!.push(64 / ((await get(true, '/big')) / 1000));
  }

  const pump = (viaProxy: boolean): Promise<number> =>
    new Promise((resolve, reject) => {
      const total = 256 * 1024 * 1024;
      const chunk = Buffer.alloc(1024 * 1024, 2);
      const s = connect(viaProxy ? proxyPort : sinkPort, '127.0.0.1');
      let t = 0;
      const send = (): void => {
        t = performance.now();
        let sent = 0;
        const write = (): void => {
          while (sent < total) {
            sent += chunk.length;
            if (!s.write(chunk)) return void s.once('drain', write);
          }
          s.end();
        };
        write();
      };
      s.on('close', () => resolve(256 / ((performance.now() - t) / 1000)));
      s.on('error', reject);
      if (!viaProxy) s.on('connect', send);
      else {
        s.on('connect', () => s.write(`CONNECT bench.local:${sinkPort} HTTP/1.1\r\n\r\n`));
        s.once('data', (d: Buffer) => (d.toString().startsWith('HTTP/1.1 200') ? send() : reject(new Error(d.toString()))));
      }
      s.resume();
    });
  const tun: Record<string, number[]> = { direct: [], proxy: [] };
  for (let i = 0; i < 7; i++) {
    tun.direct!.push(await pump(false));
    tun.proxy!.push(await pump(true));
  }
  agent.destroy();
  for (const s of [upstream, sink]) s.close();
  proxy.kill();

  const dl = median(lat.direct!);
  const pl = median(lat.proxy!);
  const r = (x: number) => x.toFixed(1);
  return [
    ['request latency (small GET)', `${pl.toFixed(3)} ms`, `${dl.toFixed(3)} ms`, `+${(pl - dl).toFixed(3)} ms`, pl - dl <= 1 ? 'ok (<= +1 ms)' : 'OVER +1 ms'],
    ['HTTP download 64 MiB', `${r(median(thr.proxy!))} MiB/s`, `${r(median(thr.direct!))} MiB/s`, `${((median(thr.proxy!) / median(thr.direct!)) * 100).toFixed(0)}%`, median(thr.proxy!) / median(thr.direct!) >= 0.8 ? 'ok (>= 80%)' : 'UNDER 80%'],
    ['CONNECT tunnel 256 MiB', `${r(median(tun.proxy!))} MiB/s`, `${r(median(tun.direct!))} MiB/s`, `${((median(tun.proxy!) / median(tun.direct!)) * 100).toFixed(0)}%`, median(tun.proxy!) / median(tun.direct!) >= 0.8 ? 'ok (>= 80%)' : 'UNDER 80%'],
  ];
}
