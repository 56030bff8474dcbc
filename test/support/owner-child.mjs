// A separate Warden process for the dead-man and shutdown tests: creates sandboxes, prints their ids
// as one JSON line, then idles until it is killed. Args: <runLabel> <handleSignals:0|1>
import { Warden } from '../../dist/index.js';

const [runId, handle] = process.argv.slice(2);
const warden = new Warden({ owner: `owner-child-${process.pid}`, labels: { 'warden.test-run': runId }, handleSignals: handle === '1' });
const eph = await warden.create({ lifetime: 'ephemeral' });
const per = await warden.create({ lifetime: 'persistent' });
// a workload that would outlive a careless supervisor: double-forked, setsid, ignoring SIGTERM
const p = await eph.spawn(['sh', '-c', '(setsid sh -c "trap \\"\\" TERM; exec sleep 4343" >/dev/null 2>&1 &); echo ok']);
p.stdout.resume();
p.stderr.resume();
await p.wait();
process.stdout.write(`${JSON.stringify({ ephemeral: eph.containerId, persistent: per.containerId })}\n`);
setInterval(() => {}, 1 << 30);
