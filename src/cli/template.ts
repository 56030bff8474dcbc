import { WardenError } from '../errors.js';

/**
 * A small Go-template-like formatter for `--format` (as docker's): text with `{{.Field.Sub}}`,
 * `{{json .Field}}` (or `{{json .}}`), `{{index .Map "key"}}`, `{{upper .X}}`/`{{lower .X}}`. Fields are
 * looked up case-insensitively. A missing field prints `<no value>`, as Go does. Hand-rolled: the
 * npm Go-template ports pull in a full template language for four forms.
 */
export function renderTemplate(template: string, value: unknown): string {
  return template.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, action: string) => renderAction(action, value));
}

/** Check a template before any work is done (a typo fails at once, naming it). */
export function checkTemplate(template: string): void {
  for (const m of template.matchAll(/\{\{\s*(.*?)\s*\}\}/g)) parseAction(m[1] ?? '');
  if (/\{\{(?![\s\S]*?\}\})/.test(template)) throw new WardenError('INVALID_ARGUMENT', `--format '${template}' has an unclosed {{`);
}

type Action = { fn: 'value' | 'json' | 'upper' | 'lower'; path: string[] } | { fn: 'index'; path: string[]; key: string };

function parsePath(p: string, whole: string): string[] {
  if (p === '.') return [];
  if (!/^(\.[A-Za-z_][\w-]*)+$/.test(p)) throw new WardenError('INVALID_ARGUMENT', `--format: '${whole}' is not a field; write e.g. {{.ID}}, {{.Spec.resources.memory}}, {{json .Labels}}`);
  return p.slice(1).split('.');
}

function parseAction(action: string): Action {
  const words = action.match(/"[^"]*"|\S+/g) ?? [];
  const [first, second, third] = words;
  if (words.length === 1 && first) return { fn: 'value', path: parsePath(first, action) };
  if (words.length === 2 && (first === 'json' || first === 'upper' || first === 'lower') && second) return { fn: first, path: parsePath(second, action) };
  if (words.length === 3 && first === 'index' && second && third?.startsWith('"')) return { fn: 'index', path: parsePath(second, action), key: third.slice(1, -1) };
  throw new WardenError('INVALID_ARGUMENT', `--format: '{{${action}}}' is not understood; use {{.Field}}, {{json .Field}}, {{index .Map "key"}}, {{upper .Field}} or {{lower .Field}}`);
}

function lookup(value: unknown, path: string[]): unknown {
  let cur = value;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const obj = cur as Record<string, unknown>;
    const key = part in obj ? part : Object.keys(obj).find((k) => k.toLowerCase() === part.toLowerCase());
    cur = key === undefined ? undefined : obj[key];
  }
  return cur;
}

function plain(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'object') return Array.isArray(v) ? `[${v.map(plain).join(' ')}]` : `map[${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}:${plain(x)}`).join(' ')}]`;
  return String(v);
}

function renderAction(action: string, value: unknown): string {
  const a = parseAction(action);
  const v = lookup(value, a.path);
  switch (a.fn) {
    case 'json':
      return JSON.stringify(v ?? null);
    case 'index':
      return plain(lookup(v, [a.key]));
    case 'upper':
      return plain(v).toUpperCase();
    case 'lower':
      return plain(v).toLowerCase();
    default:
      return plain(v);
  }
}
