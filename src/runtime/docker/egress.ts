import { companionHardening } from '../../policy/hardening.js';
import { WardenError } from '../../errors.js';
import { LABEL } from '../../policy/labels.js';
import { credentialRoutes, type Provider } from '../../egress/credentials.js';
import { EGRESS_PROXY_HOST, EGRESS_PROXY_PORT } from '../../egress/env.js';
import { wardenImage } from '../../images/catalog.js';
import type { SandboxPlan } from '../sandbox-runtime.js';
import type { DockerEngine } from './engine.js';
import type { EngineContainer, EngineNetwork } from './engine-types.js';
import { companionLabels } from './record-labels.js';
import { sharedNetworkId } from './shared-network.js';

/**
 * The allowlist topology. Each sandbox gets its own `internal` bridge network with no host address on
 * it (so neither a route out nor a gateway to the host's services), shared only with its own egress
 * proxy. The proxy alone also joins `warden-egress`, an ordinary bridge with a route out.
 *
 *   sandbox ──(warden-net-<id>, internal, no gateway)── proxy ──(warden-egress)── upstreams
 */
export const EGRESS_NETWORK = 'warden-egress';
/** The proxy's name and port on the sandbox's network: the contract's EGRESS_PROXY_URL. */
export const PROXY_ALIAS = EGRESS_PROXY_HOST;
export const PROXY_PORT = EGRESS_PROXY_PORT;
export const PROXY_IMAGE = wardenImage('egress');
export const ROLE = { network: 'network', proxy: 'egress-proxy', egressNetwork: 'egress-network' } as const;

/** The default range sandbox networks come from, in /28 blocks (WARDEN_SUBNET_POOL, a /16, changes it). */
export const DEFAULT_SUBNET_POOL = '10.213.0.0/16';

/** A /16 as the pool of /28 blocks; INVALID_ARGUMENT for anything else. */
export function subnetPool(pool = DEFAULT_SUBNET_POOL): { base: [number, number]; blocks: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.exec(pool);
  if (!m) throw new WardenError('INVALID_ARGUMENT', `WARDEN_SUBNET_POOL '${pool}' must be a /16 such as 10.213.0.0/16`);
  return { base: [Number(m[1]), Number(m[2])], blocks: 4096 };
}

export function subnetOf(pool: { base: [number, number] }, block: number): string {
  return `${pool.base[0]}.${pool.base[1]}.${Math.floor(block / 16)}.${(block % 16) * 16}/28`;
}

export function sandboxNetworkName(id: string): string {
  return `warden-net-${id}`;
}

export function proxyContainerName(id: string): string {
  return `warden-egress-${id}`;
}

export interface EgressContext {
  plan: SandboxPlan & { egress: Extract<SandboxPlan['egress'], { mode: 'allowlist' }> };
  /** The /16 sandbox networks come from. */
  subnetPool: string;
}

/** The id of `warden-egress`, the proxies' way out, made when missing (race-safe: see shared-network.ts). */
function egressNetworkId(engine: DockerEngine, labels: Record<string, string>): Promise<string> {
  return sharedNetworkId(engine, { name: EGRESS_NETWORK, internal: false, labels: { ...labels, [LABEL.role]: ROLE.egressNetwork } });
}

/** Create the sandbox's private network on a free /28 (retrying when another caller took it first). */
async function createSandboxNetwork(engine: DockerEngine, ctx: EgressContext): Promise<EngineNetwork> {
  const pool = subnetPool(ctx.subnetPool);
  const id = ctx.plan.id;
  const used = new Set((await engine.listNetworks({ [LABEL.managed]: 'true' })).map((n) => n.subnet));
  for (let block = 0; block < pool.blocks; block++) {
    const subnet = subnetOf(pool, block);
    if (used.has(subnet)) continue;
    try {
      return await engine.createNetwork({
        name: sandboxNetworkName(id),
        internal: true,
        noHostAddress: true,
        bridgeName: `wd-${id.replace(/^sbx-/, '')}`.slice(0, 15),
        subnet,
        labels: companionLabels(ctx.plan, ROLE.network),
      });
    } catch (err) {
      if (err instanceof WardenError && err.details?.subnetTaken) continue;
      throw err;
    }
  }
  throw new WardenError('ENGINE_ERROR', `no free /28 left in WARDEN_SUBNET_POOL (${pool.blocks} sandbox networks exist); remove some or use another range`);
}

