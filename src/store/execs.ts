import type { Db } from './db.js';

/** One command run through the server: what, when, how it ended, and the tail of its output. */
export interface ExecRecord {
  id: string;
  sandboxId: string;
  command: string[];
  mode: 'buffered' | 'stream' | 'ws' | 'pty';
  startedAt: string;
  endedAt?: string;
  exitCode?: number;
  durationMs?: number;
  killedBy?: string;
  stdoutTail?: string;
  stderrTail?: string;
  actor?: string;
}

interface Row {
  id: string;
  sandbox_id: string;
  command_json: string;
  mode: ExecRecord['mode'];
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  duration_ms: number | null;
  killed_by: string | null;
  stdout_tail: string | null;
  stderr_tail: string | null;
  actor: string | null;
}

/** How much of each output stream is kept per exec. */
export const OUTPUT_TAIL_BYTES = 4096;

/** The last `max` bytes of a text, cut on a character boundary. */
export function tail(text: string, max = OUTPUT_TAIL_BYTES): string {
  const buf = Buffer.from(text);
  if (buf.length <= max) return text;
  return buf.subarray(buf.length - max).toString('utf8').replace(/^\uFFFD+/, '');
}

const fromRow = (r: Row): ExecRecord => ({
  id: r.id,
  sandboxId: r.sandbox_id,
  command: JSON.parse(r.command_json) as string[],
  mode: r.mode,
  startedAt: r.started_at,
  ...(r.ended_at ? { endedAt: r.ended_at } : {}),
  ...(r.exit_code !== null ? { exitCode: r.exit_code } : {}),
  ...(r.duration_ms !== null ? { durationMs: r.duration_ms } : {}),
  ...(r.killed_by ? { killedBy: r.killed_by } : {}),
  ...(r.stdout_tail !== null ? { stdoutTail: r.stdout_tail } : {}),
  ...(r.stderr_tail !== null ? { stderrTail: r.stderr_tail } : {}),
  ...(r.actor ? { actor: r.actor } : {}),
});

export class ExecRepo {
  constructor(private readonly db: Db) {}

  start(rec: Pick<ExecRecord, 'id' | 'sandboxId' | 'command' | 'mode' | 'actor'>, now = new Date().toISOString()): void {
    this.db
      .prepare('INSERT INTO execs (id, sandbox_id, command_json, mode, started_at, actor) VALUES (?, ?, ?, ?, ?, ?)')
      .run(rec.id, rec.sandboxId, JSON.stringify(rec.command), rec.mode, now, rec.actor ?? null);
  }

  finish(id: string, end: { exitCode: number; durationMs: number; killedBy?: string; stdout?: string; stderr?: string }, now = new Date().toISOString()): void {
    this.db
      .prepare('UPDATE execs SET ended_at = ?, exit_code = ?, duration_ms = ?, killed_by = ?, stdout_tail = ?, stderr_tail = ? WHERE id = ?')
      .run(now, end.exitCode, end.durationMs, end.killedBy ?? null, tail(end.stdout ?? ''), tail(end.stderr ?? ''), id);
  }

  /** Execs left open by a server that died: they can no longer be followed. */
  abandonOpen(now = new Date().toISOString()): number {
    return this.db.prepare(`UPDATE execs SET ended_at = ?, killed_by = 'server-restart' WHERE ended_at IS NULL`).run(now).changes;
  }

  get(id: string): ExecRecord | undefined {
    const r = this.db.prepare('SELECT * FROM execs WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(sandboxId: string, limit = 50): ExecRecord[] {
    return (this.db.prepare('SELECT * FROM execs WHERE sandbox_id = ? ORDER BY started_at DESC LIMIT ?').all(sandboxId, limit) as Row[]).map(fromRow);
  }
}
