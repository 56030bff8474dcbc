import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AgentEvent, AgentParser } from './events.js';
import { safeParser } from './events.js';

/** Recorded output of the real CLIs against the fake model server (test/fixtures/agents/). */
export function recorded(name: string): string[] {
  const file = fileURLToPath(new URL(`../../test/fixtures/agents/${name}`, import.meta.url));
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
}

/** Feed every line and the end; the events in order. */
export function parseAll(parser: AgentParser, lines: string[]): AgentEvent[] {
  const p = safeParser(parser);
  return [...lines.flatMap((l) => p.push(l)), ...p.end()];
}
