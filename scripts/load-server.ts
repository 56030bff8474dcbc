/**
 * `npx tsx scripts/load-server.ts [--sandboxes 50] [--lines 200] [--rounds 3]`: load on a Warden server
 * through its HTTP API, loopback only. Starts an in-process server on 127.0.0.1 (own data dir, own labels),
 * creates N sandboxes concurrently, runs `rounds` streamed execs (SSE) in every sandbox at once, each
 * printing `lines` numbered lines on stdout and stderr, and checks every line and exit event arrived in
 * order. Then removes everything and counts leftovers. Prints p50/p99 latencies and errors. Not a test.
 */
import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readSse } from '../src/client/sse.js';
import { createLogger } from '../src/log.js';
import { buildServer } from '../src/server/build.js';
import { Warden } from '../src/sandbox/warden.js';
import { WardenStore } from '../src/store/store.js';

const { values: a } = parseArgs({ options: { sandboxes: { type: 'string', default: '50' }, lines: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } } });
const N = Number(a.sandboxes);
const LINES = Number(a.lines);
const ROUNDS = Number(a.rounds);
const run = `load-${randomBytes(3).toString('hex')}`;
const labels = { 'warden.load': run };
const docker = new Docker();

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const fmt = (xs: number[]): string => `p50 ${pct(xs, 50).toFixed(0)} ms  p99 ${pct(xs, 99).toFixed(0)} ms  max ${Math.max(...xs).toFixed(0)} ms  (n=${xs.length})`;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'warden-load-'));
  const log = createLogger('error');
  const token = randomBytes(24).toString('hex');
  const store = WardenStore.open(dataDir);
  const server = await buildServer({ warden: new Warden({ owner: run, labels, logger: log }), store, token, log, panicScope: labels, sampleIntervalMs: 5000 });
  await server.start();
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.app.server.address() as { port: number }).port}`;
  const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const errors: string[] = [];
  const createMs: number[] = [];
  const firstByteMs: number[] = [];
  const execMs: number[] = [];
  let lost = 0;
  let events = 0;
  console.log(`load: ${N} sandboxes, ${ROUNDS} rounds of streamed execs with ${LINES} lines on stdout and stderr each, server ${url}`);

  const t0 = performance.now();
  const ids = (
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const t = performance.now();
        const res = await fetch(`${url}/api/v1/sandboxes`, { method: 'POST', headers: h, body: JSON.stringify({ name: `${run}-${i}`, resources: { memory: '64m', cpus: 0.25, pids: 64 } }) });
        const body = (await res.json()) as { sandbox?: { id: string }; error?: { message: string } };
        createMs.push(performance.now() - t);
        if (res.status !== 201) errors.push(`create ${i}: ${res.status} ${body.error?.message}`);
        return body.sandbox?.id;
      }),
    )
  ).filter((x): x is string => Boolean(x));
  console.log(`created ${ids.length}/${N} in ${((performance.now() - t0) / 1000).toFixed(1)} s; create latency ${fmt(createMs)}`);

  const script = `for i in $(seq 1 ${LINES}); do echo "o $i"; echo "e $i" >&2; done`;
  for (let r = 0; r < ROUNDS; r++) {
    const tr = performance.now();
    await Promise.all(
      ids.map(async (id) => {
        const t = performance.now();
        try {
          const res = await fetch(`${url}/api/v1/sandboxes/${id}/exec/stream`, { method: 'POST', headers: h, body: JSON.stringify({ cmd: ['sh', '-c', script] }) });
          if (res.status !== 200) throw new Error(`HTTP ${res.status} ${await res.text()}`);
          let first = true;
          let seq = 0;
          let out = '';
          let err = '';
          let exit: { exitCode: number } | undefined;
          for await (const { event: ev, data } of readSse(res.body!)) {
            const d = data as { seq?: number; data?: string; exitCode?: number };
            events++;
            if (ev === 'stdout' || ev === 'stderr') {
              if (first) firstByteMs.push(performance.now() - t), (first = false);
              if (ev === 'stdout') out += d.data;
              else err += d.data;
            }
            if (d.seq !== undefined) {
              if (d.seq !== seq + 1) lost += Math.abs(d.seq - seq - 1);
              seq = d.seq;
            }
            if (ev === 'exit') exit = d as { exitCode: number };
          }
          const want = (p: string) => Array.from({ length: LINES }, (_, i) => `${p} ${i + 1}\n`).join('');
          if (out !== want('o') || err !== want('e')) {
            lost++;
            errors.push(`${id}: output incomplete (${out.length}/${want('o').length} stdout bytes, ${err.length}/${want('e').length} stderr bytes)`);
          }
          if (!exit || exit.exitCode !== 0) errors.push(`${id}: exit ${JSON.stringify(exit)}`);
          execMs.push(performance.now() - t);
        } catch (e) {
          errors.push(`${id}: ${(e as Error).message}`);
        }
      }),
    );
    console.log(`round ${r + 1}: ${ids.length} concurrent streamed execs in ${((performance.now() - tr) / 1000).toFixed(1)} s`);
  }
  console.log(`stream first byte ${fmt(firstByteMs)}`);
  console.log(`stream exec total ${fmt(execMs)}`);

  const metrics = await (await fetch(`${url}/metrics`, { headers: h })).text();
  const apiP = /warden_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/sandboxes\/:id\/exec\/stream",status="200"\} (\d+)/.exec(metrics)?.[1];
  const tr = performance.now();
  await Promise.all(ids.map(async (id) => {
    const res = await fetch(`${url}/api/v1/sandboxes/${id}?force=true`, { method: 'DELETE', headers: { authorization: h.authorization } });
    if (res.status !== 200) errors.push(`remove ${id}: ${res.status}`);
  }));
  console.log(`removed ${ids.length} in ${((performance.now() - tr) / 1000).toFixed(1)} s`);
  await server.close();
  store.close();
  await rm(dataDir, { recursive: true, force: true });
  const leaked = await docker.listContainers({ all: true, filters: { label: [`warden.load=${run}`] } });
  for (const c of leaked) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  console.log(`events received: ${events}; stream requests the server counted: ${apiP ?? '?'}`);
  console.log(`RESULT: errors ${errors.length}, lost events ${lost}, leaked containers ${leaked.length}`);
  for (const e of errors.slice(0, 20)) console.log(`  ${e}`);
  process.exitCode = errors.length || lost || leaked.length ? 1 : 0;
}

await main();
