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
  /** Set on Warden's helper objects (a sandbox's network, its egress proxy); sandboxes have none. */
  role: 'warden.role',
} as const;
