import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { WardenError } from '../errors.js';
import { DurationSchema, parseSpec, type SandboxSpec, type SandboxSpecInput } from '../policy/spec.js';
import type { SandboxRuntime } from '../runtime/sandbox-runtime.js';
import { getTemplate, withTemplate } from '../templates/catalog.js';
import { canonicalJson, sha256 } from '../util/ids.js';
import { Periodic } from '../util/periodic.js';

export interface WarmPoolOptions {
  /** The template whose sandboxes are kept ready (dev server answering). */
  template: string;
  /** How many unclaimed members to keep running. */
  size: number;
  /** The rest of the spec members are made with; a request is served from the pool only when it asks for exactly this (apart from its key). */
  spec?: Omit<SandboxSpecInput, 'template' | 'key' | 'name'>;
  /** How often the pool is checked and topped up (besides right after each claim). Default 30 s. */
  interval?: string | number;
}

/** What a pool needs from its Warden. */
export interface PoolHost {
  readonly runtime: SandboxRuntime;
  readonly owner: string;
  readonly instance: string;
  /** Make one member: a full sandbox of the pool's spec, handed out only once ready (markPoolReady). */
  createPoolMember(spec: SandboxSpec, pool: { template: string; holder: string; signature: string }): Promise<unknown>;
  remove(ref: string, opts?: { force?: boolean }): Promise<void>;
}

/**
 * What decides whether a member can serve a request: the whole spec apart from the key and name, with
 * env by names only (values stay out of labels; the pool compares them in memory).
 */
export function poolSignature(spec: SandboxSpec): string {
  const { key: _key, name: _name, env, ...rest } = spec;
  return sha256(canonicalJson({ ...rest, env: Object.keys(env).sort() })).slice(0, 16);
}

/**
 * Warm sandboxes of one template, made ahead of time so `create`/`ensure` with a key can hand one out
 * at once: the runtime's claim gives a ready member to the key atomically (Docker: a rename to the
 * key's container name; Kubernetes: an update with resourceVersion). Only the pool that made a member
 * hands it out (its `holder` is the member's pool id). Members are ordinary sandboxes (same hardening,
 * egress, preview) labelled `warden.pool`; ephemeral ones die with their owner like any other. Made by
 * `warden.pool({ template, size })`.
 */
export class WarmPool {
  readonly template: string;
  readonly size: number;
  readonly spec: SandboxSpec;
  readonly signature: string;
  /** This pool instance: only it hands out its members (claims are serialized within its process). */
  readonly holder = `pool-${randomBytes(6).toString('hex')}`;
  private readonly loop: Periodic;
  private filling: Promise<number> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly host: PoolHost,
    opts: WarmPoolOptions,
    private readonly log: Logger,
  ) {
    if (!Number.isInteger(opts.size) || opts.size < 0 || opts.size > 50) {
      throw new WardenError('INVALID_SPEC', `pool size ${opts.size} is not a whole number from 0 to 50; pick how many warm sandboxes to keep, e.g. size: 2`);
    }
    const template = getTemplate(opts.template); // names the known templates when this one is not
    this.template = template.name;
    this.size = opts.size;
    this.spec = parseSpec(withTemplate({ ...(opts.spec ?? {}), template: template.name }, template));
    this.signature = poolSignature(this.spec);
    const interval = DurationSchema.safeParse(opts.interval ?? '30s');
    if (!interval.success) throw new WardenError('INVALID_SPEC', `pool interval '${opts.interval}' is not a duration; write e.g. '30s' or '2m'`);
    this.loop = new Periodic(interval.data, () => this.fill());
  }

  /** False once stop() was called. */
  get active(): boolean {
    return !this.stopped;
  }

  /** Whether a request (template defaults applied, key set) can be served by this pool's members. */
  matches(spec: SandboxSpec): boolean {
    return spec.template === this.template && !spec.name && poolSignature(spec) === this.signature && canonicalJson(spec.env) === canonicalJson(this.spec.env);
  }

  /** Top up now and every interval until stop(). */
  start(): void {
    this.stopped = false;
    this.loop.start();
    this.kick();
  }

  /** Top up in the background (after a claim); during a top-up, once more after it (it counted before the claim). */
  kick(): void {
    if (this.filling) {
      this.again = true;
      return;
    }
    void this.fill().catch((err: unknown) => this.log.warn({ err, template: this.template }, 'warm pool: top-up failed'));
  }

  /** Unclaimed members of this pool (this owner, this spec), running or not; `ready` once claimable. */
  async members(): Promise<Array<{ id: string; containerId: string; running: boolean; ready: boolean }>> {
    const all = await this.host.runtime.list({ instance: this.host.instance, owner: this.host.owner, pool: this.holder });
    return all
      .filter((u) => u.pool && u.record.poolSignature === this.signature)
      .map((u) => ({ id: u.id, containerId: u.backendId, running: u.state === 'running', ready: u.pool?.ready === true }));
  }

  /** Remove members that stopped, then make members until `size` run; one fill at a time. Returns how many it made. */
  fill(): Promise<number> {
    if (this.filling) return this.filling;
    this.filling = (async () => {
      let made = 0;
      try {
        const members = await this.members();
        for (const m of members.filter((x) => !x.running)) await this.host.remove(m.containerId, { force: true }).catch(() => undefined);
        // one at a time: a pool must not crowd out the requests it is there to speed up
        for (let n = members.filter((x) => x.running).length; n < this.size && !this.stopped; n++) {
          await this.host.createPoolMember(this.spec, { template: this.template, holder: this.holder, signature: this.signature });
          made++;
        }
      } finally {
        this.filling = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      }
      if (made) this.log.info({ template: this.template, made }, 'warm pool topped up');
      return made;
    })();
    return this.filling;
  }

  /** Stop topping up; with `drain` (default) remove the unclaimed members too. */
  async stop(opts: { drain?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.loop.stop();
    await this.filling?.catch(() => undefined);
    if (opts.drain === false) return;
    await Promise.all((await this.members()).map((m) => this.host.remove(m.containerId, { force: true }).catch(() => undefined)));
  }
}
