import { WardenError, isWardenError } from '../errors.js';

/** Exit code for Warden's own failures (as `docker run` uses 125); a command's own code passes through. */
export const EXIT_WARDEN_FAILURE = 125;
/** Exit code when a command was killed by its timeout (as timeout(1)). */
export const EXIT_TIMEOUT = 124;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain text table, columns padded. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** Print a failure without a stack (unless WARDEN_DEBUG) and give the exit code. */
export function reportError(err: unknown, json: boolean): number {
  const e = isWardenError(err) ? err : new WardenError('ENGINE_ERROR', (err as Error)?.message ?? String(err), { cause: err });
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } })}\n`);
  process.stderr.write(`warden: ${e.message}${e.code ? ` [${e.code}]` : ''}\n`);
  if (process.env.WARDEN_DEBUG && !isWardenError(err)) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return e.code === 'EXEC_TIMEOUT' ? EXIT_TIMEOUT : EXIT_WARDEN_FAILURE;
}

export function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
