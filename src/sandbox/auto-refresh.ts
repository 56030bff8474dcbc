import { z } from 'zod';
import { PeriodicCheck } from '../util/periodic.js';
import type { Logger } from '../log.js';
import { DurationSchema, zodToValidationError } from '../policy/spec.js';
import type { SandboxInfo } from './sandbox.js';
import type { SandboxHealth } from './monitor.js';
import type { Warden } from './warden.js';

/** When a persistent sandbox is recreated from scratch (workspace kept). Seeds 2 and 4. */
export const AutoRefreshPolicySchema = z
  .object({
    maxAge: DurationSchema.default(72 * 3_600_000).describe('Refresh when older than this. Default 72h.'),
    diskPercent: z.number().min(1).max(100).default(80).describe('Refresh when a writable area is fuller than this. Default 80.'),
    memoryPercent: z.number().min(1).max(100).default(90).describe('Refresh when memory use is above this share of the cap. Default 90.'),
    failedHealthChecks: z.number().int().min(1).default(3).describe('Refresh after this many image health checks failed in a row. Default 3.'),
    interval: DurationSchema.default(60_000).describe('How often to check. Default 1m.'),
  })
  .strict();

export type AutoRefreshPolicyInput = z.input<typeof AutoRefreshPolicySchema>;
export type AutoRefreshPolicy = z.output<typeof AutoRefreshPolicySchema>;

export function parseAutoRefreshPolicy(input: unknown): AutoRefreshPolicy {
  const r = AutoRefreshPolicySchema.safeParse(input ?? {});
  if (!r.success) throw zodToValidationError('invalid auto-refresh policy', r.error);
  return r.data;
}

/** Pure: the reasons to refresh this sandbox now (empty: leave it). */
export function refreshReasons(info: SandboxInfo, health: SandboxHealth, policy: AutoRefreshPolicy, now = Date.now()): string[] {
  const reasons: string[] = [];
  const age = now - Date.parse(info.createdAt);
  if (age > policy.maxAge) reasons.push(`age ${Math.round(age / 3_600_000 * 10) / 10} h over ${Math.round(policy.maxAge / 3_600_000 * 10) / 10} h`);
  for (const d of health.stats.disk) if (d.percent > policy.diskPercent) reasons.push(`${d.path} at ${d.percent}% over ${policy.diskPercent}%`);
  const mem = health.stats.memoryPercent;
  if (mem !== undefined && mem > policy.memoryPercent) reasons.push(`memory at ${mem}% over ${policy.memoryPercent}%`);
  if (health.check && health.check.failingStreak >= policy.failedHealthChecks) reasons.push(`health check failed ${health.check.failingStreak} times in a row`);
  return reasons;
}

export interface RefreshRecord { id: string; at: string; reasons: string[] }

/**
 * Watches the running persistent sandboxes on the engine and refreshes those the policy says to,
 * recording why (log line, and the `warden.last-refresh` label of the new container).
 */
export class AutoRefresher extends PeriodicCheck<RefreshRecord> {
  readonly policy: AutoRefreshPolicy;

  constructor(
    private readonly warden: Warden,
    policy: AutoRefreshPolicyInput,
    private readonly log: Logger,
    private readonly onRefresh?: (r: RefreshRecord) => void,
  ) {
    super();
    this.policy = parseAutoRefreshPolicy(policy);
  }

  /** Check every persistent running sandbox once; returns what was refreshed. */
  async checkOnce(filter: { labels?: Record<string, string> } = {}): Promise<RefreshRecord[]> {
    const done: RefreshRecord[] = [];
    for (const info of await this.warden.list({ lifetime: 'persistent', state: 'running', ...(filter.labels ? { labels: filter.labels } : {}) })) {
      try {
        const sb = await this.warden.get(info.containerId);
        const reasons = refreshReasons(info, await sb.health(), this.policy);
        if (reasons.length === 0) continue;
        await this.warden.refresh(info.containerId, { reason: reasons.join('; ') });
        const rec = { id: info.id, at: new Date().toISOString(), reasons };
        this.log.warn({ sandbox: info.id, reasons }, 'auto-refresh: sandbox recreated');
        this.onRefresh?.(rec);
        done.push(rec);
      } catch (err) {
        this.log.warn({ err, sandbox: info.id }, 'auto-refresh: check failed');
      }
    }
    return done;
  }
}
