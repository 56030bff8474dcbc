import { credentialRoutes, type Provider } from '../egress/credentials.js';
import { EGRESS_PROXY_URL, egressEnv } from '../egress/env.js';
import { guardInit } from '../guest/argv.js';
import type { OwnerLink, SandboxPlan, SandboxRecord } from '../runtime/sandbox-runtime.js';
import { keyedUnitName } from '../runtime/unit-names.js';
import { canonicalJson, sha256 } from '../util/ids.js';
import { sandboxHardening } from './hardening.js';
import { storedSpec } from './record.js';
import type { SandboxSpec } from './spec.js';

/** Where things live inside every sandbox, whatever the backend. */
export const PATHS = { workspace: '/workspace', config: '/app/config', home: '/home/agent', tmp: '/tmp' } as const;

/** How often the guard measures a host workspace against its disk quota. */
export const DISK_CHECK_SECONDS = 2;

/** A host workspace without `resources.disk` gets this quota (10 GiB; WardenOptions.defaultWorkspaceDisk changes it). */
export const DEFAULT_WORKSPACE_DISK = 10 * 1024 ** 3;

/**
 * A tmpfs lives in the sandbox's memory: above the memory cap, filling it would end in an OOM kill
 * instead of ENOSPC. Each tmpfs is therefore capped at half the memory cap.
 */
export function tmpfsSize(requested: number, memoryBytes: number): number {
  return Math.max(1024 * 1024, Math.min(requested, Math.floor(memoryBytes / 2)));
}

/** A short hash of everything that decides what the sandbox may do; changes when the policy changes. */
export function policyHash(spec: SandboxSpec, user: { uid: number; gid: number }): string {
  const { image, workspace, configDir, mounts, resources, network, ports, runtime, maxRuntime, workspaceVolume, allowRoot } = spec;
  return sha256(canonicalJson({ image, workspace, configDir, mounts, resources, network, ports, runtime, maxRuntime, user, workspaceVolume, ...(allowRoot ? { allowRoot } : {}) })).slice(0, 16);
}

export interface PlanContext {
  id: string;
  /** The owning process's link and the owner's name (record and label `warden.owner`). */
  owner: OwnerLink;
  /** The Warden instance (tenant scope). */
  instance: string;
  createdAt: string;
  /** uid:gid the workload runs as (resolved from the workspace owner by the caller). */
  user: { uid: number; gid: number };
  /** Labels to select by besides the spec's: the Warden's own (a test run), the caller's (a project), a pool's. */
  labels: Record<string, string>;
  /** The unit's name when it is not the spec's, the key's or the id (a warm pool member's). */
  name?: string;
  /** A warm pool member: its pool id and spec signature. */
  pool?: { id: string; signature: string };
  /** A refreshed sandbox: how many times, when and why. */
  refresh?: { count: number; last: string; reason: string };
  /** Secrets the egress proxy holds for keyless credentials, and a CA bundle (host path) it trusts. */
  egress: { secrets: Record<string, string>; caFile?: string };
}

/**
 * Compile a validated spec (host paths already checked and mapped, user resolved) into the plan every
 * backend maps: every confinement default applied, the typed record written, nothing left to choose.
 * Pure; throws INVALID_SPEC for credentials Warden has no secret for, before anything is made.
 */
export function compilePlan(spec: SandboxSpec, ctx: PlanContext): SandboxPlan {
  const { uid, gid } = ctx.user;
  const mem = spec.resources.memory;
  credentialRoutes(spec.egress.credentials as Provider[], ctx.egress.secrets); // names the missing secret now
  const record: SandboxRecord = {
    version: 1,
    id: ctx.id,
    spec: storedSpec(spec), // env values stay out of the record
    owner: ctx.owner.owner,
    instance: ctx.instance,
    ...(spec.key ? { key: spec.key } : {}),
    lifetime: spec.lifetime,
    createdAt: ctx.createdAt,
    policyHash: policyHash(spec, ctx.user),
    user: { uid, gid },
    ...(ctx.refresh ? { refresh: ctx.refresh } : {}),
    ...(ctx.pool ? { poolSignature: ctx.pool.signature } : {}),
  };
  const ports = spec.network === 'none' ? [] : spec.ports.map((p) => (typeof p === 'number' ? { containerPort: p, hostIp: '127.0.0.1' } : { containerPort: p.container, hostIp: p.hostIp, ...(p.host ? { hostPort: p.host } : {}) }));
  return {
    id: ctx.id,
    name: ctx.name ?? spec.name ?? (spec.key ? keyedUnitName(spec.key) : ctx.id),
    ...(spec.key ? { key: spec.key } : {}),
    image: spec.image,
    labels: { ...spec.labels, ...ctx.labels },
    record,
    owner: ctx.owner,
    lifetime: spec.lifetime,
    hardening: sandboxHardening(ctx.user),
    // PID 1 is the guard (root, outside the workload's reach): max runtime, dead-man switch, and for a
    // host workspace the disk quota (a tmpfs workspace is simply that size)
    init: guardInit({
      ...(spec.maxRuntime !== undefined ? { maxRuntimeMs: spec.maxRuntime } : {}),
      tied: spec.lifetime === 'ephemeral',
      ...(spec.workspace && spec.resources.disk ? { diskQuotaBytes: spec.resources.disk } : {}),
      diskIntervalS: DISK_CHECK_SECONDS,
      workspace: PATHS.workspace,
    }),
    // the whole environment: an allowlisted sandbox's programs are told where its proxy is (every backend
    // makes EGRESS_PROXY_URL reach it) and what its credential routes are; the spec's env wins
    env: { HOME: PATHS.home, USER: 'agent', WARDEN_SANDBOX_ID: ctx.id, ...(spec.network === 'allowlist' ? egressEnv(EGRESS_PROXY_URL, spec.egress.credentials) : {}), ...spec.env },
    workdir: spec.workdir,
    resources: {
      memoryBytes: mem,
      nanoCpus: Math.round(spec.resources.cpus * 1e9),
      pids: spec.resources.pids,
      tmpBytes: tmpfsSize(spec.resources.tmpSize, mem),
      homeBytes: tmpfsSize(spec.resources.homeSize, mem),
      ...(spec.resources.disk !== undefined ? { diskBytes: spec.resources.disk } : {}),
    },
    workspace: spec.workspace
      ? { kind: 'host', path: spec.workspace }
      : spec.workspaceVolume
        ? { kind: 'volume', seedFromImage: true }
        : { kind: 'tmpfs', sizeBytes: tmpfsSize(spec.resources.disk ?? spec.resources.tmpSize, mem) },
    mounts: [
      ...(spec.configDir ? [{ source: spec.configDir, target: PATHS.config, readOnly: true }] : []),
      ...spec.mounts.map((m) => ({ source: m.source, target: m.target, readOnly: m.readOnly })),
    ],
    egress:
      spec.network === 'allowlist'
        ? {
            mode: 'allowlist',
            presets: spec.egress.presets,
            allow: spec.egress.allow,
            credentials: spec.egress.credentials,
            addHosts: spec.egress.addHosts,
            ...(ctx.egress.caFile ? { caFile: ctx.egress.caFile } : {}),
            secrets: ctx.egress.secrets,
          }
        : { mode: spec.network },
    preview: ports,
    ...(spec.runtime === 'runsc' ? { isolation: 'gvisor' as const } : {}),
    healthCheck: true,
    ...(ctx.pool ? { pool: ctx.pool } : {}),
  };
}
