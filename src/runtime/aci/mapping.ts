import type { ContainerGroup } from '@azure/arm-containerinstance';
import { createHash } from 'node:crypto';
import type { AciSettings } from '../../config/aci.js';
import { WardenError } from '../../errors.js';
import { GUEST_DIR } from '../../guest/argv.js';
import { registryRef } from '../../images/aci.js';
import type { SandboxPlan, Unit, UnitState } from '../sandbox-runtime.js';
import { SANDBOX_CONTAINER } from './arm.js';
import { keyHash, readRecordTags, recordTags, shortTags, type StoredUnit, TAG, tagValue } from './tags.js';

/** Where init --tie makes the owner tie (a directory only root may use). */
export const TIE_FIFO = '/run/warden/tie';
/** The first command of every ACI sandbox: prepares the workload's directories, then execs the guard. */
export const ACI_INIT = `${GUEST_DIR}/aci-init.sh`;
/** Directories the workload owns (Docker gives it tmpfs mounts there). */
const WORKLOAD_DIRS = ['/workspace', '/home/agent'];

const GIB = 1024 ** 3;

/**
 * The container group name of a unit: readable, within ACI's rules (1-63 of [a-z0-9-], no `--`), and
 * the same for every caller with the same instance and unit name, so ARM's name uniqueness turns two
 * creates of one name (or key: a keyed unit's name derives from its key) into one group and a conflict.
 */
export function groupName(instance: string, name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  const h = createHash('sha256').update(`${instance}\0${name}`, 'utf8').digest('hex').slice(0, 10);
  return `warden-${slug ? `${slug}-` : ''}${h}`;
}

/** CPU cores ACI is asked for (hundredths, at least 0.1; 0 in the plan means one core). */
export function aciCpu(nanoCpus: number): number {
  if (!nanoCpus) return 1;
  return Math.max(0.1, Math.ceil(nanoCpus / 1e7) / 100);
}

/** Memory in GB ACI is asked for (tenths, rounded up, at least 0.1). */
export function aciMemoryGb(bytes: number): number {
  return Math.max(0.1, Math.ceil((bytes / GIB) * 10) / 10);
}

/** How often the guard measures the workspace against its disk quota (as on Docker). */
const DISK_INTERVAL_S = 2;

/**
 * The guard's init argv for ACI: no stdin link (nothing can be attached), the owner tie instead for
 * ephemeral units; and since the workspace is a plain directory here (no tmpfs to cap it), the guard's
 * disk quota for `resources.disk` when the plan did not ask the guard for one already.
 */
export function aciInit(plan: SandboxPlan, tieGraceSeconds: number): string[] {
  const init = plan.init.filter((a) => a !== '--tied');
  if (plan.resources.diskBytes !== undefined && !init.includes('--disk-quota')) {
    init.push('--disk-quota', String(Math.max(1, Math.floor(plan.resources.diskBytes / 1024))), '--disk-interval', String(DISK_INTERVAL_S), '--workspace', WORKLOAD_DIRS[0]!);
  }
  return plan.lifetime === 'ephemeral' ? [...init, '--tie', TIE_FIFO, '--tie-grace', String(tieGraceSeconds)] : init;
}

