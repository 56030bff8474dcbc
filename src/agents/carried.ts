import { WardenError } from '../errors.js';
import { pullTree, pushTree, type SyncBaseline } from '../sandbox/host-sync.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { HostOwner } from '../util/host-tree.js';

/** One host directory an agent's sandbox gets by copy: what it is (for errors), where, and whose. */
export interface CarriedDir {
  what: string;
  host: string;
  sandbox: string;
  owner: HostOwner;
}

/**
 * An agent's host directories (its workspace, its CLI's state dir) carried into a sandbox whose runtime
 * cannot mount host paths (Kubernetes, ACI), and their changes carried back after each run, so the
 * host sees the agent's edits and a later run resumes its sessions, as with a mount on Docker.
 */
export class CarriedDirs {
  private readonly baselines = new Map<string, SyncBaseline>();

  private constructor(private readonly dirs: CarriedDir[]) {}

  /** Copy every directory in (the sandbox side is made when missing). */
  static async carryIn(sb: Sandbox, dirs: CarriedDir[]): Promise<CarriedDirs> {
    const c = new CarriedDirs(dirs);
    for (const d of dirs) {
      try {
        c.baselines.set(d.sandbox, await pushTree(sb, d.host, d.sandbox));
      } catch (err) {
        throw new WardenError('AGENT_FAILED', `could not copy the ${d.what} ${d.host} into sandbox ${sb.id} (at ${d.sandbox}): ${(err as Error).message}`, { cause: err });
      }
    }
    return c;
  }

  /** Copy what changed back to the host: every directory is tried; the first failure is thrown after. */
  async carryBack(sb: Sandbox): Promise<{ written: number; removed: number }> {
    let written = 0;
    let removed = 0;
    let failure: WardenError | undefined;
    for (const d of this.dirs) {
      try {
        const r = await pullTree(sb, d.sandbox, d.host, this.baselines.get(d.sandbox) ?? { files: new Map() }, d.owner);
        this.baselines.set(d.sandbox, r.baseline);
        written += r.written;
        removed += r.removed;
      } catch (err) {
        failure ??= new WardenError('AGENT_FAILED', `could not copy the ${d.what} back from sandbox ${sb.id} (${d.sandbox} to ${d.host}): ${(err as Error).message}`, { cause: err });
      }
    }
    if (failure) throw failure;
    return { written, removed };
  }
}
