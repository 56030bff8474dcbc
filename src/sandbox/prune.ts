import type { Logger } from '../log.js';
import { LABEL } from '../policy/labels.js';
import type { ContainerRuntime } from '../runtime/runtime.js';

/** What prune() removed (names and ids as the engine has them). */
export interface PruneReport {
  /** Exited or dead sandboxes, removed with their proxy, forwarder, network and volume. */
  sandboxes: string[];
  /** Companion and leftover containers whose sandbox was gone (proxies, forwarders, dead owners'). */
  containers: string[];
  networks: string[];
  volumes: string[];
  durationMs: number;
  errors: string[];
}

/** Companions younger than this may belong to a sandbox another process is making right now (its network and proxy come first). */
const GRACE_MS = 60_000;

const old = (at: string | undefined): boolean => !at || Date.now() - Date.parse(at) > GRACE_MS;

/**
 * Everything of owners that died: objects carrying an owner-link label whose reaper container is gone
 * (the owner died before its reaper acted, its reaper was removed, or an older Warden made them).
 * A link with a running sandbox is left alone (a live process holds that sandbox's stdin).
 */
export async function sweepDeadOwners(
  runtime: ContainerRuntime,
  opts: { labels: Record<string, string>; liveLink: string; log: Logger },
): Promise<Omit<PruneReport, 'sandboxes' | 'durationMs'>> {
  const out = { containers: [] as string[], networks: [] as string[], volumes: [] as string[], errors: [] as string[] };
  const filter = { [LABEL.ownerLink]: '', ...opts.labels }; // a given link narrows it to that owner
  const [live, containers, networks, volumes] = await Promise.all([
    runtime.liveReapers(LABEL.ownerLink),
    runtime.list({ [LABEL.managed]: 'true', ...filter }),
    runtime.listNetworks({ [LABEL.managed]: 'true', ...filter }),
    runtime.listVolumes(filter),
  ]);
  live.add(opts.liveLink);
  const linkOf = (labels: Record<string, string>): string => labels[LABEL.ownerLink] ?? '';
  const dead = new Set([...containers, ...networks, ...volumes].map((o) => linkOf(o.labels)).filter((l) => l && !live.has(l)));
  for (const c of containers) {
    if (dead.has(linkOf(c.labels)) && !c.labels[LABEL.role] && c.state === 'running') dead.delete(linkOf(c.labels));
  }
  if (dead.size === 0) return out;
  await Promise.all(
    containers
      .filter((c) => dead.has(linkOf(c.labels)))
      .map((c) => runtime.remove(c.id, { force: true }).then(() => void out.containers.push(c.name), (err: unknown) => void out.errors.push(`${c.name}: ${(err as Error).message}`))),
  );
  await Promise.all(
    networks
      .filter((n) => dead.has(linkOf(n.labels)))
      .map((n) => runtime.removeNetwork(n.id).then(() => void out.networks.push(n.name), (err: unknown) => void out.errors.push(`network ${n.name}: ${(err as Error).message}`))),
  );
  await Promise.all(
    volumes
      .filter((v) => dead.has(linkOf(v.labels)))
      .map((v) => runtime.removeVolume(v.name).then(() => void out.volumes.push(v.name), (err: unknown) => void out.errors.push(`volume ${v.name}: ${(err as Error).message}`))),
  );
  if (out.containers.length + out.networks.length + out.volumes.length > 0) opts.log.info(out, 'swept what dead owners left');
  return out;
}

/** See Warden.prune(). */
export async function prune(
  runtime: ContainerRuntime,
  opts: { labels: Record<string, string>; liveLink: string; removeSandbox: (containerId: string) => Promise<void>; log: Logger; /** The guest volume in use now: older ones nothing mounts are removed (omit to leave guest volumes alone). */ guestVolume?: string },
): Promise<PruneReport> {
  const t0 = Date.now();
  const base = { [LABEL.managed]: 'true', ...opts.labels };
  const report: PruneReport = { sandboxes: [], containers: [], networks: [], volumes: [], durationMs: 0, errors: [] };
  const swept = await sweepDeadOwners(runtime, { labels: opts.labels, liveLink: opts.liveLink, log: opts.log });
  report.containers.push(...swept.containers);
  report.networks.push(...swept.networks);
  report.volumes.push(...swept.volumes);
  report.errors.push(...swept.errors);

  const all = await runtime.list(base);
  const stopped = all.filter((c) => !c.labels[LABEL.role] && (c.state === 'exited' || c.state === 'dead'));
  await Promise.all(
    stopped.map((c) => opts.removeSandbox(c.id).then(() => void report.sandboxes.push(c.labels[LABEL.id] ?? c.name), (err: unknown) => void report.errors.push(`${c.name}: ${(err as Error).message}`))),
  );

  // companions whose sandbox is gone
  const after = await runtime.list(base);
  const ids = new Set(after.filter((c) => !c.labels[LABEL.role]).map((c) => c.labels[LABEL.id]));
  const orphan = (labels: Record<string, string>): boolean => {
    const id = labels[LABEL.id];
    return id !== undefined && !ids.has(id);
  };
  await Promise.all(
    after
      .filter((c) => c.labels[LABEL.role] && c.labels[LABEL.role] !== 'reaper' && orphan(c.labels) && old(c.createdAt))
      .map((c) => runtime.remove(c.id, { force: true }).then(() => void report.containers.push(c.name), (err: unknown) => void report.errors.push(`${c.name}: ${(err as Error).message}`))),
  );
  const [networks, volumes] = await Promise.all([runtime.listNetworks(base), runtime.listVolumes(base)]);
  await Promise.all(
    networks
      .filter((n) => orphan(n.labels) && old(n.createdAt))
      .map((n) => runtime.removeNetwork(n.id).then(() => void report.networks.push(n.name), (err: unknown) => void report.errors.push(`network ${n.name}: ${(err as Error).message}`))),
  );
  await Promise.all(
    volumes
      .filter((v) => orphan(v.labels) && old(v.createdAt))
      .map((v) => runtime.removeVolume(v.name).then(() => void report.volumes.push(v.name), (err: unknown) => void report.errors.push(`volume ${v.name}: ${(err as Error).message}`))),
  );
  // guest volumes of earlier guard builds that no container mounts any more (the engine refuses to remove one in use)
  if (opts.guestVolume) {
    const old = (await runtime.listVolumes({ [LABEL.guest]: '' })).filter((v) => v.name !== opts.guestVolume);
    await Promise.all(old.map((v) => runtime.removeVolume(v.name).then(() => void report.volumes.push(v.name), () => undefined)));
  }
  report.durationMs = Date.now() - t0;
  return report;
}
