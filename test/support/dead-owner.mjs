// A separate Warden process that owns sandboxes and is then killed with kill -9 by the test (the
// dead-man and "nothing left behind" tests). Args: <runLabel> <kind: plain|allowlist|attack>
// Prints one JSON line { ids: [...sandbox ids] } once everything is made, then idles.
import { Warden } from '../../dist/index.js';

const [runId, kind] = process.argv.slice(2);
const warden = new Warden({ owner: `dead-owner-${process.pid}`, labels: { 'warden.test-run': runId } });
const ids = [];
const sbs = [];
if (kind === 'allowlist') {
  const sb = await warden.create({ network: 'allowlist', egress: { allow: ['example.invalid'] }, ports: [3000], workspaceVolume: true });
  ids.push(sb.id);
  sbs.push(sb);
} else {
  const sb = await warden.create({});
  ids.push(sb.id);
  sbs.push(sb);
}
if (kind === 'attack') {
  // the workload kills or stops every process it can reach that it did not start (the keeper, the
  // stdin reader of the dead-man switch, watchers), then leaves a survivor behind
  const r = await sbs[0].exec(['sh', '-c', 'for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = $$ ] && continue; kill -9 "$p" 2>/dev/null; kill -STOP "$p" 2>/dev/null; done; (setsid sh -c "exec sleep 4646" >/dev/null 2>&1 &); echo done']);
  if (!r.stdout.includes('done')) throw new Error(`attack did not run: ${r.stderr}`);
}
process.stdout.write(`${JSON.stringify({ ids, link: warden.ownerLink })}\n`);
setInterval(() => {}, 1 << 30);
