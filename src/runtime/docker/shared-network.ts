import { WardenError } from '../../errors.js';
import { LABEL } from '../../policy/labels.js';
import type { DockerEngine } from './engine.js';
import type { NetworkSpec } from './engine-types.js';

/** Lookups in flight in this process, by network name: concurrent first users share one. */
const inFlight = new Map<string, Promise<string>>();

/**
 * The id of a network many sandboxes share (`warden-egress`, `warden-preview`), made when missing;
 * callers attach by this id, never by name.
 *
 * The engine does not make creation by name atomic (`CheckDuplicate` is best effort): concurrent
 * creates make several networks with one name, after which attaching by name fails for everyone.
 * Within a process, concurrent callers share one lookup. Across processes (two Wardens on a fresh
 * engine), duplicates can still appear; every lookup then keeps the one with the lowest id and removes
 * the others that have nothing attached (the engine refuses to remove one in use), so they converge.
 */
export function sharedNetworkId(runtime: DockerEngine, input: NetworkSpec & { labels: Record<string, string> }): Promise<string> {
  // shared by every owner: it carries none of one owner's labels (a dead owner's reaper must not take it)
  const { [LABEL.owner]: _o, [LABEL.lifetime]: _l, [LABEL.ownerLink]: _k, [LABEL.id]: _i, ...labels } = input.labels;
  const spec = { ...input, labels };
  const running = inFlight.get(spec.name);
  if (running) return running;
  const lookup = findOrCreate(runtime, spec).finally(() => inFlight.delete(spec.name));
  inFlight.set(spec.name, lookup);
  return lookup;
}

async function findOrCreate(runtime: DockerEngine, spec: NetworkSpec & { labels: Record<string, string> }): Promise<string> {
  const role = spec.labels[LABEL.role];
  const find = async (): Promise<string[]> =>
    (await runtime.listNetworks({ [LABEL.managed]: 'true', ...(role ? { [LABEL.role]: role } : {}) }))
      .filter((n) => n.name === spec.name)
      .map((n) => n.id)
      .sort();
  let ids = await find();
  if (ids.length === 0) {
    try {
      await runtime.createNetwork({ ...spec, labels: { ...spec.labels, [LABEL.managed]: 'true' } });
    } catch (err) {
      if (!(err instanceof WardenError && err.code === 'NAME_CONFLICT')) throw err; // made meanwhile by another process
    }
    ids = await find();
  }
  const [keep, ...extra] = ids;
  await Promise.all(extra.map((id) => runtime.removeNetwork(id).catch(() => undefined)));
  if (!keep) throw new WardenError('ENGINE_ERROR', `network ${spec.name} vanished right after it was created; try again`);
  return keep;
}
