import { WardenError } from '../errors.js';
import type { Logger } from '../log.js';
import { LABEL } from '../policy/labels.js';
import type { SandboxSpec } from '../policy/spec.js';
import { poolUnitName } from '../runtime/unit-names.js';
import { getTemplate } from '../templates/catalog.js';
import { newSandboxId } from '../util/ids.js';
import type { WardenContext } from './context.js';
import type { CreateOptions, Lifecycle } from './lifecycle.js';
import { WarmPool, type PoolHost, type WarmPoolOptions } from './pool.js';
import type { Sandbox } from './sandbox.js';

/**
 * This Warden's warm pools (one per template): making members, and handing a ready one to a key
 * through the runtime's atomic claim.
 */
export class Pools {
  private readonly pools = new Map<string, WarmPool>();

  constructor(
    private readonly ctx: WardenContext,
    private readonly lifecycle: Lifecycle,
    /** Removal as the SDK does it (stop, then remove), for members a pool drops. */
    private readonly remove: (ref: string, opts?: { force?: boolean }) => Promise<void>,
  ) {}

  /** Start keeping `size` members of a template warm (a pool this Warden had for it stops). */
  start(opts: WarmPoolOptions, log: Logger): WarmPool {
    const host: PoolHost = {
      runtime: this.ctx.runtime,
      owner: this.ctx.owner,
      instance: this.ctx.instance,
      createPoolMember: (spec, pool) => this.createMember(spec, pool),
      remove: (ref, o) => this.remove(ref, o),
    };
    const pool = new WarmPool(host, opts, log);
    void this.pools.get(pool.template)?.stop(); // its members could never be handed out again (other holder)
    this.pools.set(pool.template, pool);
    pool.start();
    return pool;
  }

  active(): WarmPool[] {
    return [...this.pools.values()].filter((p) => p.active);
  }

  /** Stop every pool (no top-ups while leaving); unclaimed members go. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.stop()));
  }

  /**
   * Make one member: a full template sandbox, marked ready (claimable) only once its dev server
   * answers, so nobody is handed a half-made one.
   */
  async createMember(spec: SandboxSpec, pool: { template: string; holder: string; signature: string }): Promise<Sandbox> {
    const id = newSandboxId();
    const sb = await this.lifecycle.createFrom(spec, {
      id,
      name: poolUnitName(pool.template, id),
      labels: { [LABEL.pool]: pool.template },
      pool: { id: pool.holder, signature: pool.signature },
    });
    try {
      if (spec.template) await this.lifecycle.templateReady(sb, getTemplate(spec.template), {});
      await this.ctx.runtime.markPoolReady(id);
    } catch (err) {
      await this.remove(id, { force: true }).catch(() => undefined);
      throw err;
    }
    return sb;
  }

  /**
   * A ready member of this Warden's pool for the spec's template, handed to the spec's key; undefined
   * when there is no pool for it, the spec differs, or no member is free. A NAME_CONFLICT means the key
   * has a sandbox already (ensure's retry finds it; create reports it).
   */
  async claim(spec: SandboxSpec, opts: CreateOptions): Promise<Sandbox | undefined> {
    const pool = spec.template && spec.key ? this.pools.get(spec.template) : undefined;
    if (!pool?.active || !pool.matches(spec) || !spec.key) return undefined;
    const members = (await this.ctx.runtime.list({ instance: this.ctx.instance, owner: this.ctx.owner, pool: pool.holder, state: 'running' }))
      .filter((u) => u.pool?.ready)
      // a caller's own labels (a tenant, a project) must be on the member too
      .filter((u) => Object.entries(opts.labels ?? {}).every(([k, v]) => u.labels[k] === v));
    for (const m of members) {
      let unit;
      try {
        unit = await this.ctx.runtime.claim(m.id, spec.key, this.ctx.ownerLink());
      } catch (err) {
        if (err instanceof WardenError && err.code === 'SANDBOX_NOT_FOUND') continue; // claimed or removed meanwhile (stop(), a user's rm)
        throw err;
      }
      pool.kick();
      this.ctx.log.info({ sandbox: unit.id, key: spec.key, template: pool.template }, 'claimed a warm pool member');
      return this.ctx.handle(unit);
    }
    pool.kick();
    return undefined;
  }
}
