import { describe, expect, it } from 'vitest';
import { codexParser } from './codex-parser.js';
import { parseAll, recorded } from './parser-fixtures.js';

describe('codex exec --json parser', () => {
  it('parses a recorded run (two shell calls, answer) into ordered typed events and builds the result', () => {
    const events = parseAll(codexParser(), recorded('codex-tools.jsonl'));
    expect(events.map((e) => e.kind)).toEqual(['init', 'error', 'raw', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'text', 'usage', 'result']);
    expect(events[0]).toMatchObject({ sessionId: '01a209ce-75dc-76a3-843d-7947703ad298' });
    expect(events[1]).toMatchObject({ kind: 'error', fatal: false });
    expect(events[3]).toMatchObject({ kind: 'tool_call', name: 'shell', input: { command: expect.stringContaining('/workspace/hello.txt') } });
    expect(events[6]).toMatchObject({ kind: 'tool_result', output: '1000\n', isError: false });
    expect(events.at(-1)).toMatchObject({ kind: 'result', isError: false, text: 'Done: wrote /workspace/hello.txt and ran the shell command.', sessionId: '01a209ce-75dc-76a3-843d-7947703ad298', usage: { inputTokens: 618, outputTokens: 90 } });
  });

  it('turn.failed makes the result an error; unknown items pass through', () => {
    const events = parseAll(codexParser(), ['{"type":"item.completed","item":{"type":"todo_list","items":[]}}', '{"type":"turn.failed","error":{"message":"stream disconnected"}}', 'garbage']);
    expect(events.map((e) => e.kind)).toEqual(['raw', 'error', 'raw', 'result']);
    expect(events.at(-1)).toMatchObject({ isError: true, text: 'stream disconnected' });
  });
});
