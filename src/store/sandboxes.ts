import type { Db } from './db.js';

/** The server's record of a sandbox: what it was created from and its last known state. */
export interface SandboxRecord {
  id: string;
  containerId: string;
  name: string;
  key?: string;
  owner: string;
  project?: string;
  image: string;
  lifetime: string;
  policyHash: string;
  spec: unknown;
  labels: Record<string, string>;
  /** The engine's state, or `vanished` when the container disappeared while the server was not looking. */
  state: string;
  health?: string;
  createdAt: string;
  updatedAt: string;
  lastSeenAt?: string;
  vanishedAt?: string;
}

interface Row {
  id: string;
  container_id: string;
  name: string;
  key: string | null;
  owner: string;
  project: string | null;
  image: string;
  lifetime: string;
  policy_hash: string;
  spec_json: string;
  labels_json: string;
  state: string;
  health: string | null;
  created_at: string;
  updated_at: string;
  last_seen_at: string | null;
  vanished_at: string | null;
}

const fromRow = (r: Row): SandboxRecord => ({
  id: r.id,
  containerId: r.container_id,
  name: r.name,
  ...(r.key ? { key: r.key } : {}),
  owner: r.owner,
  ...(r.project ? { project: r.project } : {}),
  image: r.image,
  lifetime: r.lifetime,
  policyHash: r.policy_hash,
  spec: JSON.parse(r.spec_json) as unknown,
  labels: JSON.parse(r.labels_json) as Record<string, string>,
  state: r.state,
  ...(r.health ? { health: r.health } : {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  ...(r.last_seen_at ? { lastSeenAt: r.last_seen_at } : {}),
  ...(r.vanished_at ? { vanishedAt: r.vanished_at } : {}),
});

export interface SandboxRecordFilter {
  state?: string;
  owner?: string;
  project?: string;
  key?: string;
  /** Include sandboxes whose container is gone (default false). */
  includeVanished?: boolean;
}

/** Sandboxes table: upsert from what the engine reports, mark vanished, query with filters. */
export class SandboxRepo {
  constructor(private readonly db: Db) {}

  upsert(rec: Omit<SandboxRecord, 'updatedAt'>, now = new Date().toISOString()): void {
    this.db
      .prepare(
        `INSERT INTO sandboxes (id, container_id, name, key, owner, project, image, lifetime, policy_hash, spec_json, labels_json, state, health, created_at, updated_at, last_seen_at, vanished_at)
         VALUES (@id, @containerId, @name, @key, @owner, @project, @image, @lifetime, @policyHash, @spec, @labels, @state, @health, @createdAt, @now, @now, NULL)
         ON CONFLICT(id) DO UPDATE SET container_id = excluded.container_id, name = excluded.name, key = excluded.key, owner = excluded.owner,
           project = excluded.project, image = excluded.image, lifetime = excluded.lifetime, policy_hash = excluded.policy_hash,
           spec_json = excluded.spec_json, labels_json = excluded.labels_json, state = excluded.state,
           health = COALESCE(excluded.health, sandboxes.health), updated_at = CASE WHEN sandboxes.state IS excluded.state AND sandboxes.container_id = excluded.container_id THEN sandboxes.updated_at ELSE excluded.updated_at END,
           last_seen_at = excluded.last_seen_at, vanished_at = NULL`,
      )
      .run({
        ...rec,
        key: rec.key ?? null,
        project: rec.project ?? null,
        health: rec.health ?? null,
        spec: JSON.stringify(rec.spec ?? {}),
        labels: JSON.stringify(rec.labels),
        now,
      });
  }

  /** Set the state of one record (e.g. `removed` after the API removed it). */
  setState(id: string, state: string, now = new Date().toISOString()): void {
    this.db.prepare('UPDATE sandboxes SET state = ?, updated_at = ? WHERE id = ?').run(state, now, id);
  }

  setHealth(id: string, health: string): void {
    this.db.prepare('UPDATE sandboxes SET health = ? WHERE id = ?').run(health, id);
  }

  /** Every record not in `seen` and not already gone is marked vanished; returns their ids. */
  markVanished(seen: Set<string>, now = new Date().toISOString()): string[] {
    const live = this.db.prepare(`SELECT id FROM sandboxes WHERE state NOT IN ('vanished', 'removed')`).all() as Array<{ id: string }>;
    const gone = live.map((r) => r.id).filter((id) => !seen.has(id));
    const stmt = this.db.prepare(`UPDATE sandboxes SET state = 'vanished', vanished_at = ?, updated_at = ? WHERE id = ?`);
    this.db.transaction(() => gone.forEach((id) => stmt.run(now, now, id)))();
    return gone;
  }

  get(id: string): SandboxRecord | undefined {
    const r = this.db.prepare('SELECT * FROM sandboxes WHERE id = ? OR name = ? OR container_id = ? ORDER BY updated_at DESC LIMIT 1').get(id, id, id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(f: SandboxRecordFilter = {}): SandboxRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.state) {
      where.push('state = ?');
      args.push(f.state);
    } else if (!f.includeVanished) where.push(`state NOT IN ('vanished', 'removed')`);
    for (const [col, v] of [['owner', f.owner], ['project', f.project], ['key', f.key]] as const) {
      if (v) {
        where.push(`${col} = ?`);
        args.push(v);
      }
    }
    const sql = `SELECT * FROM sandboxes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(fromRow);
  }

  countByState(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) n FROM sandboxes GROUP BY state').all() as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
