import type { EgressRecord } from './proxy.js';

/** The audit from the proxy's log lines (one JSON line per request, see proxy.ts); torn lines are skipped. */
export function parseEgressLog(text: string): EgressRecord[] {
  const out: EgressRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"egress"')) continue;
    try {
      out.push((JSON.parse(line) as { egress: EgressRecord }).egress);
    } catch {
      /* a torn line */
    }
  }
  return out;
}
