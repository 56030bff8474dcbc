import type { AgentRunEnd, AgentRunEventSummary, AgentRunRecorder, AgentRunStart } from '../agents/recorder.js';
import type { Db } from './db.js';

/** An agent run as the audit keeps it: start, end, and a summary of notable events. */
export interface AgentRunRecord extends AgentRunStart, Partial<Omit<AgentRunEnd, 'runId'>> {}

interface Row {
  id: string;
  sandbox_id: string | null;
  agent: string;
  workspace: string | null;
  prompt: string;
  model: string | null;
  flags_json: string;
  auth: string;
  started_at: string;
  ended_at: string | null;
  status: string | null;
  exit_code: number | null;
  duration_ms: number | null;
  session_id: string | null;
  usage_json: string | null;
  tool_calls_json: string | null;
  files_changed: string | null;
  error: string | null;
}

const fromRow = (r: Row): AgentRunRecord => ({
  runId: r.id,
  agent: r.agent as AgentRunRecord['agent'],
  sandboxId: r.sandbox_id ?? '',
  ...(r.workspace ? { workspace: r.workspace } : {}),
  prompt: r.prompt,
  ...(r.model ? { model: r.model } : {}),
  flags: JSON.parse(r.flags_json) as string[],
  auth: r.auth,
  startedAt: r.started_at,
  ...(r.ended_at ? { endedAt: r.ended_at } : {}),
  ...(r.status ? { status: r.status as AgentRunEnd['status'] } : {}),
  ...(r.exit_code !== null ? { exitCode: r.exit_code } : {}),
  ...(r.duration_ms !== null ? { durationMs: r.duration_ms } : {}),
  ...(r.session_id ? { sessionId: r.session_id } : {}),
  ...(r.usage_json ? { usage: JSON.parse(r.usage_json) as AgentRunEnd['usage'] } : {}),
  ...(r.tool_calls_json ? { toolCalls: JSON.parse(r.tool_calls_json) as Record<string, number> } : {}),
  ...(r.files_changed !== null ? { filesChanged: r.files_changed } : {}),
  ...(r.error ? { error: r.error } : {}),
});

/** Agent runs in SQLite; also the server's {@link AgentRunRecorder}. */
export class AgentRunRepo implements AgentRunRecorder {
  constructor(private readonly db: Db) {}

  async recordStart(s: AgentRunStart): Promise<void> {
    this.db
      .prepare('INSERT OR REPLACE INTO agent_runs (id, sandbox_id, agent, workspace, prompt, model, flags_json, auth, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(s.runId, s.sandboxId || null, s.agent, s.workspace ?? null, s.prompt, s.model ?? null, JSON.stringify(s.flags), s.auth, s.startedAt);
  }

  async recordEvent(e: AgentRunEventSummary): Promise<void> {
    this.db.prepare('INSERT INTO agent_run_events (run_id, at, kind, summary) VALUES (?, ?, ?, ?)').run(e.runId, e.at, e.kind, e.summary);
  }

  async recordEnd(e: AgentRunEnd): Promise<void> {
    this.db
      .prepare('UPDATE agent_runs SET ended_at = ?, status = ?, exit_code = ?, duration_ms = ?, session_id = ?, usage_json = ?, tool_calls_json = ?, files_changed = ?, error = ? WHERE id = ?')
      .run(e.endedAt, e.status, e.exitCode, e.durationMs, e.sessionId ?? null, e.usage ? JSON.stringify(e.usage) : null, JSON.stringify(e.toolCalls), e.filesChanged ?? null, e.error ?? null, e.runId);
  }

  /** Runs left without an end by a server that died. */
  abandonOpen(now = new Date().toISOString()): number {
    return this.db.prepare(`UPDATE agent_runs SET ended_at = ?, status = 'failed', error = 'the server stopped during the run' WHERE ended_at IS NULL`).run(now).changes;
  }

  get(id: string): AgentRunRecord | undefined {
    const r = this.db.prepare('SELECT * FROM agent_runs WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  events(id: string): AgentRunEventSummary[] {
    return (this.db.prepare('SELECT run_id runId, at, kind, summary FROM agent_run_events WHERE run_id = ? ORDER BY seq').all(id) as AgentRunEventSummary[]);
  }

  list(limit = 100): AgentRunRecord[] {
    return (this.db.prepare('SELECT * FROM agent_runs ORDER BY started_at DESC LIMIT ?').all(limit) as Row[]).map(fromRow);
  }
}
