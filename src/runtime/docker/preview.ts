import { companionHardening } from '../../policy/hardening.js';
import { LABEL } from '../../policy/labels.js';
import type { SandboxPlan } from '../sandbox-runtime.js';
import type { DockerEngine } from './engine.js';
import type { EngineContainer, PortBinding } from './engine-types.js';
import { PROXY_IMAGE } from './egress.js';
import { companionLabels } from './record-labels.js';
import { sharedNetworkId } from './shared-network.js';

/**
 * Preview forwarders: how a browser on the host reaches a port of an allowlisted sandbox.
 *
 * An allowlisted sandbox sits on its own `internal` network (no route out, no host address), and the
 * engine publishes no ports of containers on internal networks. So a second small container, the
 * forwarder, joins that network and `warden-preview`, a bridge with inter-container traffic off and no
 * masquerading (so no working route out, yet published ports work), and publishes the sandbox's ports there on 127.0.0.1 (host port chosen by the engine). It is a
 * plain TCP pipe host → sandbox:port (src/egress/forwarder.ts): it accepts connections only on the published ports and connects
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

export interface PreviewContext {
  plan: SandboxPlan;
  /** The sandbox's name on its network: the forwarder reaches it by this name. */
  target: string;
  /** The sandbox's internal network. */
  network: string;
}

/** The id of `warden-preview` (non-NAT, no inter-container traffic), made when missing; see shared-network.ts. */
export function previewNetworkId(engine: DockerEngine, labels: Record<string, string>): Promise<string> {
  return sharedNetworkId(engine, { name: PREVIEW_NETWORK, internal: false, icc: false, masquerade: false, labels: { ...labels, [LABEL.role]: ROLE_PREVIEW_NETWORK } });
}

/** Create and start the forwarder of an allowlisted sandbox with published ports. */
export async function createPreview(engine: DockerEngine, ctx: PreviewContext): Promise<EngineContainer> {
  const { plan } = ctx;
  const tied = plan.lifetime === 'ephemeral';
  const previewNet = await previewNetworkId(engine, plan.labels);
  return engine.create({
    name: previewContainerName(plan.id),
    image: PROXY_IMAGE,
    cmd: ['node', '/app/forwarder.js', ctx.target, ...plan.preview.map((p) => String(p.containerPort))],
    env: tied ? { WARDEN_TIED: '1' } : {},
    labels: companionLabels(plan, ROLE_PREVIEW),
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
    ports: plan.preview,
    tiedToOwner: tied,
  });
}

/** The forwarder of a sandbox, if it has one. */
export async function findPreview(engine: DockerEngine, id: string): Promise<EngineContainer | undefined> {
  const [p] = await engine.list({ [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.role]: ROLE_PREVIEW });
  return p;
}

/** Remove a sandbox's forwarder. Safe when there is none. */
export async function removePreview(engine: DockerEngine, id: string): Promise<void> {
  const p = await findPreview(engine, id);
  if (p) await engine.remove(p.id, { force: true });
}

/** The host ports of a sandbox's forwarder (none while it is stopped or missing). */
export async function forwarderPorts(engine: DockerEngine, id: string): Promise<PortBinding[]> {
  const p = await findPreview(engine, id);
  if (!p || p.state !== 'running') return [];
  return (await engine.inspect(p.id))?.ports.filter((b) => b.hostPort > 0) ?? [];
}

/** What the forwarder's log says of preview traffic: the last event's time and how many connections are open. */
export async function previewActivity(engine: DockerEngine, id: string): Promise<{ at: number; open: number } | undefined> {
  const p = await findPreview(engine, id);
  if (!p) return undefined;
  const lines = (await engine.logs(p.id, 5)).split('\n').reverse();
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
