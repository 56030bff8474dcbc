import { z } from 'zod';
import { PeriodicCheck } from '../util/periodic.js';
import type { Logger } from '../log.js';
import { DurationSchema, zodToValidationError } from '../policy/spec.js';
import { recordSpec } from '../policy/record.js';
import type { SandboxRuntime, Unit } from '../runtime/sandbox-runtime.js';
import type { ListFilter } from './lifecycle.js';

/** When an idle app sandbox is stopped (its files are kept; `ensure` resumes it). */
export const IdlePolicySchema = z
  .object({
    idleAfter: DurationSchema.default(15 * 60_000).describe('Stop a sandbox with no activity for this long. Default 15m.'),
    interval: DurationSchema.default(30_000).describe('How often to check. Default 30s.'),
    templatesOnly: z.boolean().default(true).describe('Only sandboxes made from a template (app sandboxes). Default true; false: every running sandbox.'),
    stopTimeoutMs: z.number().int().min(0).default(5_000).describe('Grace period of the stop. Default 5000.'),
  })
  .strict();

export type IdlePolicyInput = z.input<typeof IdlePolicySchema>;
export type IdlePolicy = z.output<typeof IdlePolicySchema>;

export function parseIdlePolicy(input: unknown): IdlePolicy {
  const r = IdlePolicySchema.safeParse(input ?? {});
  if (!r.success) throw zodToValidationError('invalid idle policy', r.error);
  return r.data;
}

/** What is known of a sandbox's activity; each source may be missing. */
export interface ActivitySignals {
  /** When the container last started (ISO). */
  startedAt?: string;
  /** Last SDK call on it in this process (ms). */
  sdkAt?: number;
  /** Last preview connection event from its forwarder, and how many are open now. */
  preview?: { at: number; open: number };
}

/** Pure: how long the sandbox has been idle (0 while a preview connection is open, e.g. a live HMR socket). */
export function idleForMs(s: ActivitySignals, now = Date.now()): number {
  if (s.preview && s.preview.open > 0) return 0;
  const last = Math.max(s.startedAt ? Date.parse(s.startedAt) : 0, s.sdkAt ?? 0, s.preview?.at ?? 0);
  return last > 0 ? Math.max(0, now - last) : 0;
}

export interface IdleStopRecord { id: string; key?: string; at: string; idleMs: number }

/**
 * The idle policy: stops running app sandboxes that saw no activity for `idleAfter`. Activity is any SDK
 * call through this process's Warden (exec, files, url…), a (re)start, and preview traffic (the
 * forwarder logs each connection; an open one, such as a watching browser's HMR socket, counts as
 * activity). Stopping keeps the sandbox's files (its workspace volume); `warden.ensure({ template, key })`
 * starts it again and waits for its dev server.
 *
 * @example
 * const idle = new IdleStopper(warden, { idleAfter: '10m' }, log);
 * idle.start();
 */
/** What the idle policy needs from a Warden. */
export interface IdleHost {
  readonly runtime: SandboxRuntime;
  units(filter?: ListFilter): Promise<Unit[]>;
  lastActivity(id: string): number | undefined;
  stop(ref: string, opts?: { timeoutMs?: number }): Promise<void>;
}

export class IdleStopper extends PeriodicCheck<IdleStopRecord> {
  readonly policy: IdlePolicy;

  constructor(
    private readonly warden: IdleHost,
    policy: IdlePolicyInput,
    private readonly log: Logger,
    private readonly onStop?: (r: IdleStopRecord) => void,
  ) {
    super();
    this.policy = parseIdlePolicy(policy);
  }

  private isCandidate(u: Unit): boolean {
    if (u.pool) return false; // an unclaimed pool member is warm on purpose
    if (!this.policy.templatesOnly) return true;
    return typeof recordSpec(u.record).template === 'string';
  }

  /** Check every running sandbox once (narrowed by labels); returns those stopped. */
  async checkOnce(filter: { labels?: Record<string, string> } = {}, now = Date.now()): Promise<IdleStopRecord[]> {
    const done: IdleStopRecord[] = [];
    const running = await this.warden.units({ state: 'running', ...(filter.labels ? { labels: filter.labels } : {}) });
    for (const info of running.filter((u) => this.isCandidate(u))) {
      try {
        const preview = await this.warden.runtime.previewActivity(info.id);
        const sdkAt = this.warden.lastActivity(info.id);
        const idleMs = idleForMs({ ...(info.startedAt ? { startedAt: info.startedAt } : {}), ...(sdkAt ? { sdkAt } : {}), ...(preview ? { preview } : {}) }, now);
        if (idleMs < this.policy.idleAfter) continue;
        await this.warden.stop(info.id, { timeoutMs: this.policy.stopTimeoutMs });
        const rec: IdleStopRecord = { id: info.id, ...(info.key ? { key: info.key } : {}), at: new Date().toISOString(), idleMs };
        this.log.info({ sandbox: info.id, idleMs }, 'idle: sandbox stopped (files kept)');
        this.onStop?.(rec);
        done.push(rec);
      } catch (err) {
        this.log.warn({ err, sandbox: info.id }, 'idle: check failed');
      }
    }
    return done;
  }
}
