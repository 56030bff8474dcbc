import { LABEL } from '../policy/labels.js';

/** Characters the engine accepts in a container name verbatim. */
const NAME_SAFE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The container name of the sandbox with `key`: the same for every caller, so the engine's name
 * uniqueness makes "one sandbox per key" atomic, whether it is created cold or claimed from a warm
 * pool (by rename). Readable when the key allows (`warden-k-project-42`), base64url otherwise.
 */
export function keyedName(key: string): string {
  return NAME_SAFE.test(key) ? `warden-k-${key}` : `warden-kb-${Buffer.from(key, 'utf8').toString('base64url')}`;
}

/** The key a claimed pool member carries in its name (its labels were fixed before the claim). */
export function keyFromName(name: string): string | undefined {
  const plain = /^\/?warden-k-(.+)$/.exec(name);
  if (plain) return plain[1];
  const encoded = /^\/?warden-kb-([A-Za-z0-9_-]+)$/.exec(name);
  return encoded ? Buffer.from(encoded[1]!, 'base64url').toString('utf8') : undefined;
}

/** The name of a warm-pool member of `template` while it is made (not claimable), and once ready. */
export const poolMemberName = (template: string, id: string, ready: boolean): string => `warden-${ready ? 'pool' : 'prep'}-${template}-${id}`;

/** A warm-pool member ready to be claimed (its dev server answers). */
export const isReadyPoolMember = (c: { name: string; labels: Record<string, string> }): boolean => Boolean(c.labels[LABEL.pool]) && /^\/?warden-pool-/.test(c.name);

/** An unclaimed warm-pool member, ready or still being made (claimed ones have been renamed to their key's name). */
export const isUnclaimedPoolMember = (c: { name: string; labels: Record<string, string> }): boolean =>
  Boolean(c.labels[LABEL.pool]) && /^\/?warden-(pool|prep)-/.test(c.name);

/** The sandbox's key: its label, or for a claimed pool member its name. */
export function sandboxKey(c: { name: string; labels: Record<string, string> }): string | undefined {
  return c.labels[LABEL.key] ?? (c.labels[LABEL.pool] ? keyFromName(c.name) : undefined);
}