/** The max runtime the plan gives its guard (seconds), when it has one. */
export function planMaxRuntimeSeconds(plan: SandboxPlan): number | undefined {
  if (plan.maxRuntimeMs !== undefined) return plan.maxRuntimeMs > 0 ? Math.ceil(plan.maxRuntimeMs / 1000) : undefined;
  const i = plan.init.indexOf('--max-runtime');
  const v = i >= 0 ? Number(plan.init[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Every tag of a new unit's group. */
export function unitTags(plan: SandboxPlan, now: number, s: Pick<AciSettings, 'leaseSeconds'>): Record<string, string> {
  const maxRuntime = planMaxRuntimeSeconds(plan);
  const short: Record<string, string> = {
    [TAG.managed]: 'true',
    [TAG.id]: plan.id,
    [TAG.instance]: tagValue(plan.record.instance),
    [TAG.name]: tagValue(plan.name),
    [TAG.owner]: tagValue(plan.owner.owner),
    [TAG.lifetime]: plan.lifetime,
    [TAG.createdAt]: plan.record.createdAt,
    ...(plan.key !== undefined ? { [TAG.keyHash]: keyHash(plan.key) } : {}),
    ...(plan.pool ? { [TAG.pool]: tagValue(plan.pool.id) } : {}),
    ...(plan.lifetime === 'ephemeral' ? { [TAG.link]: tagValue(plan.owner.link), [TAG.leaseUntil]: String(now + s.leaseSeconds * 1000) } : {}),
    ...(maxRuntime !== undefined ? { [TAG.deadline]: String(now + maxRuntime * 1000) } : {}),
  };
  return { ...short, ...recordTags({ record: plan.record, labels: plan.labels, workdir: plan.workdir }, Object.keys(short).length) };
}

/**
 * The container group for a plan: one container, the guard as its command (behind aci-init.sh), the
 * image from the registry, requests = limits, env as secure values (never read back through ARM),
 * `restartPolicy: Never` (a sandbox that ended stays ended), and a public IP only for preview ports.
 */
export function groupBody(plan: SandboxPlan, s: AciSettings, now: number): ContainerGroup {
  const { uid, gid } = plan.record.user;
  const cpu = aciCpu(plan.resources.nanoCpus);
  const memoryInGB = aciMemoryGb(plan.resources.memoryBytes);
  if (cpu > s.maxCpu || memoryInGB > s.maxMemoryGb) {
    throw new WardenError('INVALID_SPEC', `a sandbox on ACI may have at most ${s.maxCpu} CPUs and ${s.maxMemoryGb} GB of memory in ${s.location} (asked: ${cpu} CPUs, ${memoryInGB} GB); lower resources.cpus / resources.memory`);
  }
  for (const p of plan.preview) {
    if (p.hostPort !== undefined && p.hostPort !== p.containerPort) {
      throw new WardenError('INVALID_SPEC', `port ${p.containerPort}: ACI publishes a container port on the same port of the group's address; host port ${p.hostPort} cannot be chosen`);
    }
  }
  const ports = plan.preview.map((p) => ({ port: p.containerPort, protocol: 'TCP' as const }));
  const credential = s.registryIdentity ? { server: s.registry, identity: s.registryIdentity } : s.registryUsername ? { server: s.registry, username: s.registryUsername, password: s.registryPassword! } : undefined;
  return {
    location: s.location,
    tags: unitTags(plan, now, s),
    osType: 'Linux',
    restartPolicy: 'Never',
    ...(s.registryIdentity ? { identity: { type: 'UserAssigned', userAssignedIdentities: { [s.registryIdentity]: {} } } } : {}),
    ...(credential ? { imageRegistryCredentials: [credential] } : {}),
    containers: [
      {
        name: SANDBOX_CONTAINER,
        image: registryRef(plan.image, s.registry),
        command: [ACI_INIT, String(uid), String(gid), ...WORKLOAD_DIRS, '--', ...aciInit(plan, s.tieGraceSeconds)],
        environmentVariables: Object.entries(plan.env).map(([name, secureValue]) => ({ name, secureValue })),
        resources: { requests: { cpu, memoryInGB }, limits: { cpu, memoryInGB } },
        ...(ports.length ? { ports } : {}),
      },
    ],
    ...(ports.length ? { ipAddress: { type: 'Public', ports } } : {}),
  };
}

/** Runtime-neutral state of a group (read with its instance view). */
export function unitState(g: ContainerGroup): UnitState {
  switch (g.provisioningState) {
    case 'Pending':
    case 'Creating':
    case 'Updating':
    case 'Repairing':
      return 'creating';
    case 'Deleting':
      return 'removing';
    case 'Failed':
      return 'failed';
  }
  if (g.instanceView?.state === 'Stopped') return 'stopped';
  const c = g.containers.find((x) => x.name === SANDBOX_CONTAINER)?.instanceView?.currentState;
  if (c?.state === 'Running') return 'running';
  if (c?.state === 'Terminated') return 'stopped';
  if (c?.state === 'Waiting') return 'creating';
  return g.instanceView?.state === 'Running' ? 'running' : 'stopped';
}

const iso = (d: Date | string | undefined): string | undefined => (d === undefined ? undefined : typeof d === 'string' ? d : d.toISOString());

/**
 * A unit's labels as every backend shows them: the plan's, plus Warden's own selection labels (Docker has
 * them on the container; the core reads `warden.instance` to scope what a server shows).
 */
export function unitLabels(stored: StoredUnit): Record<string, string> {
  const r = stored.record;
  return { ...stored.labels, 'warden.managed': 'true', 'warden.id': r.id, 'warden.instance': r.instance, 'warden.owner': r.owner, 'warden.lifetime': r.lifetime };
}

/** The unit a group is, or undefined when the group is not a Warden sandbox. */
export function groupToUnit(g: ContainerGroup): Unit | undefined {
  const stored = readRecordTags(g.tags);
  if (!stored) return undefined;
  const tags = g.tags ?? {};
  const state = unitState(g);
  const c = g.containers.find((x) => x.name === SANDBOX_CONTAINER);
  const cur = c?.instanceView?.currentState;
  const ip = g.ipAddress?.ip;
  const running = state === 'running';
  const ports = running && ip ? (g.ipAddress?.ports ?? []).map((p) => ({ containerPort: p.port, url: `http://${ip}:${p.port}`, hostIp: ip, hostPort: p.port })) : [];
  const pool = tags[TAG.pool];
  return {
    id: stored.record.id,
    name: tags[TAG.name] ?? g.name ?? '',
    ...(stored.record.key !== undefined ? { key: stored.record.key } : {}),
    state,
    record: stored.record,
    labels: unitLabels(stored),
    ...(cur?.startTime ? { startedAt: iso(cur.startTime)! } : {}),
    ...(cur?.state === 'Terminated' && cur.finishTime ? { finishedAt: iso(cur.finishTime)! } : {}),
    ...(cur?.state === 'Terminated' && cur.exitCode !== undefined ? { exitCode: cur.exitCode } : {}),
    ports,
    ...(pool ? { pool: { id: pool, ready: running && tags[TAG.poolReady] === 'true' } } : {}),
    backendId: g.name ?? '', // what `az container list` shows; the resource id is in details
    details: {
      containerGroup: g.name,
      resourceId: g.id,
      location: g.location,
      provisioningState: g.provisioningState,
      groupState: g.instanceView?.state,
      containerState: cur?.state,
      detailStatus: cur?.detailStatus,
      ip,
      events: (c?.instanceView?.events ?? []).slice(-5).map((e) => `${e.name}: ${e.message}`),
      tags: shortTags(tags),
    },
  };
}
