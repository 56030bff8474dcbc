import { createHash } from 'node:crypto';

/**
 * Names and labels of Warden's Kubernetes objects, within Kubernetes' rules: object names are DNS
 * labels/subdomains, label values at most 63 characters of [A-Za-z0-9_.-] starting and ending with a
 * letter or digit, label keys an optional DNS prefix and such a name. Whatever does not fit (an owner
 * `user@host`, a key, a user's label) is selected by a hash and kept verbatim in the unit's record
 * (an annotation): one deterministic encoding, so a selector built from the same value matches.
 */

/** Warden's label keys on Kubernetes (the same names as on Docker where one exists). */
export const KLABEL = {
  managed: 'warden.managed',
  id: 'warden.id',
  instance: 'warden.instance',
  role: 'warden.role',
  owner: 'warden.owner',
  ownerLink: 'warden.owner-link',
  lifetime: 'warden.lifetime',
  /** sha256 of instance + name: the unit's name, unique per instance (its lock is the Lease of that hash). */
  nameHash: 'warden.name-hash',
  /** sha256 of instance + key. */
  keyHash: 'warden.key-hash',
  pool: 'warden.pool',
  poolReady: 'warden.pool-ready',
} as const;

/** Warden's annotations: what does not fit a label. */
export const KANNOTATION = {
  /** The typed record (policy/record.ts schema), JSON. */
  record: 'warden.dev/record',
  /** The unit's name as given. */
  name: 'warden.dev/name',
  /** The unit's key as given (claims set it). */
  key: 'warden.dev/key',
  /** The plan's labels as given (JSON object), what Unit.labels returns. */
  labels: 'warden.dev/labels',
  /** Preview ports asked for (JSON array of { containerPort, hostIp, hostPort? }). */
  preview: 'warden.dev/preview',
  /** The unit's egress mode. */
  egress: 'warden.dev/egress',
  /** The egress proxy's address, for `warden inspect`. */
  proxy: 'warden.dev/proxy',
  /** A warm pool member's pool id as given. */
  pool: 'warden.dev/pool',
  /** On a unit's env Secret: the names of the plan's own variables (JSON array). */
  envNames: 'warden.dev/env-names',
} as const;

/** Roles of Warden's objects (label warden.role). */
export const ROLE = {
  sandbox: 'sandbox',
  proxy: 'egress-proxy',
  link: 'owner-link',
  canary: 'netpol-canary',
  nameLock: 'name-lock',
  keyLock: 'key-lock',
  env: 'env',
  policy: 'policy',
} as const;

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function sha(text: string, length = 40): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Whether `v` is a valid label value as it is. */
export function isLabelValue(v: string): boolean {
  return v.length <= 63 && LABEL_VALUE.test(v);
}

/** A label value for `v`: itself when valid, else `h-` and a hash of it (selectors use the same function). */
export function labelValue(v: string): string {
  return isLabelValue(v) && !v.startsWith('h-') ? v : `h-${sha(v)}`;
}

/** Whether `k` is a valid label key (`prefix/name` or `name`). */
export function isLabelKey(k: string): boolean {
  const slash = k.lastIndexOf('/');
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return false;
  return prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix));
}

/** A label key for a user's label: itself when valid and not Warden's own, else a hashed key. */
export function labelKey(k: string): string {
  return isLabelKey(k) && !k.startsWith('warden.lk-') ? k : `warden.lk-${sha(k, 32)}`;
}

/** The user's labels as Kubernetes labels (values and keys that do not fit are hashed). */
export function encodeLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [labelKey(k), labelValue(v)]));
}

/** A label selector (`k=v,k2=v2,!k3`) from equality pairs and absent keys. */
export function selector(equal: Record<string, string>, absent: string[] = []): string {
  return [...Object.entries(equal).map(([k, v]) => `${k}=${v}`), ...absent.map((k) => `!${k}`)].join(',');
}

export const nameHash = (instance: string, name: string): string => sha(`${instance}\0name\0${name}`);
export const keyHash = (instance: string, key: string): string => sha(`${instance}\0key\0${key}`);

/** A DNS-label object name derived from Warden's id (`sbx-…` is one already). */
export function podName(id: string): string {
  const lower = id.toLowerCase();
  return DNS_LABEL.test(lower) && lower.length <= 50 && lower === id ? id : `wd-${sha(id, 24)}`;
}

export const proxyPodName = (id: string): string => `${podName(id)}-egress`;
export const envSecretName = (id: string): string => `${podName(id)}-env`;
export const egressSecretName = (id: string): string => `${podName(id)}-egress`;
export const sandboxPolicyName = (id: string): string => `${podName(id)}-sandbox`;
export const proxyPolicyName = (id: string): string => `${podName(id)}-egress`;
export const nameLockName = (hash: string): string => `warden-name-${hash}`;
export const keyLockName = (hash: string): string => `warden-key-${hash}`;
export const linkJobName = (link: string): string => `warden-link-${sha(link, 24)}`;
export const CANARY_NAME = 'warden-netpol-canary';

/** The names of containers in Warden's pods. */
export const CONTAINER = { sandbox: 'sandbox', guest: 'guest', gate: 'netgate', proxy: 'proxy', link: 'link' } as const;

/** An image reference as containerd names it (warden-sandbox:x -> docker.io/library/warden-sandbox:x). */
export function normalizeImage(ref: string): string {
  let r = ref;
  if (!/[:@]/.test(r.split('/').pop() ?? '')) r = `${r}:latest`;
  const first = r.split('/')[0] ?? '';
  if (!r.includes('/')) return `docker.io/library/${r}`;
  if (first.includes('.') || first.includes(':') || first === 'localhost') return r;
  return `docker.io/${r}`;
}
