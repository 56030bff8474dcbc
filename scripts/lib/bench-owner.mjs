// A Warden process for the dead-man benchmark: makes N ephemeral sandboxes (labelled with the bench
// label), prints their ids as one JSON line, then idles until it is killed (kill -9 by the benchmark).
// Args: <label value> <count>
import { Warden } from '../../dist/index.js';

const [label, count] = process.argv.slice(2);
const warden = new Warden({ owner: `bench-owner-${process.pid}`, labels: { 'warden.bench': label } });
const ids = [];
for (let i = 0; i < Number(count); i += 5) {
  const batch = await Promise.all(Array.from({ length: Math.min(5, Number(count) - i) }, () => warden.create({})));
  ids.push(...batch.map((sb) => sb.id));
}
process.stdout.write(`${JSON.stringify({ ids })}\n`);
setInterval(() => {}, 1 << 30);
