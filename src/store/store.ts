import { join } from 'node:path';
import { AuditRepo } from './audit.js';
import { openDatabase, type Db } from './db.js';
import { ExecRepo } from './execs.js';
import { AgentRunRepo } from './agent-runs.js';
import { SandboxRepo } from './sandboxes.js';
import { TokenRepo } from './tokens.js';

/**
 * Warden's persistent state (the server's memory across restarts): one SQLite file, WAL mode,
 * versioned migrations. The engine's labels stay the source of truth for what exists; the store
 * keeps what the engine forgets (specs of removed sandboxes, exec history, egress audit, actions).
 */
export class WardenStore {
  readonly sandboxes: SandboxRepo;
  readonly execs: ExecRepo;
  readonly audit: AuditRepo;
  readonly agentRuns: AgentRunRepo;
  readonly tokens: TokenRepo;

  constructor(readonly db: Db) {
    this.sandboxes = new SandboxRepo(db);
    this.execs = new ExecRepo(db);
    this.audit = new AuditRepo(db);
    this.agentRuns = new AgentRunRepo(db);
    this.tokens = new TokenRepo(db);
  }

  /** Open `<dataDir>/warden.db` (created and migrated as needed). */
  static open(dataDir: string): WardenStore {
    return new WardenStore(openDatabase(join(dataDir, 'warden.db')));
  }

  static memory(): WardenStore {
    return new WardenStore(openDatabase(':memory:'));
  }

  close(): void {
    this.db.close();
  }
}
