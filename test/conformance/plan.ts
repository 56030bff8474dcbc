import { randomBytes } from 'node:crypto';
import { guardInit } from '../../src/guest/argv.js';
import { sandboxHardening } from '../../src/policy/hardening.js';
import type { OwnerLink, SandboxPlan, SandboxRuntime } from '../../src/runtime/sandbox-runtime.js';
import type { ConformanceTarget } from './target.js';

/** The workload user every plan of the suite runs as. */
export const WORKLOAD = { uid: 1000, gid: 1000 };
/** Label on every unit of this suite's run, for the selectors. */
export const RUN_LABEL = 'warden.conformance';

export interface PlanOptions {
  name?: string;
  key?: string;
  lifetime?: 'ephemeral' | 'persistent';
  maxRuntimeS?: number;
  env?: Record<string, string>;
  network?: 'none' | 'open' | 'allowlist';
  preview?: number[];
  diskBytes?: number;
  pool?: { id: string; signature: string };
  image?: string;
  owner?: OwnerLink;
  labels?: Record<string, string>;
  workspace?: SandboxPlan['workspace'];
  mounts?: SandboxPlan['mounts'];
  isolation?: 'gvisor';
}

/** A unique short name part for this run. */
export function uniq(tag: string): string {
  return `${tag}-${randomBytes(3).toString('hex')}`;
}

/**
 * A complete plan as the core would compile it for a plain sandbox, on this target: the guard as init
 * (max runtime; the owner link for ephemeral units), the workload as uid 1000, network 'none' where the
 * backend can confine it and 'open' where it cannot (each test that cares asks for one).
 */
export function plan(t: ConformanceTarget, rt: SandboxRuntime, o: PlanOptions = {}): SandboxPlan {
  const id = `sbx-${randomBytes(6).toString('hex')}`;
  const name = o.name ?? (o.key !== undefined ? `warden-k-${o.key}` : `c-${id}`);
  const lifetime = o.lifetime ?? 'persistent';
  const owner = o.owner ?? rt.owner.link;
  const network = o.network ?? (rt.capabilities.has('egressNone') ? 'none' : 'open');
  const createdAt = new Date().toISOString();
  const env = { HOME: '/home/agent', USER: 'agent', WARDEN_SANDBOX_ID: id, ...(o.env ?? {}) };
  return {
    id,
    name,
    ...(o.key !== undefined ? { key: o.key } : {}),
    image: o.image ?? t.image,
    labels: { [RUN_LABEL]: t.instance, ...(o.labels ?? {}) },
    record: {
      version: 1,
      id,
      spec: { image: o.image ?? t.image, network, lifetime, env: Object.keys(env), ...(o.maxRuntimeS ? { maxRuntime: o.maxRuntimeS * 1000 } : {}) },
      owner: owner.owner,
      instance: t.instance,
      ...(o.key !== undefined ? { key: o.key } : {}),
      lifetime,
      createdAt,
      policyHash: 'conformance',
      user: WORKLOAD,
      ...(o.pool ? { poolSignature: o.pool.signature } : {}),
    },
    owner,
    lifetime,
    hardening: sandboxHardening(WORKLOAD),
    // the guard's PID 1 command carries the max runtime, the owner link and the disk quota (the contract's `init`)
    init: guardInit({ ...(o.maxRuntimeS ? { maxRuntimeMs: o.maxRuntimeS * 1000 } : {}), tied: lifetime === 'ephemeral', ...(o.diskBytes ? { diskQuotaBytes: o.diskBytes } : {}), diskIntervalS: 2, workspace: '/workspace' }),
    ...(o.maxRuntimeS ? { maxRuntimeMs: o.maxRuntimeS * 1000 } : {}),
    env,
    workdir: '/workspace',
    resources: { memoryBytes: 512 * 1024 ** 2, nanoCpus: 0.5e9, pids: 256, tmpBytes: 64 * 1024 ** 2, homeBytes: 64 * 1024 ** 2, ...(o.diskBytes ? { diskBytes: o.diskBytes } : {}) },
    workspace: o.workspace ?? { kind: 'tmpfs', sizeBytes: 64 * 1024 ** 2 },
    mounts: o.mounts ?? [],
    egress: network === 'allowlist' ? { mode: 'allowlist', presets: [], allow: [], credentials: [], addHosts: {}, secrets: {} } : { mode: network },
    preview: (o.preview ?? []).map((containerPort) => ({ containerPort, hostIp: '127.0.0.1' })),
    ...(o.isolation ? { isolation: o.isolation } : {}),
    ...(o.pool ? { pool: o.pool } : {}),
  };
}
