import type { SandboxInfo } from '../sandbox/sandbox.js';
import type { SandboxRecord } from '../store/sandboxes.js';
import type { HealthSample } from '../store/audit.js';
import { PROJECT_LABEL } from './reconcile.js';

/**
 * A sandbox as the API shows it: the engine's live view when the container exists, else the record.
 * SandboxInfo's fields, with the state widened (`vanished`, `removed`) and the API's additions.
 */
export interface SandboxView
  extends Pick<SandboxInfo, 'id' | 'name' | 'containerId' | 'key' | 'image' | 'health' | 'owner' | 'createdAt' | 'startedAt' | 'finishedAt' | 'exitCode' | 'oomKilled' | 'labels'> {
  project?: string;
  state: string;
  lifetime: string;
  vanishedAt?: string;
  ports: Array<SandboxInfo['ports'][number] & { url?: string }>;
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
