// A Warden process that starts a command with a timeout, prints the sandbox id, and idles until killed.
import { Warden } from '../../dist/index.js';

const [runId] = process.argv.slice(2);
const warden = new Warden({ owner: `deadline-child-${process.pid}`, labels: { 'warden.test-run': runId } });
const sb = await warden.create({ lifetime: 'persistent' });
// a deadline long enough for the test to see both sleeps and kill this process first, even under load
const p = await sb.spawn(['sh', '-c', 'sleep 4444 & setsid sleep 4445 >/dev/null 2>&1 & wait'], { timeoutMs: 6000 });
p.stdout.resume();
p.stderr.resume();
process.stdout.write(`${sb.containerId} ${Date.now()}\n`);
setInterval(() => {}, 1 << 30);
