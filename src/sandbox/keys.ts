import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../errors.js';
import { policyHash } from '../policy/compile.js';
import type { SandboxSpec } from '../policy/spec.js';
import type { WardenContext } from './context.js';
import type { CreateOptions, Lifecycle } from './lifecycle.js';
import type { Planner } from './planning.js';
import type { Pools } from './pools.js';
import type { Sandbox } from './sandbox.js';

/** How many times ensure looks again when concurrent callers change the key's sandbox under it. */
const ATTEMPTS = 40;

/** A key is taken (by the runtime's per-key lock, or a name): another caller made it first. */
const taken = (err: unknown): boolean => err instanceof WardenError && (err.code === 'KEY_TAKEN' || err.code === 'NAME_CONFLICT');

/**
 * One sandbox per key. `ensure` reuses the running one, resumes a stopped one whose policy is
 * unchanged (the backend starts it again with its writable areas, or, without 'resume', recreates it
 * with the same id and its kept workspace), recreates one whose policy changed, and otherwise makes
 * one (from a warm pool when one matches). The backend's per-key lock makes it atomic; concurrent
 * callers adopt whoever won.
 */
export class Keys {
  constructor(
    private readonly ctx: WardenContext,
    private readonly planner: Planner,
    private readonly lifecycle: Lifecycle,
    private readonly pools: Pools,
  ) {}

  async ensure(spec: SandboxSpec, opts: CreateOptions): Promise<Sandbox> {
    const key = spec.key;
    if (!key) throw new WardenError('INVALID_SPEC', 'ensure() needs a key (the project or session id) to find the sandbox again; add key: "..."');
    this.planner.requireCapabilities(spec);
    const { resolved, user } = await this.planner.wanted(spec);
    const wanted = policyHash(resolved, user);
    const rt = this.ctx.runtime;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const found = await this.lifecycle.findByKey(key);
      if (!found) {
        try {
          return (await this.pools.claim(spec, opts)) ?? (await this.lifecycle.createNew(spec, opts.labels));
        } catch (err) {
          if (taken(err)) continue; // another caller created it first: adopt theirs
          throw err;
        }
      }
      const sameSpec = found.record.policyHash === wanted;
      switch (found.state) {
        case 'running':
          if (!sameSpec) this.ctx.log.warn({ sandbox: found.id, key }, 'ensure: reusing a running sandbox whose policy differs from the requested spec; refresh() applies the new one');
          return this.ctx.handle(found);
        case 'creating': // another caller is starting it
        case 'removing':
          await sleep(100);
          continue;
        case 'stopped':
          if (sameSpec && rt.capabilities.has('resume')) return this.ctx.handle(await rt.resume(found.id, this.ctx.ownerLink(found.record.owner || undefined)));
          break;
        default:
      }
      // a changed policy, a failed or paused unit, or a backend that cannot resume: made again, same id, workspace kept
      await rt.remove(found.id, { keepWorkspace: true });
      try {
        return await this.lifecycle.createFrom(spec, { id: found.id, ...(opts.labels ? { labels: opts.labels } : {}) });
      } catch (err) {
        if (taken(err)) continue;
        throw err;
      }
    }
    throw new WardenError('NAME_CONFLICT', `ensure(${key}): the sandbox kept changing under concurrent callers; try again`);
  }
}
