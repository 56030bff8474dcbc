import { defined, jsonLine, num, obj, str, type AgentParser, type AgentUsage } from './events.js';

/** Gemini CLI's `--output-format stream-json` lines -> events. */
export function geminiParser(): AgentParser {
  let sessionId: string | undefined;
  let text = '';
  let sawResult = false;
  const names = new Map<string, string>();
  return {
    push(line) {
      const j = jsonLine(line);
      if (!j) return [{ kind: 'raw', raw: line }];
      switch (j.type) {
        case 'init':
          sessionId = str(j.session_id) ?? str(j.sessionId);
          return [{ kind: 'init', raw: line, ...defined({ sessionId, model: str(j.model) }) }];
        case 'message': {
          if (j.role !== 'assistant') return [{ kind: 'raw', raw: line }];
          const chunk = str(j.content) ?? '';
          text = j.delta === true ? text + chunk : chunk;
          return [{ kind: 'text', text: chunk, raw: line }];
        }
        case 'tool_use': {
          const id = str(j.tool_id);
          const name = str(j.tool_name) ?? '?';
          if (id) names.set(id, name);
          return [{ kind: 'tool_call', name, input: j.parameters ?? {}, raw: line, ...defined({ id }) }];
        }
        case 'tool_result': {
          const id = str(j.tool_id);
          const output = str(j.output) ?? str(obj(j.error).message);
          return [{ kind: 'tool_result', isError: j.status !== 'success', raw: line, ...defined({ id, name: id ? names.get(id) : undefined, output }) }];
        }
        case 'error':
          return [{ kind: 'error', message: str(j.message) ?? 'gemini reported an error', fatal: j.severity === 'error', raw: line }];
        case 'result': {
          sawResult = true;
          const s = obj(j.stats);
          const usage: AgentUsage = defined({ inputTokens: num(s.input_tokens), outputTokens: num(s.output_tokens), cachedInputTokens: num(s.cached) });
          const isError = j.status !== 'success';
          const message = str(obj(j.error).message);
          return [
            { kind: 'usage', usage, raw: line },
            { kind: 'result', text: isError && message && !text ? message : text, isError, usage, raw: line, ...defined({ sessionId }) },
          ];
        }
        default:
          return [{ kind: 'raw', raw: line }];
      }
    },
    end() {
      return sawResult ? [] : [{ kind: 'result', text, isError: true, raw: '', ...defined({ sessionId }) }];
    },
  };
}
