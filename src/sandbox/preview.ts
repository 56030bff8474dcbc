import { companionHardening } from '../policy/hardening.js';
import { LABEL } from '../policy/labels.js';
import type { ContainerRuntime, PortBinding, RuntimeContainer } from '../runtime/runtime.js';
import { PROXY_IMAGE } from '../egress/topology.js';
import { sharedNetworkId } from '../runtime/shared-network.js';

/**
 * Preview forwarders: how a browser on the host reaches a port of an allowlisted sandbox.
 *
 * An allowlisted sandbox sits on its own `internal` network (no route out, no host address), and the
 * engine publishes no ports of containers on internal networks. So a second small container, the
 * forwarder, joins that network and `warden-preview`, a bridge with inter-container traffic off and no
 * masquerading (so no working route out, yet published ports work), and publishes the sandbox's ports there on 127.0.0.1 (host port chosen by the engine). It is a
 * plain TCP pipe host → sandbox:port: it accepts connections only on the published ports and connects
 * only to its sandbox, so the sandbox gains no way out through it (what it sends back travels on
 * connections the host opened). Non-root, read-only, no capabilities, small caps, Warden's egress
 * image (Node), tied to the owner like the sandbox.
 *
 *   browser ─ 127.0.0.1:<port> ─ forwarder ─(warden-net-<id>, internal)─ sandbox:3001
 *
 * It writes one JSON line per connection opened or closed (with the count still open), which the
 * idle policy reads as preview activity.
 */
export const PREVIEW_NETWORK = 'warden-preview';
export const ROLE_PREVIEW = 'preview-forwarder';
export const ROLE_PREVIEW_NETWORK = 'preview-network';

export function previewContainerName(id: string): string {
  return `warden-preview-${id}`;
}

/** The forwarder's program (CommonJS for `node -e`): argv = target host, then the ports. */
const FORWARDER = `
const net = require('net');
const [target, ...ports] = process.argv.slice(1);
let open = 0;
const log = (ev, port) => process.stdout.write(JSON.stringify({ preview: ev, port, open, t: new Date().toISOString() }) + '\\n');
for (const p of ports.map(Number)) {
  net.createServer((c) => {
    open++; log('open', p);
    const u = net.connect({ host: target, port: p });
    let done = false;
    const end = () => { if (done) return; done = true; open--; log('close', p); c.destroy(); u.destroy(); };
    for (const s of [c, u]) { s.on('error', end); s.on('close', end); }
    c.pipe(u); u.pipe(c);
  }).listen(p, '0.0.0.0', () => log('listening', p));
}
process.on('uncaughtException', (err) => process.stderr.write('warden preview: ' + (err && err.stack || err) + '\\n'));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
if (process.env.WARDEN_TIED === '1') { process.stdin.on('end', () => process.exit(0)); process.stdin.resume(); }
`;

export interface PreviewContext {
  id: string;
  /** The sandbox's container name: the forwarder reaches it by this name on the sandbox network. */
  target: string;
  /** The sandbox's internal network. */
  network: string;
  ports: Array<{ containerPort: number; hostIp: string; hostPort?: number }>;
  labels: Record<string, string>;
  tiedToOwner: boolean;
}

/** The id of `warden-preview` (non-NAT, no inter-container traffic), made when missing; see shared-network.ts. */
export function previewNetworkId(runtime: ContainerRuntime, labels: Record<string, string>): Promise<string> {
  return sharedNetworkId(runtime, { name: PREVIEW_NETWORK, internal: false, icc: false, masquerade: false, labels: { ...labels, [LABEL.role]: ROLE_PREVIEW_NETWORK } });
}

/** Create and start the forwarder of an allowlisted sandbox with published ports. */
export async function createPreview(runtime: ContainerRuntime, ctx: PreviewContext): Promise<RuntimeContainer> {
  const previewNet = await previewNetworkId(runtime, ctx.labels);
  return runtime.create({
    name: previewContainerName(ctx.id),
    image: PROXY_IMAGE,
    cmd: ['node', '-e', FORWARDER, ctx.target, ...ctx.ports.map((p) => String(p.containerPort))],
    env: ctx.tiedToOwner ? { WARDEN_TIED: '1' } : {},
    labels: { ...ctx.labels, [LABEL.managed]: 'true', [LABEL.id]: ctx.id, [LABEL.role]: ROLE_PREVIEW },
    hardening: companionHardening('65534:65534'),
    workdir: '/',
    mounts: [],
    tmpfs: [{ target: '/tmp', sizeBytes: 4 * 1024 * 1024, mode: '1777' }],
    memoryBytes: 64 * 1024 * 1024,
    nanoCpus: 0.5e9,
    pidsLimit: 32,
    // the published network first: the engine publishes ports on the endpoints of non-internal networks
    network: { name: previewNet },
    extraNetworks: [{ name: ctx.network }],
    ports: ctx.ports,
    tiedToOwner: ctx.tiedToOwner,
  });
}

/** The forwarder of a sandbox, if it has one. */
export async function findPreview(runtime: ContainerRuntime, id: string): Promise<RuntimeContainer | undefined> {
  const [p] = await runtime.list({ [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.role]: ROLE_PREVIEW });
  return p;
}

/** Remove a sandbox's forwarder. Safe when there is none. */
export async function removePreview(runtime: ContainerRuntime, id: string): Promise<void> {
  const p = await findPreview(runtime, id);
  if (p) await runtime.remove(p.id, { force: true });
}

/**
 * The host ports through which a sandbox is reached: its own (network 'open') or its forwarder's
 * (network 'allowlist'; none while the forwarder is stopped).
 */
export async function reachablePorts(runtime: ContainerRuntime, c: RuntimeContainer): Promise<PortBinding[]> {
  if (c.ports.length > 0) return c.ports;
  const id = c.labels[LABEL.id];
  if (!id || !/"network":"allowlist"/.test(c.labels[LABEL.spec] ?? '') || !/"ports":\[[^\]]/.test(c.labels[LABEL.spec] ?? '')) return c.ports;
  const p = await findPreview(runtime, id);
  if (!p || p.state !== 'running') return [];
  return (await runtime.inspect(p.id))?.ports.filter((b) => b.hostPort > 0) ?? [];
}

/** What the forwarder's log says of preview traffic: the last event's time and how many connections are open. */
export async function previewActivity(runtime: ContainerRuntime, id: string): Promise<{ at: number; open: number } | undefined> {
  const p = await findPreview(runtime, id);
  if (!p) return undefined;
  const lines = (await runtime.logs(p.id, 5)).split('\n').reverse();
  for (const line of lines) {
    try {
      const ev = JSON.parse(line) as { preview?: string; open?: number; t?: string };
      if (ev.preview && ev.t) return { at: Date.parse(ev.t), open: ev.open ?? 0 };
    } catch {
      /* not one of ours */
    }
  }
  return undefined;
}
