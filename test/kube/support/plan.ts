import { randomBytes } from 'node:crypto';
import { GUARD, guardInit } from '../../../src/guest/argv.js';
import { sandboxHardening } from '../../../src/policy/hardening.js';
import type { OwnerLink, SandboxPlan } from '../../../src/runtime/sandbox-runtime.js';
import { keyedUnitName } from '../../../src/runtime/unit-names.js';

/** What a test changes in a plan (everything else gets the SDK's defaults). */
export interface PlanOverrides {
  id?: string;
  name?: string;
  key?: string;
  image?: string;
  lifetime?: 'ephemeral' | 'persistent';
  labels?: Record<string, string>;
  env?: Record<string, string>;
  maxRuntimeMs?: number;
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  workspaceBytes?: number;
  tmpBytes?: number;
  egress?: SandboxPlan['egress'];
  preview?: SandboxPlan['preview'];
  pool?: { id: string; signature: string };
  user?: { uid: number; gid: number };
  instance: string;
  owner: OwnerLink;
}

export const newId = (): string => `sbx-${randomBytes(6).toString('hex')}`;

/**
 * A SandboxPlan as the SDK's compilePlan makes one for `warden run` defaults (512 MiB, 1 CPU, tmpfs
 * workspace, no network), so backend tests speak the contract without the SDK (issue 16 moves the SDK
 * onto it). Shared by the conformance-style tests: a backend factory plus this is all they need.
 */
export function testPlan(o: PlanOverrides): SandboxPlan {
  const id = o.id ?? newId();
  const user = o.user ?? { uid: 1000, gid: 1000 };
  const lifetime = o.lifetime ?? 'ephemeral';
  const memoryBytes = o.memoryBytes ?? 512 * 1024 * 1024;
  const name = o.name ?? (o.key !== undefined ? keyedUnitName(o.key) : id);
  const spec = { image: o.image, lifetime, ...(o.maxRuntimeMs !== undefined ? { maxRuntime: o.maxRuntimeMs } : {}), env: Object.keys(o.env ?? {}) };
  return {
    id,
    name,
    ...(o.key !== undefined ? { key: o.key } : {}),
    image: o.image ?? 'warden-sandbox:latest',
    labels: o.labels ?? {},
    record: {
      version: 1,
      id,
      spec,
      owner: o.owner.owner,
      instance: o.instance,
      ...(o.key !== undefined ? { key: o.key } : {}),
      lifetime,
      createdAt: new Date().toISOString(),
      policyHash: 'test',
      user,
      ...(o.pool ? { poolSignature: o.pool.signature } : {}),
    },
    owner: o.owner,
    lifetime,
    hardening: sandboxHardening(user),
    init: guardInit({ ...(o.maxRuntimeMs !== undefined ? { maxRuntimeMs: o.maxRuntimeMs } : {}), tied: lifetime === 'ephemeral', diskIntervalS: 2, workspace: '/workspace' }),
    env: { HOME: '/home/agent', USER: 'agent', WARDEN_SANDBOX_ID: id, ...o.env },
    workdir: '/workspace',
    resources: {
      memoryBytes,
      nanoCpus: Math.round((o.cpus ?? 1) * 1e9),
      pids: o.pids ?? 512,
      tmpBytes: o.tmpBytes ?? 64 * 1024 * 1024,
      homeBytes: 64 * 1024 * 1024,
    },
    workspace: { kind: 'tmpfs', sizeBytes: o.workspaceBytes ?? 128 * 1024 * 1024 },
    mounts: [],
    egress: o.egress ?? { mode: 'none' },
    preview: o.preview ?? [],
    ...(o.maxRuntimeMs !== undefined ? { maxRuntimeMs: o.maxRuntimeMs } : {}),
    ...(o.pool ? { pool: o.pool } : {}),
  };
}

export { GUARD };
