/**
 * A separate Warden process that owns one ephemeral unit (the dead-man tests kill it with SIGKILL):
 * makes its runtime with the target's production factory from the environment, creates the unit
 * from the plan options in argv[2] (JSON), prints `created <id>` and then holds. With `"release":true`
 * it releases its links, prints `released` and exits normally.
 */
import { plan, type PlanOptions } from './plan.js';
import { loadTarget } from './target.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as PlanOptions & { release?: boolean };
const t = await loadTarget();
const rt = t.make();
const p = plan(t, rt, { ...opts, lifetime: 'ephemeral' });
const u = await rt.create(p);
process.stdout.write(`created ${u.id}\n`);
if (opts.release) {
  rt.owner.release();
  await rt.close?.(); // waits for the lease tags to be dropped
  process.stdout.write('released\n');
  process.exit(0);
}
setInterval(() => undefined, 1 << 30); // hold, tied, until killed
