import { describe, expect, it } from 'vitest';
import { claudeParser } from './claude-parser.js';
import { parseAll, recorded } from './parser-fixtures.js';

describe('claude stream-json parser', () => {
  it('parses a recorded run (write, bash, answer) into ordered typed events', () => {
    const events = parseAll(claudeParser(), recorded('claude-tools.jsonl'));
    const kinds = events.map((e) => e.kind);
    expect(kinds).toEqual(['init', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'text', 'usage', 'result']);
    const [init, write, , bash, bashResult, , usage, result] = events;
    expect(init).toMatchObject({ kind: 'init', sessionId: '64a48102-e351-4a51-9b3c-1b116b5d87ae' });
    expect(write).toMatchObject({ kind: 'tool_call', name: 'Write', input: { file_path: '/workspace/hello.txt' } });
    expect(bash).toMatchObject({ kind: 'tool_call', name: 'Bash', input: { command: expect.stringContaining('echo shell-ran') } });
    expect(bashResult).toMatchObject({ kind: 'tool_result', output: '1000', isError: false });
    expect(usage).toMatchObject({ kind: 'usage', usage: { inputTokens: 312, outputTokens: 60, costUsd: 0.002448 } });
    expect(result).toMatchObject({ kind: 'result', isError: false, text: 'Done: wrote /workspace/hello.txt and ran the shell command.', sessionId: '64a48102-e351-4a51-9b3c-1b116b5d87ae', numTurns: 3 });
    for (const e of events) expect(e.raw.length).toBeGreaterThan(0);
  });

  it('passes unknown kinds and garbage through as raw, never throws', () => {
    const events = parseAll(claudeParser(), ['{"type":"stream_event","event":{}}', 'not json at all', '{"type":"assistant","message":null}', '[1,2]', '{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"s1"}']);
    expect(events.map((e) => e.kind)).toEqual(['raw', 'raw', 'raw', 'raw', 'usage', 'result']);
    expect(events.at(-1)).toMatchObject({ isError: true, sessionId: 's1', text: 'claude ended with error_max_turns' });
  });

  it('a run that printed no result line ends as an error', () => {
    const events = parseAll(claudeParser(), ['{"type":"system","subtype":"init","session_id":"abc"}']);
    expect(events.at(-1)).toMatchObject({ kind: 'result', isError: true, sessionId: 'abc' });
  });
});
