/** Characters a unit name keeps verbatim (what a Docker container name accepts). */
const NAME_SAFE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The name of the unit of `key` when the spec names none: the same for every caller, so a backend whose
 * names are unique (Docker's container names) gets "one sandbox per key" from that uniqueness, whether
 * the unit is made cold or claimed from a warm pool. Readable when the key allows (`k-project-42`),
 * base64url otherwise (`kb-…`). `warden exec k-project-42 …` finds it by this name.
 */
export function keyedUnitName(key: string): string {
  return NAME_SAFE.test(key) ? `k-${key}` : `kb-${Buffer.from(key, 'utf8').toString('base64url')}`;
}

/** The key a keyed unit name carries (see keyedUnitName); undefined for other names. */
export function keyOfUnitName(name: string): string | undefined {
  const plain = /^k-(.+)$/.exec(name);
  if (plain) return plain[1];
  const encoded = /^kb-([A-Za-z0-9_-]+)$/.exec(name);
  return encoded ? Buffer.from(encoded[1]!, 'base64url').toString('utf8') : undefined;
}

/** The name of a warm pool member of `template` (its backend may show it as being prepared until it is ready). */
export const poolUnitName = (template: string, id: string): string => `pool-${template}-${id}`;
