import type { Logger } from '../../log.js';
import { LABEL } from '../../policy/labels.js';
import type { PanicResult, PruneResult } from '../sandbox-runtime.js';
import type { DockerEngine } from './engine.js';
import type { EngineContainer } from './engine-types.js';

/** Companions younger than this may belong to a sandbox another process is making right now (its network and proxy come first). */
const GRACE_MS = 60_000;

const old = (at: string | undefined): boolean => !at || Date.now() - Date.parse(at) > GRACE_MS;

/** What a sweep or prune removed, as `<kind> <name>` lines, and what failed. */
export interface Removed { other: string[]; errors: string[] }

/**
 * Everything of owners that died: objects carrying an owner-link label whose reaper container is gone
 * (the owner died before its reaper acted, its reaper was removed, or an older Warden made them).
 * A link with a running sandbox is left alone (a live process holds that sandbox's stdin).
 */
export async function sweepDeadOwners(engine: DockerEngine, opts: { labels: Record<string, string>; liveLink: string; log: Logger }): Promise<Removed> {
  const out: Removed = { other: [], errors: [] };
  const filter = { [LABEL.ownerLink]: '', ...opts.labels }; // a given link narrows it to that owner
  const [live, containers, networks, volumes] = await Promise.all([
    engine.liveReapers(LABEL.ownerLink),
    engine.list({ [LABEL.managed]: 'true', ...filter }),
    engine.listNetworks({ [LABEL.managed]: 'true', ...filter }),
    engine.listVolumes(filter),
  ]);
  live.add(opts.liveLink);
  const linkOf = (labels: Record<string, string>): string => labels[LABEL.ownerLink] ?? '';
  const dead = new Set([...containers, ...networks, ...volumes].map((o) => linkOf(o.labels)).filter((l) => l && !live.has(l)));
  for (const c of containers) {
    if (dead.has(linkOf(c.labels)) && !c.labels[LABEL.role] && c.state === 'running') dead.delete(linkOf(c.labels));
  }
  if (dead.size === 0) return out;
  const done = (what: string) => () => void out.other.push(what);
  const failed = (what: string) => (err: unknown) => void out.errors.push(`${what}: ${(err as Error).message}`);
  await Promise.all(containers.filter((c) => dead.has(linkOf(c.labels))).map((c) => engine.remove(c.id, { force: true }).then(done(`container ${c.name}`), failed(c.name))));
  await Promise.all(networks.filter((n) => dead.has(linkOf(n.labels))).map((n) => engine.removeNetwork(n.id).then(done(`network ${n.name}`), failed(`network ${n.name}`))));
  await Promise.all(volumes.filter((v) => dead.has(linkOf(v.labels))).map((v) => engine.removeVolume(v.name).then(done(`volume ${v.name}`), failed(`volume ${v.name}`))));
  if (out.other.length > 0) opts.log.info({ removed: out.other }, 'swept what dead owners left');
  return out;
}

/**
 * Dead owners' leftovers, then (with `stopped`) exited and dead sandboxes with all made for them, then
 * companions whose sandbox is gone (older than a minute), then guest volumes of earlier guard builds
 * that nothing mounts (when `guestVolume` names the one in use).
 */
