import { LABEL, RECORD_LABELS } from '../../policy/labels.js';
import { encodeRecord, parseRecord } from '../../policy/record.js';
import { sha256 } from '../../util/ids.js';
import type { SandboxPlan, SandboxRecord, Unit, UnitState } from '../sandbox-runtime.js';
import type { ContainerState, EngineContainer } from './engine-types.js';
import { isReadyPoolName, isUnclaimedPoolName, keyFromName, unitNameOf } from './names.js';

/**
 * How the Docker backend writes a unit on its containers: short selection labels on every object made
 * for it, and the typed record as one label (`warden.record`, JSON) on the sandbox container. Sandboxes
 * made by earlier versions carry the record's parts as separate labels (`warden.spec`, `warden.key`,
 * `warden.created-at`, ...): {@link recordOfContainer} reads both.
 */

/** A short hash of a key: a label value that fits any backend's rules (the key itself is in the record). */
export const keyHash = (key: string): string => sha256(key).slice(0, 16);

/** Labels on everything made for a unit: the caller's selection labels and Warden's own. */
export function commonLabels(plan: Pick<SandboxPlan, 'id' | 'labels' | 'lifetime' | 'owner' | 'record'>): Record<string, string> {
  return {
    ...plan.labels,
    [LABEL.managed]: 'true',
    [LABEL.id]: plan.id,
    [LABEL.instance]: plan.record.instance,
    [LABEL.owner]: plan.owner.owner,
    [LABEL.lifetime]: plan.lifetime,
    // what its owner's reaper removes when the owner dies
    ...(plan.lifetime === 'ephemeral' ? { [LABEL.ownerLink]: plan.owner.link } : {}),
  };
}

/** The sandbox container's labels: the common ones, the key's hash, pool membership and the record. */
export function sandboxLabels(plan: SandboxPlan): Record<string, string> {
  return {
    ...commonLabels(plan),
    ...(plan.key ? { [LABEL.keyHash]: keyHash(plan.key) } : {}),
    ...(plan.pool ? { [LABEL.poolHolder]: plan.pool.id, [LABEL.poolSpec]: plan.pool.signature } : {}),
    [LABEL.record]: encodeRecord(plan.record),
  };
}

/** A companion's labels (egress proxy, preview forwarder, network, volume): the common ones and its role. */
export function companionLabels(plan: Pick<SandboxPlan, 'id' | 'labels' | 'lifetime' | 'owner' | 'record'>, role: string): Record<string, string> {
  return { ...commonLabels(plan), [LABEL.role]: role };
}

/**
 * The record of a sandbox container: its `warden.record` label, or for a sandbox made before the record
 * existed, the labels that held its parts. Undefined for what is not a Warden sandbox.
 */
export function recordOfContainer(c: Pick<EngineContainer, 'labels' | 'createdAt'>): SandboxRecord | undefined {
  const l = c.labels;
  if (l[LABEL.managed] !== 'true' || l[LABEL.role] || !l[LABEL.id]) return undefined;
  if (l[LABEL.record] !== undefined) return parseRecord(l[LABEL.record]);
  return legacyRecord(c);
}

function legacyRecord(c: Pick<EngineContainer, 'labels' | 'createdAt'>): SandboxRecord {
  const l = c.labels;
  let spec: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(l[LABEL.spec] ?? '{}') as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) spec = parsed as Record<string, unknown>;
  } catch {
    /* an unreadable spec label: the rest of the record still stands */
  }
  const [uid, gid] = (l[LABEL.user] ?? '1000:1000').split(':').map(Number);
  const count = Number(l[LABEL.refreshCount] ?? '0');
  const last = l[LABEL.lastRefresh] ?? '';
  const cut = last.indexOf(' ');
  return {
    version: 1,
    id: l[LABEL.id]!,
    spec,
    owner: l[LABEL.owner] ?? '',
    instance: l[LABEL.instance] ?? 'default',
    ...(l[LABEL.key] ? { key: l[LABEL.key] } : {}),
    lifetime: l[LABEL.lifetime] === 'persistent' ? 'persistent' : 'ephemeral',
    createdAt: l[LABEL.createdAt] ?? c.createdAt,
    policyHash: l[LABEL.policyHash] ?? '',
    user: { uid: Number.isFinite(uid) ? uid! : 1000, gid: Number.isFinite(gid) ? gid! : Number.isFinite(uid) ? uid! : 1000 },
    ...(count > 0 ? { refresh: { count, last: cut > 0 ? last.slice(0, cut) : last, reason: cut > 0 ? last.slice(cut + 1) : '' } } : {}),
    ...(l[LABEL.poolSpec] ? { poolSignature: l[LABEL.poolSpec] } : {}),
  };
}

const STATE: Record<ContainerState, UnitState> = {
  created: 'creating',
  running: 'running',
  paused: 'paused',
  restarting: 'running',
  removing: 'removing',
  exited: 'stopped',
  dead: 'failed',
};

/** A sandbox container as a unit (ports: those the host reaches it on, its own or its forwarder's). */
export function unitOfContainer(c: EngineContainer, ports = c.ports): Unit | undefined {
  const record = recordOfContainer(c);
  if (!record) return undefined;
  const l = c.labels;
  const unclaimed = Boolean(l[LABEL.poolHolder] || l[LABEL.pool]) && isUnclaimedPoolName(c.name);
  // a claimed pool member's labels were fixed before the claim: its key is in its name
  const key = record.key ?? (l[LABEL.pool] || l[LABEL.poolHolder] ? (unclaimed ? undefined : keyFromName(c.name)) : undefined);
  const labels = Object.fromEntries(Object.entries(l).filter(([k]) => !RECORD_LABELS.has(k)));
  return {
    id: record.id,
    name: unitNameOf(c.name),
    ...(key !== undefined ? { key } : {}),
    state: STATE[c.state],
    record,
    labels,
    ...(c.startedAt ? { startedAt: c.startedAt } : {}),
    ...(c.finishedAt ? { finishedAt: c.finishedAt } : {}),
    ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    ...(c.oomKilled !== undefined ? { oomKilled: c.oomKilled } : {}),
    ports: ports
      .filter((p) => p.hostPort > 0)
      .map((p) => ({ ...p, url: `http://${p.hostIp === '' || p.hostIp === '0.0.0.0' ? '127.0.0.1' : p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}` })),
    ...(c.healthLog ? { healthCheck: c.healthLog } : c.health ? { healthCheck: { status: c.health, failingStreak: 0 } } : {}),
    ...(unclaimed ? { pool: { id: l[LABEL.poolHolder] ?? '', ready: isReadyPoolName(c.name) } } : {}),
    backendId: c.id,
    details: { container: c.name, image: c.image, createdAt: c.createdAt, ...(c.runtime ? { runtime: c.runtime } : {}), ...(c.networks ? { networks: c.networks } : {}) },
    ...(c.env ? { env: c.env } : {}),
  };
}
