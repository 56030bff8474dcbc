import { credentialEnv } from '../egress/credentials.js';
import { canonicalJson, sha256 } from '../util/ids.js';
import type { RuntimeContainerSpec } from '../runtime/runtime.js';
import { LABEL } from './labels.js';
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
}

/**
 * The keeper: the sandbox's long-lived main process under the init. It ignores SIGTERM, so a graceful
 * stop can signal every other process first. When `maxRuntime` is set it simply ends then, and the init
 * takes every process of the sandbox with it, whether or not Warden is still alive.
 * Tied to its owner (ephemeral sandboxes: the dead-man switch), a background reader holds the
 * container's stdin, which the owning Warden process keeps attached: when that process dies, even by
 * kill -9, the engine closes stdin, the reader sees EOF and kills the keeper, and the sandbox stops.
 * With a disk quota on a host workspace, a watcher in the keeper's session measures it every
 * DISK_CHECK_SECONDS and stops the sandbox (reason in the container log) when it is over: overlay2 on
 * ext4 has no per-container quota, so this bounds the overshoot to what can be written in one interval.
 * No privileged helper is involved. Keeper processes run in the init's session (sid 1); every exec
 * has its own, which is how the drain tells them apart.
 */
const KEEPER = `trap "" TERM INT HUP
keeper=$$
if [ "$2" -gt 0 ] 2>/dev/null; then
  { while sleep "$3"; do
      used=$(du -sxk /workspace 2>/dev/null | cut -f1)
      if [ "\${used:-0}" -gt "$2" ]; then
        echo "warden: stopped: the workspace holds \${used} KiB, over its disk quota of $2 KiB"
        kill -s KILL "$keeper"
      fi
    done; } &
fi
if [ "$1" = tied ]; then
  exec 3<&0
  { while read -r _ <&3; do :; done; kill -s KILL "$keeper"; } &
  exec sleep "$0" 3<&-
fi
exec sleep "$0"`;

/** How often the in-sandbox watcher measures the workspace against its quota. */
export const DISK_CHECK_SECONDS = 2;

export function keeperCommand(maxRuntimeMs: number | undefined, tiedToOwner = false, diskQuotaBytes?: number): string[] {
  const duration = maxRuntimeMs === undefined ? 'infinity' : `${Math.max(1, Math.ceil(maxRuntimeMs / 1000))}`;
  const quotaKiB = diskQuotaBytes ? String(Math.floor(diskQuotaBytes / 1024)) : '0';
  return ['/bin/sh', '-c', KEEPER, duration, tiedToOwner ? 'tied' : 'free', quotaKiB, String(DISK_CHECK_SECONDS)];
}

/** A short hash of everything that decides what the sandbox may do; changes when the policy changes. */
export function policyHash(spec: SandboxSpec, user: { uid: number; gid: number }): string {
  const { image, workspace, configDir, mounts, resources, network, ports, runtime, maxRuntime, workspaceVolume } = spec;
  return sha256(canonicalJson({ image, workspace, configDir, mounts, resources, network, ports, runtime, maxRuntime, user, workspaceVolume })).slice(0, 16);
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
  return {
    name: ctx.containerName,
    image: spec.image,
    // a host workspace gets the in-sandbox quota watcher; a tmpfs workspace is simply that size
    cmd: keeperCommand(spec.maxRuntime, spec.lifetime === 'ephemeral', spec.workspace ? spec.resources.disk : undefined),
    tiedToOwner: spec.lifetime === 'ephemeral',
    env: {
      HOME: PATHS.home,
      USER: 'agent',
      WARDEN_SANDBOX_ID: ctx.id,
      ...(ctx.egress ? { ...proxyEnv(ctx.egress.proxyUrl), ...credentialEnv(spec.egress.credentials, ctx.egress.proxyUrl) } : {}),
      ...spec.env,
    },
    labels,
    user: `${uid}:${gid}`,
    workdir: spec.workdir,
    mounts,
    tmpfs: [
      { target: PATHS.tmp, sizeBytes: spec.resources.tmpSize, mode: '1777' },
      { target: PATHS.home, sizeBytes: spec.resources.homeSize, mode: '0700', uid, gid },
      ...(spec.workspace || spec.workspaceVolume ? [] : [{ target: PATHS.workspace, sizeBytes: spec.resources.disk ?? spec.resources.tmpSize, mode: '0700', uid, gid }]),
    ],
    memoryBytes: spec.resources.memory,
    nanoCpus: Math.round(spec.resources.cpus * 1e9),
    pidsLimit: spec.resources.pids,
    network: spec.network === 'open' ? 'bridge' : spec.network === 'allowlist' && ctx.egress ? { name: ctx.egress.network, aliases: [SANDBOX_ALIAS] } : 'none',
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
