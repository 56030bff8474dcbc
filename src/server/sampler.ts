import type { Logger } from '../log.js';
import { specOfInfo } from '../sandbox/info.js';
import type { Warden } from '../sandbox/warden.js';
import type { WardenStore } from '../store/store.js';
import type { EventBus } from './bus.js';

/**
 * Samples the health and resource use of running sandboxes (a few at a time, off every request path)
 * and pulls their egress audit into the store. Each sample goes to the store (history for
 * sparklines) and to the bus (live dashboard).
 */
export class Sampler {
  private busy = false;

  constructor(
    private readonly warden: Warden,
    private readonly store: WardenStore,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly concurrency = 4,
  ) {}

  /** One round over every running sandbox the store knows. Skipped when the previous round still runs. */
  async round(): Promise<number> {
    if (this.busy) return 0;
    this.busy = true;
    try {
      const running = this.store.sandboxes.list({ state: 'running' });
      let i = 0;
      const worker = async (): Promise<void> => {
        while (i < running.length) {
          const rec = running[i++]!;
          await this.sampleOne(rec.id).catch((err: unknown) => this.log.debug({ err, sandbox: rec.id }, 'sample failed'));
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, running.length) }, worker));
      return running.length;
    } finally {
      this.busy = false;
    }
  }

  private async sampleOne(id: string): Promise<void> {
    const sb = await this.warden.find(id);
    if (!sb) return;
    const h = await sb.health();
    const s = h.stats;
    const disk = s.disk.length ? Math.max(...s.disk.map((d) => d.percent)) : undefined;
    const sample = {
      sandboxId: id,
      ts: new Date().toISOString(),
      status: h.status,
      ...(s.cpuPercent !== undefined ? { cpuPercent: s.cpuPercent } : {}),
      ...(s.memoryBytes !== undefined ? { memoryBytes: s.memoryBytes } : {}),
      ...(s.memoryLimitBytes !== undefined ? { memoryLimit: s.memoryLimitBytes } : {}),
      ...(disk !== undefined ? { diskPercent: disk } : {}),
      ...(s.pids !== undefined ? { pids: s.pids } : {}),
    };
    this.store.audit.health(sample);
    this.store.sandboxes.setHealth(id, h.status);
    this.bus.publish({ type: 'sample', ...sample });
    if (specOfInfo(sb.info).network === 'allowlist') {
      const added = this.store.audit.egress(id, await sb.egressLog());
      if (added > 0) {
        const log = this.store.audit.egressLog(id, 10_000);
        this.bus.publish({ type: 'egress', sandboxId: id, allowed: log.filter((r) => r.allowed).length, denied: log.filter((r) => !r.allowed).length });
      }
    }
  }
}
