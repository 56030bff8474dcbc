import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { wardenHome } from '../config/home.js';
import type { AgentEvent, AgentName, AgentUsage } from './events.js';

/** The start of an agent run, as the audit keeps it. */
export interface AgentRunStart {
  runId: string;
  agent: AgentName;
  sandboxId: string;
  workspace?: string;
  prompt: string;
  model?: string;
  /** The CLI's argv without the prompt (what flags it ran with). */
  flags: string[];
  auth: string;
  startedAt: string;
}

/** The end of an agent run. */
export interface AgentRunEnd {
  runId: string;
  endedAt: string;
  status: AgentRunStatus;
  exitCode: number;
  durationMs: number;
  sessionId?: string;
  usage?: AgentUsage;
  /** Tool calls by name, e.g. { Write: 1, Bash: 2 }. */
  toolCalls: Record<string, number>;
  /** `git diff --stat` of the workspace (when it is a repository). */
  filesChanged?: string;
  error?: string;
}

export type AgentRunStatus = 'succeeded' | 'failed' | 'cancelled' | 'timeout';

/** One event of a run in the audit: a summary, never the whole output. */
export interface AgentRunEventSummary {
  runId: string;
  at: string;
  kind: AgentEvent['kind'];
  /** Tool name (tool_call), message (error). */
  summary: string;
}

/**
 * Where agent runs are recorded. The default appends JSON lines under WARDEN_HOME; a server plugs in
 * its database. Calls are awaited but a failing recorder never fails the run (it is logged).
 */
export interface AgentRunRecorder {
  recordStart(start: AgentRunStart): Promise<void>;
  recordEvent(event: AgentRunEventSummary): Promise<void>;
  recordEnd(end: AgentRunEnd): Promise<void>;
}

/** Which events are worth a line in the audit. */
export function summarize(runId: string, e: AgentEvent): AgentRunEventSummary | undefined {
  const at = new Date().toISOString();
  if (e.kind === 'tool_call') return { runId, at, kind: e.kind, summary: `${e.name} ${JSON.stringify(e.input).slice(0, 200)}` };
  if (e.kind === 'error') return { runId, at, kind: e.kind, summary: e.message.slice(0, 500) };
  return undefined;
}

/** Appends `{ type: 'start' | 'event' | 'end', ... }` lines to `$WARDEN_HOME/agents/runs.jsonl`. */
export class JsonlRunRecorder implements AgentRunRecorder {
  readonly file: string;
  constructor(file?: string) {
    this.file = file ?? join(wardenHome(), 'agents', 'runs.jsonl');
  }
  private async write(value: object): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await appendFile(this.file, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  }
  recordStart(start: AgentRunStart): Promise<void> {
    return this.write({ type: 'start', ...start });
  }
  recordEvent(event: AgentRunEventSummary): Promise<void> {
    return this.write({ type: 'event', ...event });
  }
  recordEnd(end: AgentRunEnd): Promise<void> {
    return this.write({ type: 'end', ...end });
  }
}
