/**
 * The labels Warden puts on what it makes (Docker labels; Kubernetes labels; ACI tags): short keys to
 * select by. Long values (the spec, timestamps, the key, refresh reasons) live in the one typed record
 * (`record`, see policy/record.ts), never in a label of their own.
 */
export const LABEL = {
  managed: 'warden.managed',
  id: 'warden.id',
  owner: 'warden.owner',
  lifetime: 'warden.lifetime',
  /** The sandbox's record (policy/record.ts) as JSON: the Docker backend's one long label. */
  record: 'warden.record',
  /** A hash of the key (the key itself is in the record): finds a keyed sandbox whatever its name. */
  keyHash: 'warden.key-hash',
  /** A warm-pool member: the template it was made for (kept after a claim; the name tells claimed from not). */
  pool: 'warden.pool',
  /** A warm-pool member: the signature of the spec it was made with (a claim must match it). */
  poolSpec: 'warden.pool-spec',
  /** A warm-pool member: the pool (one process's) that alone may hand it out. */
  poolHolder: 'warden.pool-holder',
  /**
   * The Warden deployment an object belongs to (`WARDEN_INSTANCE`, default `default`): a server, the CLI
   * and the SDK see and act on their own instance only. Objects made before the label existed count as
   * `default`.
   */
  instance: 'warden.instance',
  /** Set on Warden's helper objects (a sandbox's network, its egress proxy); sandboxes have none. */
  role: 'warden.role',
  /**
   * On everything made for an ephemeral sandbox (the sandbox, its proxy, forwarder, network, volume):
   * the id of the owning process's link. Its reaper removes all of it when that process dies; a
   * Warden process that finds objects of a link whose reaper is gone sweeps them.
   */
  ownerLink: 'warden.owner-link',
  /** On Warden's guest volumes: the guest image's content hash. */
  guest: 'warden.guest',
  // Labels of sandboxes made before the record existed (read by the Docker backend's back-compat
  // reader; `SandboxInfo.labels` still shows these names, filled from the record).
  key: 'warden.key',
  createdAt: 'warden.created-at',
  policyHash: 'warden.policy-hash',
  spec: 'warden.spec',
  user: 'warden.user',
  refreshCount: 'warden.refresh-count',
  lastRefresh: 'warden.last-refresh',
} as const;

/** The labels that hold (or held, before the record) parts of the record: not selection labels. */
export const RECORD_LABELS: ReadonlySet<string> = new Set([LABEL.record, LABEL.key, LABEL.createdAt, LABEL.policyHash, LABEL.spec, LABEL.user, LABEL.refreshCount, LABEL.lastRefresh]);
