import type { Logger } from '../log.js';
import { specOfInfo, type SandboxInfo } from '../sandbox/info.js';
import type { Warden } from '../sandbox/warden.js';
import type { WardenStore } from '../store/store.js';
import type { EventBus } from './bus.js';

/** Label naming the project a sandbox belongs to (API field `project`). */
export const PROJECT_LABEL = 'warden.project';

export interface ReconcileReport {
  seen: number;
  /** What the engine listed (callers reuse it instead of listing again). */
  live: SandboxInfo[];
  adopted: string[];
  vanished: string[];
  changed: number;
}

/**
 * Brings the store in line with the engine: every Warden-labelled sandbox is recorded (adopting
 * ones created by an earlier server, the CLI or the SDK), records whose container is gone are marked
 * vanished. Runs at start and then periodically, so a crash or an outside `docker rm` is noticed.
 */
export class Reconciler {
  constructor(
    private readonly warden: Warden,
    private readonly store: WardenStore,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  async sync(): Promise<ReconcileReport> {
    const live = await this.warden.list();
    const seen = new Set<string>();
    const adopted: string[] = [];
    let changed = 0;
    for (const info of live) {
      seen.add(info.id);
      const before = this.store.sandboxes.get(info.id);
      if (!before) adopted.push(info.id);
      this.record(info);
      if (before && before.state !== info.state) {
        changed++;
        this.bus.publish({ type: 'sandbox', sandboxId: info.id, state: info.state });
      } else if (!before) this.bus.publish({ type: 'sandbox', sandboxId: info.id, state: info.state, reason: 'adopted' });
    }
    const vanished = this.store.sandboxes.markVanished(seen);
    for (const id of vanished) this.bus.publish({ type: 'sandbox', sandboxId: id, state: 'vanished' });
    if (adopted.length || vanished.length) this.log.info({ adopted, vanished }, 'reconciled state with the engine');
    return { seen: live.length, live, adopted, vanished, changed };
  }

  /** Record what the engine says of one sandbox. */
  record(info: SandboxInfo, spec?: unknown): void {
    this.store.sandboxes.upsert({
      id: info.id,
      containerId: info.containerId,
      name: info.name,
      ...(info.key ? { key: info.key } : {}),
      owner: info.owner,
      ...(info.labels[PROJECT_LABEL] ? { project: info.labels[PROJECT_LABEL] } : {}),
      image: info.image,
      lifetime: info.lifetime,
      policyHash: info.policyHash,
      spec: spec ?? specFromLabels(info),
      labels: info.labels,
      state: info.state,
      ...(info.health ? { health: info.health } : {}),
      createdAt: info.createdAt,
    });
  }
}

function specFromLabels(info: SandboxInfo): unknown {
  // env values stay in the sandbox, not in the store: the record keeps only the names
  const s = specOfInfo(info);
  return { ...s, env: s.env ?? [] };
}