export async function prune(
  engine: DockerEngine,
  opts: {
    labels: Record<string, string>;
    liveLink: string;
    stopped: boolean;
    /** Remove one stopped sandbox unit (the runtime's remove). */
    removeUnit: (c: EngineContainer) => Promise<void>;
    /** Whether a sandbox container is in the caller's scope (its instance). */
    inScope: (c: EngineContainer) => boolean;
    log: Logger;
    guestVolume?: string;
  },
): Promise<PruneResult> {
  const t0 = Date.now();
  const base = { [LABEL.managed]: 'true', ...opts.labels };
  const swept = await sweepDeadOwners(engine, { labels: opts.labels, liveLink: opts.liveLink, log: opts.log });
  const report: PruneResult = { sandboxes: [], other: [...swept.other], errors: [...swept.errors], durationMs: 0 };

  if (opts.stopped) {
    const all = await engine.list(base);
    const stopped = all.filter((c) => !c.labels[LABEL.role] && (c.state === 'exited' || c.state === 'dead') && opts.inScope(c));
    await Promise.all(
      stopped.map((c) => opts.removeUnit(c).then(() => void report.sandboxes.push(c.labels[LABEL.id] ?? c.name), (err: unknown) => void report.errors.push(`${c.name}: ${(err as Error).message}`))),
    );
  }

  // companions whose sandbox is gone
  const after = await engine.list(base);
  const ids = new Set(after.filter((c) => !c.labels[LABEL.role]).map((c) => c.labels[LABEL.id]));
  const orphan = (labels: Record<string, string>): boolean => {
    const id = labels[LABEL.id];
    return id !== undefined && !ids.has(id);
  };
  const done = (what: string) => () => void report.other.push(what);
  const failed = (what: string) => (err: unknown) => void report.errors.push(`${what}: ${(err as Error).message}`);
  await Promise.all(
    after
      .filter((c) => c.labels[LABEL.role] && c.labels[LABEL.role] !== 'reaper' && orphan(c.labels) && old(c.createdAt))
      .map((c) => engine.remove(c.id, { force: true }).then(done(`container ${c.name}`), failed(c.name))),
  );
  const [networks, volumes] = await Promise.all([engine.listNetworks(base), engine.listVolumes(base)]);
  await Promise.all(networks.filter((n) => orphan(n.labels) && old(n.createdAt)).map((n) => engine.removeNetwork(n.id).then(done(`network ${n.name}`), failed(`network ${n.name}`))));
  await Promise.all(volumes.filter((v) => orphan(v.labels) && old(v.createdAt)).map((v) => engine.removeVolume(v.name).then(done(`volume ${v.name}`), failed(`volume ${v.name}`))));
  // guest volumes of earlier guard builds that no container mounts any more (the engine refuses to remove one in use)
  if (opts.guestVolume) {
    const stale = (await engine.listVolumes({ [LABEL.guest]: '' })).filter((v) => v.name !== opts.guestVolume);
    await Promise.all(stale.map((v) => engine.removeVolume(v.name).then(done(`volume ${v.name}`), () => undefined)));
  }
  report.durationMs = Date.now() - t0;
  return report;
}

/**
 * Emergency stop: every Warden container matching the labels (sandboxes, proxies, forwarders; `inScope`
 * narrows them to an instance), removed in parallel, then the networks and volumes matching
 * `otherLabels`, then leaked runtime shims of what was removed.
 */
export async function panic(
  engine: DockerEngine,
  opts: { labels: Record<string, string>; otherLabels: Record<string, string>; inScope: (c: EngineContainer) => boolean; log: Logger },
): Promise<PanicResult> {
  const t0 = Date.now();
  const labels = { [LABEL.managed]: 'true', ...opts.labels };
  const errors: string[] = [];
  const [all, other] = await Promise.all([engine.list(labels), engine.listOther({ [LABEL.managed]: 'true', ...opts.otherLabels })]);
  const containers = all.filter(opts.inScope);
  await Promise.all(containers.map((c) => engine.remove(c.id, { force: true }).catch((err: unknown) => void errors.push(`${c.name}: ${(err as Error).message}`))));
  await Promise.all(other.networks.map((n) => engine.removeNetwork(n).catch((err: unknown) => void errors.push(`network ${n}: ${(err as Error).message}`))));
  await Promise.all(other.volumes.map((v) => engine.removeVolume(v).catch((err: unknown) => void errors.push(`volume ${v}: ${(err as Error).message}`))));
  const left = (await engine.list(labels)).filter(opts.inScope).length;
  const shims = await engine.reapOrphans(containers.map((c) => c.id)).catch(() => 0);
  const sandboxes = containers.filter((c) => !c.labels[LABEL.role]).length;
  const report: PanicResult = {
    sandboxes,
    other: containers.length - sandboxes + other.networks.length + other.volumes.length,
    removed: { container: containers.length, network: other.networks.length, volume: other.volumes.length, shim: shims },
    left,
    errors,
    durationMs: Date.now() - t0,
  };
  opts.log.warn(report, 'panic: emergency stop done');
  return report;
}
