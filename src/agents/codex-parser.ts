import { defined, jsonLine, obj, str, type AgentEvent, type AgentParser, type AgentUsage } from './events.js';

/** Codex CLI's `exec --json` lines -> events. Codex prints no final result line: `end()` builds it. */
export function codexParser(): AgentParser {
  let sessionId: string | undefined;
  let lastText = '';
  let failed: string | undefined;
  const usage: AgentUsage = {};
  let turns = 0;
  return {
    push(line) {
      const j = jsonLine(line);
      if (!j) return [{ kind: 'raw', raw: line }];
      switch (j.type) {
        case 'thread.started':
          sessionId = str(j.thread_id);
          return [{ kind: 'init', raw: line, ...defined({ sessionId }) }];
        case 'turn.completed': {
          turns++;
          const u = obj(j.usage);
          const add = (k: keyof AgentUsage, v: unknown): void => {
            if (typeof v === 'number') usage[k] = (usage[k] ?? 0) + v;
          };
          add('inputTokens', u.input_tokens);
          add('outputTokens', u.output_tokens);
          add('cachedInputTokens', u.cached_input_tokens);
          return [{ kind: 'usage', usage: { ...usage }, raw: line }];
        }
        case 'turn.failed':
          failed = str(obj(j.error).message) ?? 'the turn failed';
          return [{ kind: 'error', message: failed, fatal: true, raw: line }];
        case 'error':
          failed = str(j.message) ?? 'codex reported an error';
          return [{ kind: 'error', message: failed, fatal: true, raw: line }];
        case 'item.started':
        case 'item.updated':
        case 'item.completed':
          return item(j.type, obj(j.item), line);
        default:
          return [{ kind: 'raw', raw: line }];
      }
    },
    end() {
      return [{ kind: 'result', text: failed && !lastText ? failed : lastText, isError: failed !== undefined, usage: { ...usage }, raw: '', ...defined({ sessionId, numTurns: turns || undefined }) }];
    },
  };

  function item(type: string, it: Record<string, unknown>, line: string): AgentEvent[] {
    const id = str(it.id);
    const done = type === 'item.completed';
    switch (it.type) {
      case 'agent_message':
        if (!done) return [];
        lastText = str(it.text) ?? '';
        return [{ kind: 'text', text: lastText, raw: line }];
      case 'command_execution':
        if (type === 'item.started') return [{ kind: 'tool_call', name: 'shell', input: { command: it.command }, raw: line, ...defined({ id }) }];
        if (!done) return [];
        return [{ kind: 'tool_result', name: 'shell', isError: typeof it.exit_code === 'number' ? it.exit_code !== 0 : it.status === 'failed', raw: line, ...defined({ id, output: str(it.aggregated_output) }) }];
      case 'file_change':
        if (!done) return [];
        return [
          { kind: 'tool_call', name: 'file_change', input: { changes: it.changes }, raw: line, ...defined({ id }) },
          { kind: 'tool_result', name: 'file_change', isError: it.status === 'failed', raw: line, ...defined({ id }) },
        ];
      case 'mcp_tool_call':
        if (type === 'item.started') return [{ kind: 'tool_call', name: `${String(it.server ?? 'mcp')}.${String(it.tool ?? '?')}`, input: it.arguments ?? {}, raw: line, ...defined({ id }) }];
        if (!done) return [];
        return [{ kind: 'tool_result', isError: it.status === 'failed', raw: line, ...defined({ id, output: it.result === undefined ? undefined : JSON.stringify(it.result) }) }];
      case 'web_search':
        return done ? [{ kind: 'tool_call', name: 'web_search', input: { query: it.query }, raw: line, ...defined({ id }) }] : [];
      case 'error':
        // non-fatal: codex keeps going (e.g. "model metadata not found")
        return done ? [{ kind: 'error', message: str(it.message) ?? 'error', fatal: false, raw: line }] : [];
      default:
        return [{ kind: 'raw', raw: line }];
    }
  }
}

