/**
 * Entry point of the egress proxy container (image warden-egress): reads its policy from
 * WARDEN_EGRESS_CONFIG, listens on :3128, writes one JSON audit line per request to stdout (Warden
 * reads them back as the container's log) and stops on SIGTERM.
 */
import type { CredentialRoute } from './credentials.js';
import { buildRules } from './policy.js';
import { createEgressProxy } from './proxy.js';

interface Config { presets?: string[]; allow?: string[]; addHosts?: Record<string, string>; port?: number }

const config = JSON.parse(process.env.WARDEN_EGRESS_CONFIG ?? '{}') as Config;
// The credential routes carry secrets: they come in their own variable and are never printed.
const routes = JSON.parse(process.env.WARDEN_EGRESS_ROUTES ?? '[]') as CredentialRoute[];
delete process.env.WARDEN_EGRESS_ROUTES;
const rules = buildRules(config.presets ?? [], config.allow ?? []);
const server = createEgressProxy({ rules, routes, ...(config.addHosts ? { addHosts: config.addHosts } : {}) }, (r) => {
  process.stdout.write(`${JSON.stringify({ egress: r })}\n`);
});
server.listen(config.port ?? 3128, '0.0.0.0', () => process.stdout.write(`${JSON.stringify({ ready: true, rules: rules.length, routes: routes.map((r) => r.provider) })}\n`));
// One broken connection must never take every sandbox request down with it: log and keep serving.
process.on('uncaughtException', (err) => process.stderr.write(`warden egress: ${err.stack ?? String(err)}\n`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));
// Tied to an ephemeral sandbox's owner (the dead-man switch): the owner holds stdin; EOF means it is gone.
if (process.env.WARDEN_TIED === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
