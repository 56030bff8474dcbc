import type { SandboxInfo } from '../sandbox/sandbox.js';
import type { SandboxRecord } from '../store/sandboxes.js';
import type { HealthSample } from '../store/audit.js';
import { PROJECT_LABEL } from './reconcile.js';

/** A sandbox as the API shows it: the engine's live view when the container exists, else the record. */
export interface SandboxView {
  id: string;
  name: string;
  containerId: string;
  key?: string;
  project?: string;
  image: string;
  state: string;
  health?: string;
  lifetime: string;
  owner: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  vanishedAt?: string;
  ports: Array<{ containerPort: number; hostIp: string; hostPort: number; url?: string }>;
  labels: Record<string, string>;
  lastSample?: HealthSample;
}

export function liveView(info: SandboxInfo, rec?: SandboxRecord, lastSample?: HealthSample): SandboxView {
  return {
    id: info.id,
    name: info.name,
    containerId: info.containerId,
    ...(info.key ? { key: info.key } : {}),
    ...(info.labels[PROJECT_LABEL] ? { project: info.labels[PROJECT_LABEL] } : {}),
    image: info.image,
    state: info.state,
    ...(rec?.health ? { health: rec.health } : info.health ? { health: info.health } : {}),
    lifetime: info.lifetime,
    owner: info.owner,
    createdAt: info.createdAt,
    ...(info.startedAt ? { startedAt: info.startedAt } : {}),
    ...(info.finishedAt ? { finishedAt: info.finishedAt } : {}),
    ...(info.exitCode !== undefined ? { exitCode: info.exitCode } : {}),
    ...(info.oomKilled !== undefined ? { oomKilled: info.oomKilled } : {}),
    ports: info.ports.map((p) => ({ ...p, ...(p.hostPort > 0 ? { url: `http://${p.hostIp === '' || p.hostIp === '0.0.0.0' ? '127.0.0.1' : p.hostIp}:${p.hostPort}` } : {}) })),
    labels: info.labels,
    ...(lastSample ? { lastSample } : {}),
  };
}

export function recordView(rec: SandboxRecord, lastSample?: HealthSample): SandboxView {
  return {
    id: rec.id,
    name: rec.name,
    containerId: rec.containerId,
    ...(rec.key ? { key: rec.key } : {}),
    ...(rec.project ? { project: rec.project } : {}),
    image: rec.image,
    state: rec.state,
    ...(rec.health ? { health: rec.health } : {}),
    lifetime: rec.lifetime,
    owner: rec.owner,
    createdAt: rec.createdAt,
    ...(rec.vanishedAt ? { vanishedAt: rec.vanishedAt } : {}),
    ports: [],
    labels: rec.labels,
    ...(lastSample ? { lastSample } : {}),
  };
}
