/** What panic() did. */
export interface PanicReport {
  containers: number;
  networks: number;
  volumes: number;
  /** Leaked runtime shims of the removed sandboxes that were killed on this host. */
  orphanShims: number;
  durationMs: number;
  /** Warden-labelled containers still present afterwards (0 means done). */
  left: number;
  errors: string[];
}

/** What prune() removed (names as the backend has them). */
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
