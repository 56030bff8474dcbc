import { describe, expect, it } from 'vitest';
import { geminiParser } from './gemini-parser.js';
import { parseAll, recorded } from './parser-fixtures.js';

describe('gemini stream-json parser', () => {
  it('parses a recorded run (write_file, shell, answer) into ordered typed events', () => {
    const events = parseAll(geminiParser(), recorded('gemini-tools.jsonl'));
    expect(events.map((e) => e.kind)).toEqual(['init', 'raw', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'text', 'usage', 'result']);
    expect(events[0]).toMatchObject({ sessionId: '5c273640-3fd3-494d-b32b-44c793fdd397' });
    expect(events[2]).toMatchObject({ name: 'write_file', input: { file_path: '/workspace/hello.txt' } });
    expect(events[5]).toMatchObject({ name: 'run_shell_command', output: '1000', isError: false });
    expect(events.at(-1)).toMatchObject({ kind: 'result', isError: false, text: 'Done: wrote /workspace/hello.txt and ran the shell command.', usage: { inputTokens: 600, outputTokens: 100 } });
  });

  it('concatenates delta messages; unknown kinds are raw; a missing result is an error', () => {
    const events = parseAll(geminiParser(), ['{"type":"message","role":"assistant","content":"Hel","delta":true}', '{"type":"message","role":"assistant","content":"lo","delta":true}', '{"type":"thought","x":1}']);
    expect(events.map((e) => e.kind)).toEqual(['text', 'text', 'raw', 'result']);
    expect(events.at(-1)).toMatchObject({ text: 'Hello', isError: true });
  });
});
