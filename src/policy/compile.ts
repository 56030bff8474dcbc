import { credentialEnv } from '../egress/credentials.js';
import { canonicalJson, sha256 } from '../util/ids.js';
import type { RuntimeContainerSpec } from '../runtime/runtime.js';
import { LABEL } from './labels.js';
import { sandboxHardening } from './hardening.js';
import { GUEST_DIR, guardExec, guardInit } from '../guest/argv.js';
import type { SandboxSpec } from './spec.js';

/** Where things live inside every sandbox. */
export const PATHS = { workspace: '/workspace', config: '/app/config', home: '/home/agent', tmp: '/tmp' } as const;

export interface CompileContext {
  id: string;
  containerName: string;
  owner: string;
  createdAt: string;
  /** uid:gid the sandbox runs as (resolved from the workspace owner by the caller). */
  user: { uid: number; gid: number };
  /** Labels every Warden object of this instance carries (e.g. a test run id). */
  extraLabels: Record<string, string>;
  /** network 'allowlist': the sandbox's private network and the proxy's URL on it. */
  egress?: { network: string; proxyUrl: string };
  /** The engine volume holding Warden's guest code (mounted read-only at /.warden). */
  guestVolume: string;
  /** network 'open': Warden's own bridge (inter-container traffic off). */
  openNetwork?: string;
}

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

/** The sandbox's name on its own allowlist network (the preview forwarder connects to it; a warm-pool claim renames the container, not this). */
export const SANDBOX_ALIAS = 'warden-sandbox';

/** The engine volume that holds /workspace of a sandbox with `workspaceVolume`. */
export function workspaceVolumeName(id: string): string {
  return `warden-ws-${id}`;
}

/** Compile a validated spec into the runtime's container spec, with every confinement default applied. */
export function compileSpec(spec: SandboxSpec, ctx: CompileContext): RuntimeContainerSpec {
  const { uid, gid } = ctx.user;
  const storedSpec = { ...spec, env: Object.keys(spec.env) }; // env values stay out of labels
  const labels: Record<string, string> = {
    ...spec.labels,
    ...ctx.extraLabels,
    [LABEL.managed]: 'true',
    [LABEL.id]: ctx.id,
    [LABEL.owner]: ctx.owner,
    [LABEL.lifetime]: spec.lifetime,
    [LABEL.createdAt]: ctx.createdAt,
    [LABEL.policyHash]: policyHash(spec, ctx.user),
    [LABEL.user]: `${uid}:${gid}`,
    [LABEL.spec]: JSON.stringify(storedSpec),
    ...(spec.key ? { [LABEL.key]: spec.key } : {}),
  };
  const mounts = [
    ...(spec.workspace ? [{ source: spec.workspace, target: PATHS.workspace, readOnly: false }] : []),
    ...(spec.configDir ? [{ source: spec.configDir, target: PATHS.config, readOnly: true }] : []),
    ...spec.mounts.map((m) => ({ source: m.source, target: m.target, readOnly: m.readOnly })),
    // seeded by the engine from the image's /workspace on first use; outlives stop/start and refresh
    ...(spec.workspaceVolume
      ? [{ source: workspaceVolumeName(ctx.id), target: PATHS.workspace, readOnly: false, volume: { labels: { ...spec.labels, ...ctx.extraLabels, [LABEL.managed]: 'true', [LABEL.id]: ctx.id } } }]
      : []),
  ];
  const mem = spec.resources.memory;
  return {
    name: ctx.containerName,
    image: spec.image,
    // PID 1 is the guard (root, outside the workload's reach): max runtime, dead-man switch, and for a
    // host workspace the disk quota (a tmpfs workspace is simply that size)
    cmd: guardInit({
      ...(spec.maxRuntime !== undefined ? { maxRuntimeMs: spec.maxRuntime } : {}),
      tied: spec.lifetime === 'ephemeral',
      ...(spec.workspace && spec.resources.disk ? { diskQuotaBytes: spec.resources.disk } : {}),
      diskIntervalS: DISK_CHECK_SECONDS,
      workspace: PATHS.workspace,
    }),
    hardening: sandboxHardening(ctx.user),
    // the image's own health check runs as the workload user, through the guard
    healthcheckPrefix: guardExec([], { uid, gid }),
    tiedToOwner: spec.lifetime === 'ephemeral',
    env: {
      HOME: PATHS.home,
      USER: 'agent',
      WARDEN_SANDBOX_ID: ctx.id,
      ...(ctx.egress ? { ...proxyEnv(ctx.egress.proxyUrl), ...credentialEnv(spec.egress.credentials, ctx.egress.proxyUrl) } : {}),
      ...spec.env,
    },
    labels,
    workdir: spec.workdir,
    mounts: [...mounts, { source: ctx.guestVolume, target: GUEST_DIR, readOnly: true, volume: { labels: {}, noCopy: true } }],
    tmpfs: [
      { target: PATHS.tmp, sizeBytes: tmpfsSize(spec.resources.tmpSize, mem), mode: '1777' },
      { target: PATHS.home, sizeBytes: tmpfsSize(spec.resources.homeSize, mem), mode: '0700', uid, gid },
      ...(spec.workspace || spec.workspaceVolume ? [] : [{ target: PATHS.workspace, sizeBytes: tmpfsSize(spec.resources.disk ?? spec.resources.tmpSize, mem), mode: '0700', uid, gid }]),
    ],
    memoryBytes: spec.resources.memory,
    nanoCpus: Math.round(spec.resources.cpus * 1e9),
    pidsLimit: spec.resources.pids,
    network: spec.network === 'open' ? (ctx.openNetwork ? { name: ctx.openNetwork } : 'bridge') : spec.network === 'allowlist' && ctx.egress ? { name: ctx.egress.network, aliases: [SANDBOX_ALIAS] } : 'none',
    // an allowlisted sandbox is on an internal network, which the engine does not publish: its preview
    // forwarder publishes the ports instead (sandbox/preview.ts)
    ports: (spec.network === 'open' ? spec.ports : []).map((p) =>
      typeof p === 'number' ? { containerPort: p, hostIp: '127.0.0.1' } : { containerPort: p.container, hostIp: p.hostIp, ...(p.host ? { hostPort: p.host } : {}) },
    ),
    ...(spec.runtime && spec.runtime !== 'runc' ? { runtime: spec.runtime } : {}),
    // on an allowlisted network only the proxy's name resolves: make every other lookup fail fast
    ...(spec.network === 'allowlist' ? { dnsOptions: ['timeout:1', 'attempts:1'] } : {}),
  };
}

/** What tells programs in an allowlisted sandbox to use the proxy (both spellings: tools differ). */
export function proxyEnv(url: string): Record<string, string> {
  // the proxy's own routes (keyless credentials) are plain HTTP to the proxy, not proxied requests
  const noProxy = `localhost,127.0.0.1,::1,${new URL(url).hostname}`;
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: noProxy, no_proxy: noProxy };
}
