import { posix } from 'node:path';
import { WardenError } from '../errors.js';

/**
 * Confine a sandbox path to the allowed roots. Relative paths are taken from `/workspace`.
 * Returns the root it lies under and the path relative to that root.
 * Refuses `..` escapes, NUL bytes, and anything outside the roots, with a message that says so.
 */
export function confinePath(input: string, roots: readonly string[]): { root: string; abs: string; rel: string } {
  if (typeof input !== 'string' || input.length === 0) throw refused(String(input), 'a path must be a non-empty string');
  if (input.includes('\0')) throw refused(input, 'a path must not contain NUL bytes');
  const raw = input.startsWith('/') ? input : `/workspace/${input}`;
  if (raw.split('/').includes('..')) throw refused(input, "'..' is not allowed in sandbox paths");
  const abs = posix.normalize(raw).replace(/\/+$/, '') || '/';
  for (const root of [...roots].sort((a, b) => b.length - a.length)) {
    if (abs === root) return { root, abs, rel: '' };
    if (abs.startsWith(`${root}/`)) return { root, abs, rel: abs.slice(root.length + 1) };
  }
  throw refused(input, `it is outside the allowed roots (${roots.join(', ')})`);
}

function refused(path: string, why: string): WardenError {
  return new WardenError('PATH_REFUSED', `path '${path}' refused: ${why}`);
}

/** Each proper prefix below the root plus the path itself: a/b/c -> [a, a/b, a/b/c]. */
export function prefixes(rel: string): string[] {
  const parts = rel.split('/').filter(Boolean);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}
