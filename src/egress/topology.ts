import { companionHardening } from '../policy/hardening.js';
import { WardenError } from '../errors.js';
import { LABEL } from '../policy/labels.js';
import type { SandboxSpec } from '../policy/spec.js';
import type { ContainerRuntime, RuntimeContainer, RuntimeNetwork } from '../runtime/runtime.js';
import { sharedNetworkId } from '../runtime/shared-network.js';
import { credentialRoutes } from './credentials.js';
import type { EgressRecord } from './proxy.js';
import { wardenImage } from '../images/catalog.js';

/**
 * The allowlist topology. Each sandbox gets its own `internal` bridge network with no host address on
 * it (so neither a route out nor a gateway to the host's services), shared only with its own egress
 * proxy. The proxy alone also joins `warden-egress`, an ordinary bridge with a route out.
 *
 *   sandbox ──(warden-net-<id>, internal, no gateway)── proxy ──(warden-egress)── upstreams
 */
export const EGRESS_NETWORK = 'warden-egress';
export const PROXY_ALIAS = 'warden-proxy';
export const PROXY_PORT = 3128;
export const PROXY_IMAGE = wardenImage('egress');
export const ROLE = { network: 'network', proxy: 'egress-proxy', egressNetwork: 'egress-network' } as const;

/** Sandbox networks come from this range in /28 blocks (override with WARDEN_SUBNET_POOL, a /16). */
export function subnetPool(env: NodeJS.ProcessEnv = process.env): { base: [number, number]; blocks: number } {
  const pool = env.WARDEN_SUBNET_POOL ?? '10.213.0.0/16';
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
  id: string;
  labels: Record<string, string>;
  tiedToOwner: boolean;
  /** Secrets for keyless credentials (WARDEN_*_API_KEY, WARDEN_GITHUB_TOKEN, base URLs). */
  secrets: Record<string, string>;
  /** A CA bundle the proxy trusts for upstreams (a corporate gateway's, or a test CA). */
  caFile?: string;
}

/** The id of `warden-egress`, the proxies' way out, made when missing (race-safe: see shared-network.ts). */
function egressNetworkId(runtime: ContainerRuntime, labels: Record<string, string>): Promise<string> {
  return sharedNetworkId(runtime, { name: EGRESS_NETWORK, internal: false, labels: { ...labels, [LABEL.role]: ROLE.egressNetwork } });
}

/** Create the sandbox's private network on a free /28 (retrying when another caller took it first). */
async function createSandboxNetwork(runtime: ContainerRuntime, ctx: EgressContext): Promise<RuntimeNetwork> {
  const pool = subnetPool();
  const used = new Set((await runtime.listNetworks({ [LABEL.managed]: 'true' })).map((n) => n.subnet));
  for (let block = 0; block < pool.blocks; block++) {
    const subnet = subnetOf(pool, block);
    if (used.has(subnet)) continue;
    try {
      return await runtime.createNetwork({
        name: sandboxNetworkName(ctx.id),
        internal: true,
        noHostAddress: true,
        bridgeName: `wd-${ctx.id.replace(/^sbx-/, '')}`.slice(0, 15),
        subnet,
        labels: { ...ctx.labels, [LABEL.managed]: 'true', [LABEL.id]: ctx.id, [LABEL.role]: ROLE.network },
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
export async function proxyReady(runtime: ContainerRuntime, proxyId: string, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  for (let delay = 20; Date.now() - t0 < timeoutMs; delay = Math.min(delay * 2, 200)) {
    const log = await runtime.logs(proxyId, 20);
    if (log.includes('"ready":true')) return;
    const c = await runtime.inspect(proxyId);
    if (!c || c.state !== 'running') throw new WardenError('ENGINE_ERROR', `the egress proxy ${proxyId.slice(0, 12)} stopped before it listened: ${log.slice(-500) || 'no output'}`);
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new WardenError('ENGINE_ERROR', `the egress proxy ${proxyId.slice(0, 12)} did not listen within ${timeoutMs} ms`);
}

/** Network and proxy for an allowlisted sandbox. On failure, what was made is removed. `ready` resolves once the proxy listens. */
export async function createEgress(runtime: ContainerRuntime, spec: SandboxSpec, ctx: EgressContext): Promise<{ network: string; proxyUrl: string; ready: Promise<void> }> {
  const routes = credentialRoutes(spec.egress.credentials, ctx.secrets); // fails before anything is made
  const egressNet = await egressNetworkId(runtime, ctx.labels);
  const network = await createSandboxNetwork(runtime, ctx);
  let proxyId: string;
  try {
    const addHosts = { 'host.docker.internal': 'host-gateway', ...spec.egress.addHosts };
    proxyId = (await runtime.create({
      name: proxyContainerName(ctx.id),
      image: PROXY_IMAGE,
      cmd: ['node', '/app/main.js'],
      env: {
        WARDEN_EGRESS_CONFIG: JSON.stringify({ presets: spec.egress.presets, allow: spec.egress.allow, port: PROXY_PORT }),
        ...(routes.length ? { WARDEN_EGRESS_ROUTES: JSON.stringify(routes) } : {}),
        ...(ctx.caFile ? { NODE_EXTRA_CA_CERTS: '/etc/warden/ca.pem' } : {}),
        ...(ctx.tiedToOwner ? { WARDEN_TIED: '1' } : {}),
      },
      labels: { ...ctx.labels, [LABEL.managed]: 'true', [LABEL.id]: ctx.id, [LABEL.role]: ROLE.proxy },
      hardening: companionHardening('65534:65534'),
      workdir: '/',
      mounts: ctx.caFile ? [{ source: ctx.caFile, target: '/etc/warden/ca.pem', readOnly: true }] : [],
      tmpfs: [{ target: '/tmp', sizeBytes: 16 * 1024 * 1024, mode: '1777' }],
      memoryBytes: 256 * 1024 * 1024,
      nanoCpus: 1e9,
      pidsLimit: 64,
      network: { name: network.name, aliases: [PROXY_ALIAS] },
      extraNetworks: [{ name: egressNet }],
      // names the proxy resolves itself: host-gateway means the engine's host, wherever the proxy runs
      extraHosts: Object.entries(addHosts).map(([name, ip]) => `${name}:${ip}`),
      ports: [],
      tiedToOwner: ctx.tiedToOwner,
    })).id;
  } catch (err) {
    await runtime.removeNetwork(network.id).catch(() => undefined);
    throw err;
  }
  const ready = proxyReady(runtime, proxyId);
  ready.catch(() => undefined); // awaited by the caller, alongside the sandbox's own start
  return { network: network.name, proxyUrl: `http://${PROXY_ALIAS}:${PROXY_PORT}`, ready };
}

/** The proxy container of a sandbox, if it has one. */
export async function findProxy(runtime: ContainerRuntime, id: string): Promise<RuntimeContainer | undefined> {
  const [p] = await runtime.list({ [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.role]: ROLE.proxy });
  return p;
}

/** Remove a sandbox's proxy and network (after the sandbox itself). Safe when there are none. */
export async function removeEgress(runtime: ContainerRuntime, id: string): Promise<void> {
  const proxy = await findProxy(runtime, id);
  if (proxy) await runtime.remove(proxy.id, { force: true });
  await runtime.removeNetwork(sandboxNetworkName(id));
}

/** The audit from the proxy's log lines. */
export function parseEgressLog(text: string): EgressRecord[] {
  const out: EgressRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"egress"')) continue;
    try {
      out.push((JSON.parse(line) as { egress: EgressRecord }).egress);
    } catch {
      /* a torn line */
    }
  }
  return out;
}
