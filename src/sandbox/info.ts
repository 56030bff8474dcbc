import { LABEL } from '../policy/labels.js';
import { recordSpec, type RecordSpec } from '../policy/record.js';
import type { SandboxRecord, Unit, UnitState } from '../runtime/sandbox-runtime.js';

/**
 * A sandbox's state as the SDK, CLI and API have always named it (Docker's words, kept for
 * compatibility); the runtime's neutral states map onto it.
 */
export type SandboxState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

const STATE_NAMES: Record<UnitState, SandboxState> = {
  creating: 'created',
  running: 'running',
  paused: 'paused',
  stopped: 'exited',
  failed: 'dead',
  removing: 'removing',
};

/** The runtime state a public state name stands for. */
export function unitStateOf(s: SandboxState): UnitState | undefined {
  return (Object.entries(STATE_NAMES) as Array<[UnitState, SandboxState]>).find(([, v]) => v === s)?.[0];
}

/** A host port through which a sandbox port is reached. */
export interface PortBinding { containerPort: number; hostIp: string; hostPort: number }

/** What Warden knows of a sandbox, read from the runtime (never from memory). */
export interface SandboxInfo {
  id: string;
  name: string;
  /** The backend's own identifier (Docker: the container id). */
  containerId: string;
  key?: string;
  image: string;
  state: SandboxState;
  lifetime: 'ephemeral' | 'persistent';
  owner: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  health?: string;
  policyHash: string;
  user: { uid: number; gid: number };
  ports: PortBinding[];
  /**
   * The sandbox's labels, and the record's fields under the label names earlier versions stored them
   * in (`warden.spec`, `warden.created-at`, `warden.policy-hash`, `warden.user`, `warden.key`,
   * `warden.refresh-count`, `warden.last-refresh`): a read-only view kept for programs that read them.
   */
  labels: Record<string, string>;
}

/** The record behind each info this process made (kept off the object, so its JSON shape stays as it was). */
const records = new WeakMap<SandboxInfo, { record: SandboxRecord; pool?: { id: string; ready: boolean } }>();

/** The typed record of a sandbox whose info this process read from the runtime; undefined for others (a server's). */
export function recordOfInfo(info: SandboxInfo): SandboxRecord | undefined {
  return records.get(info)?.record;
}

/** The spec a sandbox was made with (env by names), from its record. */
export function specOfInfo(info: SandboxInfo): RecordSpec {
  const r = recordOfInfo(info);
  return r ? recordSpec(r) : {};
}

/** An unclaimed warm pool member (and whether it is ready to hand out). */
export function poolOfInfo(info: SandboxInfo): { id: string; ready: boolean } | undefined {
  return records.get(info)?.pool;
}

/** The record's fields under their historical label names (see SandboxInfo.labels). */
export function recordLabels(r: SandboxRecord): Record<string, string> {
  return {
    [LABEL.createdAt]: r.createdAt,
    [LABEL.policyHash]: r.policyHash,
    [LABEL.user]: `${r.user.uid}:${r.user.gid}`,
    [LABEL.spec]: JSON.stringify(r.spec),
    ...(r.key ? { [LABEL.key]: r.key } : {}),
    ...(r.refresh ? { [LABEL.refreshCount]: String(r.refresh.count), [LABEL.lastRefresh]: `${r.refresh.last} ${r.refresh.reason}`.slice(0, 1000) } : {}),
  };
}

/** A unit as the SDK shows it. */
export function toSandboxInfo(u: Unit): SandboxInfo {
  const r = u.record;
  const spec = recordSpec(r);
  const image = typeof spec.image === 'string' ? spec.image : typeof u.details?.image === 'string' ? u.details.image : '';
  const info: SandboxInfo = {
    id: u.id,
    name: u.name,
    containerId: u.backendId,
    image,
    state: STATE_NAMES[u.state],
    lifetime: r.lifetime,
    owner: r.owner,
    createdAt: r.createdAt,
    policyHash: r.policyHash,
    user: { ...r.user },
    ports: u.ports.map((p) => ({ containerPort: p.containerPort, hostIp: p.hostIp, hostPort: p.hostPort })),
    labels: { ...u.labels, ...recordLabels(r) },
  };
  if (u.key !== undefined) info.key = u.key;
  if (u.startedAt) info.startedAt = u.startedAt;
  if (u.finishedAt) info.finishedAt = u.finishedAt;
  if (u.exitCode !== undefined) info.exitCode = u.exitCode;
  if (u.oomKilled !== undefined) info.oomKilled = u.oomKilled;
  if (u.healthCheck) info.health = u.healthCheck.status;
  records.set(info, { record: r, ...(u.pool ? { pool: u.pool } : {}) });
  return info;
}
