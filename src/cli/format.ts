import { WardenError } from '../errors.js';

/**
 * `--format` as docker takes it: `json` (one JSON object per line), a Go-template-like line such as
 * `{{.ID}} {{.State}}` (`\t` and `\n` escapes; a leading `table ` prints a header row), rendered for each
 * row. Only `{{.Field}}` is supported; an unknown field is an error naming the known ones (never an empty
 * column).
 */
export function renderFormat(format: string, rows: Array<Record<string, string>>, fields: readonly string[]): string {
  if (format === 'json') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  const table = format.startsWith('table ');
  const body = (table ? format.slice(6) : format).replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const parts: Array<string | { field: string }> = [];
  let last = 0;
  for (const m of body.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
    parts.push(body.slice(last, m.index));
    const f = /^\.([A-Za-z]+)$/.exec(m[1] ?? '');
    if (!f || !fields.includes(f[1]!)) {
      throw new WardenError('INVALID_ARGUMENT', `--format: '{{${m[1]}}}' is not a field; use ${fields.map((x) => `{{.${x}}}`).join(', ')} or 'json'`);
    }
    parts.push({ field: f[1]! });
    last = (m.index ?? 0) + m[0].length;
  }
  parts.push(body.slice(last));
  if (!parts.some((p) => typeof p !== 'string')) throw new WardenError('INVALID_ARGUMENT', `--format '${format}' has no {{.Field}}; e.g. '{{.ID}}\\t{{.State}}' or 'json'`);
  const line = (get: (f: string) => string): string => parts.map((p) => (typeof p === 'string' ? p : get(p.field))).join('');
  const out = rows.map((r) => line((f) => r[f] ?? ''));
  if (table) out.unshift(line((f) => f.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()));
  return out.map((l) => `${l}\n`).join('');
}
