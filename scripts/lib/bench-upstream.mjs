// The egress benchmark's upstream, in a process of its own (so it does not share an event loop with
// the client): HTTP (`/` small, `/big` 64 MiB), a TCP source that sends 256 MiB on connect (at full
// speed, or paced at WARDEN_BENCH_RATES MB/s on extra ports) and a TCP sink. Prints its ports as JSON.
// In a container (WARDEN_BENCH_HOST=0.0.0.0) the HTTP port is WARDEN_BENCH_HTTP_PORT and it runs until
// stopped; otherwise it listens on loopback and exits when its parent closes its stdin.
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';

const MIB = 1024 * 1024;
const BIG = Buffer.alloc(64 * MIB, 1);
const CHUNK = Buffer.alloc(MIB, 2);
const TOTAL = 256 * MIB;

/** Sends TOTAL bytes; with a rate (bytes/ms) it paces itself like a link of that speed. */
function source(rate) {
  return createTcpServer((s) => {
    s.on('error', () => s.destroy());
    const start = performance.now();
    let sent = 0;
    const pump = () => {
      const allowed = rate ? Math.min(TOTAL, Math.floor(rate * (performance.now() - start))) : TOTAL;
      while (sent < allowed) {
        const n = Math.min(CHUNK.length, allowed - sent, TOTAL - sent);
        sent += n;
        if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void s.once('drain', pump);
      }
      if (sent >= TOTAL) s.end();
      else setTimeout(pump, 1);
    };
    pump();
  });
}

const rates = (process.env.WARDEN_BENCH_RATES ?? '').split(',').filter(Boolean).map(Number);
const servers = {
  http: createServer((req, res) => res.end(req.url === '/big' ? BIG : 'ok')),
  source: source(0),
  sink: createTcpServer((s) => s.on('error', () => s.destroy()).resume().on('end', () => s.end())),
  ...Object.fromEntries(rates.map((r) => [`paced${r}`, source((r * 1e6) / 1000)])),
};
const host = process.env.WARDEN_BENCH_HOST ?? '127.0.0.1';
await Promise.all(Object.entries(servers).map(([k, s]) => new Promise((resolve) => s.listen(k === 'http' ? Number(process.env.WARDEN_BENCH_HTTP_PORT ?? 0) : 0, host, resolve))));
process.stdout.write(`${JSON.stringify(Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, s.address().port])))}\n`);
if (host === '127.0.0.1') process.stdin.on('end', () => process.exit(0)).resume();
