/** The labels every container, network and volume Warden makes carries. `list` and re-adoption read them. */
export const LABEL = {
  managed: 'warden.managed',
  id: 'warden.id',
  owner: 'warden.owner',
  key: 'warden.key',
  lifetime: 'warden.lifetime',
  createdAt: 'warden.created-at',
  policyHash: 'warden.policy-hash',
  spec: 'warden.spec',
  user: 'warden.user',
  refreshCount: 'warden.refresh-count',
  lastRefresh: 'warden.last-refresh',
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
} as const;
