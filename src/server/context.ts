import type { Logger } from '../log.js';
import type { Warden } from '../sandbox/warden.js';
import type { WardenStore } from '../store/store.js';
import type { EventBus } from './bus.js';
import type { ExecManager } from './exec-manager.js';
import type { ServerMetrics } from './metrics.js';
import type { Reconciler } from './reconcile.js';

/** What every route module gets: the SDK, the store, the bus and the server's helpers. */
export interface ServerContext {
  warden: Warden;
  store: WardenStore;
  bus: EventBus;
  execs: ExecManager;
  reconciler: Reconciler;
  metrics: ServerMetrics;
  log: Logger;
  /** Labels every panic is narrowed to (instance labels); {} = every Warden object on the engine. */
  panicScope: Record<string, string>;
  /** Secrets for agent runs (keys, base URLs); default: the environment and WARDEN_SECRETS_FILE. */
  agentSecrets?: Record<string, string>;
  /** When set, host paths given through the API (workspace, configDir, mounts) must lie under it. */
  workspaceRoot?: string;
}
