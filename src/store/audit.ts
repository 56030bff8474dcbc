import type { EgressRecord } from '../egress/proxy.js';
import type { Db } from './db.js';

/** Who did what to which sandbox (stop, kill, remove, panic, ...), append-only. */
export interface ActionRecord {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  sandboxId?: string;
  detail?: unknown;
}

/** One health/usage sample of a sandbox, kept for the dashboard's sparklines. */
export interface HealthSample {
  sandboxId: string;
  ts: string;
  status: string;
  cpuPercent?: number;
  memoryBytes?: number;
  memoryLimit?: number;
  diskPercent?: number;
  pids?: number;
}

/** Append-only tables: actions, egress audit (deduplicated), health samples (bounded per sandbox). */
export class AuditRepo {
  constructor(private readonly db: Db) {}

  action(a: Omit<ActionRecord, 'seq' | 'ts'>, now = new Date().toISOString()): void {
    this.db
      .prepare('INSERT INTO actions (ts, actor, action, sandbox_id, detail_json) VALUES (?, ?, ?, ?, ?)')
      .run(now, a.actor, a.action, a.sandboxId ?? null, a.detail === undefined ? null : JSON.stringify(a.detail));
  }

  actions(sandboxId?: string, limit = 100): ActionRecord[] {
    const rows = (
      sandboxId
        ? this.db.prepare('SELECT * FROM actions WHERE sandbox_id = ? ORDER BY seq DESC LIMIT ?').all(sandboxId, limit)
        : this.db.prepare('SELECT * FROM actions ORDER BY seq DESC LIMIT ?').all(limit)
    ) as Array<{ seq: number; ts: string; actor: string; action: string; sandbox_id: string | null; detail_json: string | null }>;
    return rows.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      actor: r.actor,
      action: r.action,
      ...(r.sandbox_id ? { sandboxId: r.sandbox_id } : {}),
      ...(r.detail_json ? { detail: JSON.parse(r.detail_json) as unknown } : {}),
    }));
  }

  /** Store egress records read from a proxy's log; the same record read twice is kept once. Returns how many were new. */
  egress(sandboxId: string, records: EgressRecord[]): number {
    const stmt = this.db.prepare(
      'INSERT OR IGNORE INTO egress_events (sandbox_id, ts, method, host, port, path, status, bytes_out, bytes_in, allowed, rule) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    let n = 0;
    this.db.transaction(() => {
      for (const r of records) n += stmt.run(sandboxId, r.time, r.method, r.host, r.port, r.path, r.status, r.bytesOut, r.bytesIn, r.allowed ? 1 : 0, r.rule).changes;
    })();
    return n;
  }

  egressLog(sandboxId: string, limit = 500): EgressRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM egress_events WHERE sandbox_id = ? ORDER BY seq DESC LIMIT ?')
      .all(sandboxId, limit) as Array<{ ts: string; method: string; host: string; port: number; path: string; status: number; bytes_out: number; bytes_in: number; allowed: number; rule: string }>;
    return rows.reverse().map((r) => ({ time: r.ts, method: r.method, host: r.host, port: r.port, path: r.path, status: r.status, bytesOut: r.bytes_out, bytesIn: r.bytes_in, allowed: r.allowed === 1, rule: r.rule }));
  }

  /** Egress requests stored so far, allowed and denied. */
  egressCounts(): { allowed: number; denied: number } {
    const rows = this.db.prepare('SELECT allowed, COUNT(*) n FROM egress_events GROUP BY allowed').all() as Array<{ allowed: number; n: number }>;
    return { allowed: rows.find((r) => r.allowed === 1)?.n ?? 0, denied: rows.find((r) => r.allowed === 0)?.n ?? 0 };
  }

  /** Keep the newest `keep` samples per sandbox. */
  health(s: HealthSample, keep = 360): void {
    this.db
      .prepare('INSERT OR REPLACE INTO health_samples (sandbox_id, ts, status, cpu_percent, memory_bytes, memory_limit, disk_percent, pids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(s.sandboxId, s.ts, s.status, s.cpuPercent ?? null, s.memoryBytes ?? null, s.memoryLimit ?? null, s.diskPercent ?? null, s.pids ?? null);
    this.db
      .prepare('DELETE FROM health_samples WHERE sandbox_id = ? AND ts NOT IN (SELECT ts FROM health_samples WHERE sandbox_id = ? ORDER BY ts DESC LIMIT ?)')
      .run(s.sandboxId, s.sandboxId, keep);
  }

  healthHistory(sandboxId: string, limit = 60): HealthSample[] {
    const rows = this.db
      .prepare('SELECT * FROM health_samples WHERE sandbox_id = ? ORDER BY ts DESC LIMIT ?')
      .all(sandboxId, limit) as Array<{ sandbox_id: string; ts: string; status: string; cpu_percent: number | null; memory_bytes: number | null; memory_limit: number | null; disk_percent: number | null; pids: number | null }>;
    return rows.reverse().map((r) => ({
      sandboxId: r.sandbox_id,
      ts: r.ts,
      status: r.status,
      ...(r.cpu_percent !== null ? { cpuPercent: r.cpu_percent } : {}),
      ...(r.memory_bytes !== null ? { memoryBytes: r.memory_bytes } : {}),
      ...(r.memory_limit !== null ? { memoryLimit: r.memory_limit } : {}),
      ...(r.disk_percent !== null ? { diskPercent: r.disk_percent } : {}),
      ...(r.pids !== null ? { pids: r.pids } : {}),
    }));
  }
}
