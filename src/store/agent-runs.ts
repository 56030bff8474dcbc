import type { Db } from './db.js';

/** One agent run (Claude Code, Gemini CLI, Codex) as recorded for the audit. */
export interface AgentRunRecord {
  id: string;
  sandboxId?: string;
  agent: string;
  prompt: string;
  flags: string[];
  startedAt: string;
  endedAt?: string;
  exitCode?: number;
  sessionId?: string;
  resultText?: string;
  /** Tool calls summary, usage, etc. */
  summary?: unknown;
  /** `git diff --stat` of the workspace after the run, when it is a repository. */
  diffStat?: string;
}

interface Row {
  id: string;
  sandbox_id: string | null;
  agent: string;
  prompt: string;
  flags_json: string;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  session_id: string | null;
  result_text: string | null;
  summary_json: string | null;
  diff_stat: string | null;
}

const fromRow = (r: Row): AgentRunRecord => ({
  id: r.id,
  ...(r.sandbox_id ? { sandboxId: r.sandbox_id } : {}),
  agent: r.agent,
  prompt: r.prompt,
  flags: JSON.parse(r.flags_json) as string[],
  startedAt: r.started_at,
  ...(r.ended_at ? { endedAt: r.ended_at } : {}),
  ...(r.exit_code !== null ? { exitCode: r.exit_code } : {}),
  ...(r.session_id ? { sessionId: r.session_id } : {}),
  ...(r.result_text !== null ? { resultText: r.result_text } : {}),
  ...(r.summary_json ? { summary: JSON.parse(r.summary_json) as unknown } : {}),
  ...(r.diff_stat !== null ? { diffStat: r.diff_stat } : {}),
});

export class AgentRunRepo {
  constructor(private readonly db: Db) {}

  start(r: Pick<AgentRunRecord, 'id' | 'sandboxId' | 'agent' | 'prompt' | 'flags'>, now = new Date().toISOString()): void {
    this.db
      .prepare('INSERT INTO agent_runs (id, sandbox_id, agent, prompt, flags_json, started_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.id, r.sandboxId ?? null, r.agent, r.prompt, JSON.stringify(r.flags), now);
  }

  finish(id: string, end: Pick<AgentRunRecord, 'exitCode' | 'sessionId' | 'resultText' | 'summary' | 'diffStat'>, now = new Date().toISOString()): void {
    this.db
      .prepare('UPDATE agent_runs SET ended_at = ?, exit_code = ?, session_id = ?, result_text = ?, summary_json = ?, diff_stat = ? WHERE id = ?')
      .run(now, end.exitCode ?? null, end.sessionId ?? null, end.resultText ?? null, end.summary === undefined ? null : JSON.stringify(end.summary), end.diffStat ?? null, id);
  }

  get(id: string): AgentRunRecord | undefined {
    const r = this.db.prepare('SELECT * FROM agent_runs WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(limit = 100): AgentRunRecord[] {
    return (this.db.prepare('SELECT * FROM agent_runs ORDER BY started_at DESC LIMIT ?').all(limit) as Row[]).map(fromRow);
  }
}
