import { WardenError } from '../errors.js';

/** The local name of the ACI variant of a Warden image (`warden-sandbox:t` -> `warden-aci-sandbox:t`). */
export function aciVariantRef(ref: string): string {
  const m = /^(?:(.*)\/)?([^/:@]+)(?::([^/:@]+))?$/.exec(ref);
  if (!m) throw new WardenError('INVALID_ARGUMENT', `'${ref}' is not an image reference Warden can make an ACI variant of (name[:tag])`);
  const [, path, name, tag] = m;
  const base = name!.startsWith('warden-') ? `warden-aci-${name!.slice('warden-'.length)}` : `warden-aci-${name}`;
  return `${path ? `${path}/` : ''}${base}:${tag ?? 'latest'}`;
}

/**
 * Where ACI pulls an image from: Warden's image names map to the same repository and tag in the
 * registry (`warden-sandbox:t` -> `<registry>/warden-sandbox:t`, which holds the ACI variant); a
 * reference that already names a registry host is used as it is.
 */
export function registryRef(ref: string, registry: string): string {
  const first = ref.split('/')[0]!;
  const hasHost = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasHost ? ref : `${registry}/${ref}`;
}
