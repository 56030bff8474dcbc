import { WardenError } from '../errors.js';
import { LABEL } from '../policy/labels.js';
import type { ContainerRuntime, RuntimeNetworkSpec } from './runtime.js';

/**
 * The id of a network many sandboxes share (`warden-egress`, `warden-preview`), made when missing.
 * The engine does not make creation by name atomic: two callers at once can each create one, and the
 * name is then ambiguous (attaching by name fails for everyone). Every caller therefore keeps the one
 * with the lowest id, removes the others (so all callers agree), and attaches by id.
 */
export async function sharedNetworkId(runtime: ContainerRuntime, spec: RuntimeNetworkSpec & { labels: Record<string, string> }): Promise<string> {
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
      if (!(err instanceof WardenError && err.code === 'NAME_CONFLICT')) throw err; // made meanwhile by another caller
    }
    ids = await find();
  }
  const [keep, ...extra] = ids;
  await Promise.all(extra.map((id) => runtime.removeNetwork(id).catch(() => undefined)));
  if (!keep) throw new WardenError('ENGINE_ERROR', `network ${spec.name} vanished right after it was created; try again`);
  return keep;
}
