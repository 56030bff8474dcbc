import { defined, jsonLine, num, obj, str, type AgentEvent, type AgentParser, type AgentUsage } from './events.js';

/** Claude Code's `-p --output-format stream-json --verbose` lines -> events. */
export function claudeParser(): AgentParser {
  let sessionId: string | undefined;
  let lastText = '';
  let sawResult = false;
  return {
    push(line) {
      const j = jsonLine(line);
      if (!j) return [{ kind: 'raw', raw: line }];
      sessionId = str(j.session_id) ?? sessionId;
      switch (j.type) {
        case 'system':
          if (j.subtype === 'init') return [{ kind: 'init', raw: line, ...defined({ sessionId: str(j.session_id), model: str(j.model) }) }];
          return [{ kind: 'raw', raw: line }];
        case 'assistant': {
          const out: AgentEvent[] = [];
          for (const b of blocks(j)) {
            if (b.type === 'text' && typeof b.text === 'string') {
              lastText = b.text;
              out.push({ kind: 'text', text: b.text, raw: line });
            } else if (b.type === 'tool_use') out.push({ kind: 'tool_call', name: str(b.name) ?? '?', input: b.input ?? {}, raw: line, ...defined({ id: str(b.id) }) });
          }
          return out.length ? out : [{ kind: 'raw', raw: line }];
        }
        case 'user': {
          const out: AgentEvent[] = [];
          for (const b of blocks(j)) {
            if (b.type !== 'tool_result') continue;
            out.push({ kind: 'tool_result', isError: b.is_error === true, raw: line, ...defined({ id: str(b.tool_use_id), output: contentText(b.content) }) });
          }
          return out.length ? out : [{ kind: 'raw', raw: line }];
        }
        case 'result': {
          sawResult = true;
          const usage = claudeUsage(j);
          const isError = j.is_error === true || (j.subtype !== undefined && j.subtype !== 'success');
          const text = str(j.result) ?? (isError ? errorText(j) : lastText);
          return [
            { kind: 'usage', usage, raw: line },
            { kind: 'result', text, isError, usage, raw: line, ...defined({ sessionId: str(j.session_id) ?? sessionId, numTurns: num(j.num_turns) }) },
          ];
        }
        default:
          return [{ kind: 'raw', raw: line }];
      }
    },
    end() {
      return sawResult ? [] : [{ kind: 'result', text: lastText, isError: true, raw: '', ...defined({ sessionId }) }];
    },
  };
}

function blocks(j: Record<string, unknown>): Array<Record<string, unknown>> {
  const content = obj(j.message).content;
  return Array.isArray(content) ? content.map(obj) : [];
}

function contentText(c: unknown): string | undefined {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => str(obj(p).text) ?? '').join('');
  return undefined;
}

function errorText(j: Record<string, unknown>): string {
  const errors = Array.isArray(j.errors) ? j.errors.map(String).join('; ') : '';
  return errors || `claude ended with ${String(j.subtype ?? 'an error')}`;
}

function claudeUsage(j: Record<string, unknown>): AgentUsage {
  const u = obj(j.usage);
  const cached = (num(u.cache_read_input_tokens) ?? 0) + (num(u.cache_creation_input_tokens) ?? 0);
  return defined({ inputTokens: num(u.input_tokens), outputTokens: num(u.output_tokens), cachedInputTokens: u.cache_read_input_tokens === undefined ? undefined : cached, costUsd: num(j.total_cost_usd) });
}
