import { GUEST_DIR, guardExec } from '../../guest/argv.js';
import { LABEL } from '../../policy/labels.js';
import { PATHS } from '../../policy/compile.js';
import type { SandboxPlan } from '../sandbox-runtime.js';
import type { ContainerMount, ContainerSpec, ContainerTmpfs } from './engine-types.js';
import { commonLabels, sandboxLabels } from './record-labels.js';

/** The sandbox's name on its own allowlist network (its forwarder connects to it; a pool claim renames the container, not this). */
export const SANDBOX_ALIAS = 'warden-sandbox';

/** The engine volume that holds /workspace of a sandbox with a workspace volume. */
export function workspaceVolumeName(id: string): string {
  return `warden-ws-${id}`;
}

/** Where the sandbox container sits: its network as made by the unit (egress, open bridge or none). */
export interface SandboxPlacement {
  containerName: string;
  /** The engine volume with Warden's guest code (mounted read-only at /.warden). */
  guestVolume: string;
  /** network 'allowlist': the sandbox's private network and the proxy's URL on it. */
  egress?: { network: string; proxyUrl: string };
  /** network 'open': Warden's own bridge (inter-container traffic off). */
  openNetwork?: string;
  /** The OCI runtime: 'runsc' under gVisor. */
  runtime?: string;
}

/**
 * A plan mapped to the sandbox container: the hardening profile as given, the workspace (bind, seeded
 * volume or capped tmpfs), tmpfs for /tmp and home at the plan's sizes, the guest volume, and the
 * network the unit made for it. The golden tests (mapping.test.ts) pin the create body this becomes.
 */
export function sandboxContainerSpec(plan: SandboxPlan, at: SandboxPlacement): ContainerSpec {
  const user = plan.hardening.workloadUser ?? { uid: 1000, gid: 1000 };
  const { uid, gid } = user;
  const ws = plan.workspace;
  const mounts: ContainerMount[] = [
    ...(ws.kind === 'host' ? [{ source: ws.path, target: PATHS.workspace, readOnly: false }] : []),
    ...plan.mounts.map((m) => ({ source: m.source, target: m.target, readOnly: m.readOnly })),
    // seeded by the engine from the image's /workspace on first use; outlives stop/start and refresh
    ...(ws.kind === 'volume' ? [{ source: workspaceVolumeName(plan.id), target: PATHS.workspace, readOnly: false, volume: { labels: { ...commonLabels(plan) } } }] : []),
    { source: at.guestVolume, target: GUEST_DIR, readOnly: true, volume: { labels: {}, noCopy: true } },
  ];
  const tmpfs: ContainerTmpfs[] = [
    { target: PATHS.tmp, sizeBytes: plan.resources.tmpBytes, mode: '1777' },
    { target: PATHS.home, sizeBytes: plan.resources.homeBytes, mode: '0700', uid, gid },
    ...(ws.kind === 'tmpfs' ? [{ target: PATHS.workspace, sizeBytes: ws.sizeBytes, mode: '0700', uid, gid }] : []),
  ];
  const mode = plan.egress.mode;
  return {
    name: at.containerName,
    image: plan.image,
    cmd: plan.init,
    hardening: plan.hardening,
    // the image's own health check runs as the workload user, through the guard
    ...(plan.healthCheck ? { healthcheckPrefix: guardExec([], { uid, gid }) } : {}),
    tiedToOwner: plan.lifetime === 'ephemeral',
    env: plan.env,
    labels: sandboxLabels(plan),
    workdir: plan.workdir,
    mounts,
    tmpfs,
    memoryBytes: plan.resources.memoryBytes,
    nanoCpus: plan.resources.nanoCpus,
    pidsLimit: plan.resources.pids,
    network: mode === 'open' ? (at.openNetwork ? { name: at.openNetwork } : 'bridge') : mode === 'allowlist' && at.egress ? { name: at.egress.network, aliases: [SANDBOX_ALIAS] } : 'none',
    // an allowlisted sandbox is on an internal network, which the engine does not publish: its preview
    // forwarder publishes the ports instead (preview.ts)
    ports: mode === 'open' ? plan.preview : [],
    ...(at.runtime ? { runtime: at.runtime } : {}),
    // on an allowlisted network only the proxy's name resolves: make every other lookup fail fast
    ...(mode === 'allowlist' ? { dnsOptions: ['timeout:1', 'attempts:1'] } : {}),
  };
}

/** Labels of the workspace volume (seeded before the container exists). */
export function workspaceVolumeLabels(plan: SandboxPlan): Record<string, string> {
  return { ...commonLabels(plan) };
}

/** Labels of the short-lived helper container that seeds a volume. */
export function seedHelperLabels(plan: SandboxPlan): Record<string, string> {
  return { ...commonLabels(plan), [LABEL.role]: 'volume-seed' };
}

/** The labels of a named keyed unit's key lock (an unstarted container named for the key; see DockerEngine.createLock). */
export function keyLockLabels(plan: SandboxPlan): Record<string, string> {
  return { ...commonLabels(plan), [LABEL.role]: 'key-lock' };
}
