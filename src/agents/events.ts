/**
 * One event type for every agent CLI. Each CLI's machine-readable output (Claude's stream-json,
 * Codex's `exec --json`, Gemini's stream-json) is parsed into these; the original line is kept in
 * `raw`, and a line the parser does not know becomes a `raw` event, never an exception.
 */
export type AgentName = 'claude' | 'gemini' | 'codex';
export const AGENT_NAMES: readonly AgentName[] = ['claude', 'gemini', 'codex'];

/** Token counts and cost, as far as the CLI reports them (missing numbers are left out). */
export interface AgentUsage {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  costUsd?: number;
}

interface Base {
  /** The CLI's original output line (JSON text). */
  raw: string;
}

export type AgentEvent =
  | (Base & { kind: 'init'; sessionId?: string; model?: string })
  | (Base & { kind: 'text'; text: string })
  | (Base & { kind: 'tool_call'; id?: string; name: string; input: unknown })
  | (Base & { kind: 'tool_result'; id?: string; name?: string; output?: string; isError: boolean })
  | (Base & { kind: 'usage'; usage: AgentUsage })
  | (Base & { kind: 'error'; message: string; fatal: boolean })
  | (Base & { kind: 'result'; text: string; isError: boolean; sessionId?: string; usage?: AgentUsage; numTurns?: number })
  | (Base & { kind: 'raw' });

export type AgentEventKind = AgentEvent['kind'];

/**
 * A stateful line parser for one run: `push` each stdout line, `end` once at the exit (it yields a
 * final `result` when the CLI printed none, built from what was seen).
 */
export interface AgentParser {
  push(line: string): AgentEvent[];
  end(): AgentEvent[];
}

/** Parse a JSON object line; undefined for anything else (a banner, a torn line). */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
export const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Drop undefined fields (exactOptionalPropertyTypes-friendly). */
export function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A parser wrapper that never throws: a line that breaks a parser passes through as raw. */
export function safeParser(inner: AgentParser): AgentParser {
  return {
    push(line) {
      if (!line.trim()) return [];
      try {
        return inner.push(line);
      } catch {
        return [{ kind: 'raw', raw: line }];
      }
    },
    end() {
      try {
        return inner.end();
      } catch {
        return [];
      }
    },
  };
}