/**
 * Resolves once the proxy listens (its first log line says `"ready":true`): a sandbox's first request
 * must not race the proxy's start (a Node start takes 0.5-2 s on a loaded machine).
 */
export async function proxyReady(engine: DockerEngine, proxyId: string, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  for (let delay = 20; Date.now() - t0 < timeoutMs; delay = Math.min(delay * 2, 200)) {
    const log = await engine.logs(proxyId, 20);
    if (log.includes('"ready":true')) return;
    const c = await engine.inspect(proxyId);
    if (!c || c.state !== 'running') throw new WardenError('ENGINE_ERROR', `the egress proxy ${proxyId.slice(0, 12)} stopped before it listened: ${log.slice(-500) || 'no output'}`);
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new WardenError('ENGINE_ERROR', `the egress proxy ${proxyId.slice(0, 12)} did not listen within ${timeoutMs} ms`);
}

/** Network and proxy for an allowlisted sandbox. On failure, what was made is removed. `ready` resolves once the proxy listens. */
export async function createEgress(engine: DockerEngine, ctx: EgressContext): Promise<{ network: string; proxyUrl: string; ready: Promise<void> }> {
  const { plan } = ctx;
  const eg = plan.egress;
  const routes = credentialRoutes(eg.credentials as Provider[], eg.secrets); // fails before anything is made
  const tied = plan.lifetime === 'ephemeral';
  const egressNet = await egressNetworkId(engine, plan.labels);
  const network = await createSandboxNetwork(engine, ctx);
  let proxyId: string;
  try {
    const addHosts = { 'host.docker.internal': 'host-gateway', ...eg.addHosts };
    proxyId = (await engine.create({
      name: proxyContainerName(plan.id),
      image: PROXY_IMAGE,
      cmd: ['node', '/app/main.js'],
      env: {
        WARDEN_EGRESS_CONFIG: JSON.stringify({ presets: eg.presets, allow: eg.allow, port: PROXY_PORT }),
        ...(routes.length ? { WARDEN_EGRESS_ROUTES: JSON.stringify(routes) } : {}),
        ...(eg.caFile ? { NODE_EXTRA_CA_CERTS: '/etc/warden/ca.pem' } : {}),
        ...(tied ? { WARDEN_TIED: '1' } : {}),
      },
      labels: companionLabels(plan, ROLE.proxy),
      hardening: companionHardening('65534:65534'),
      workdir: '/',
      mounts: eg.caFile ? [{ source: eg.caFile, target: '/etc/warden/ca.pem', readOnly: true }] : [],
      tmpfs: [{ target: '/tmp', sizeBytes: 16 * 1024 * 1024, mode: '1777' }],
      memoryBytes: 256 * 1024 * 1024,
      nanoCpus: 1e9,
      pidsLimit: 64,
      network: { name: network.name, aliases: [PROXY_ALIAS] },
      extraNetworks: [{ name: egressNet }],
      // names the proxy resolves itself: host-gateway means the engine's host, wherever the proxy runs
      extraHosts: Object.entries(addHosts).map(([name, ip]) => `${name}:${ip}`),
      ports: [],
      tiedToOwner: tied,
    })).id;
  } catch (err) {
    await engine.removeNetwork(network.id).catch(() => undefined);
    throw err;
  }
  const ready = proxyReady(engine, proxyId);
  ready.catch(() => undefined); // awaited by the caller, alongside the sandbox's own start
  return { network: network.name, proxyUrl: `http://${PROXY_ALIAS}:${PROXY_PORT}`, ready };
}

/** The proxy container of a sandbox, if it has one. */
export async function findProxy(engine: DockerEngine, id: string): Promise<EngineContainer | undefined> {
  const [p] = await engine.list({ [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.role]: ROLE.proxy });
  return p;
}

/** Remove a sandbox's proxy and network (after the sandbox itself). Safe when there are none. */
export async function removeEgress(engine: DockerEngine, id: string): Promise<void> {
  const proxy = await findProxy(engine, id);
  if (proxy) await engine.remove(proxy.id, { force: true });
  await engine.removeNetwork(sandboxNetworkName(id));
}
