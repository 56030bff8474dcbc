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
  checkNameLengths(input, raw);
  const abs = posix.normalize(raw).replace(/\/+$/, '') || '/';
  for (const root of [...roots].sort((a, b) => b.length - a.length)) {
    if (abs === root) return { root, abs, rel: '' };
    if (abs.startsWith(`${root}/`)) return { root, abs, rel: abs.slice(root.length + 1) };
  }
  throw refused(input, `it is outside the allowed roots (${roots.join(', ')})`);
}

/** Linux's limits (NAME_MAX, PATH_MAX): a longer name fails inside the sandbox, so it is refused here. */
export const NAME_MAX_BYTES = 255;
export const PATH_MAX_BYTES = 4095;

/** Refuses a path with a component over 255 bytes or a whole over 4095 bytes (both in UTF-8). */
export function checkNameLengths(input: string, path = input): void {
  if (Buffer.byteLength(path) > PATH_MAX_BYTES) throw refused(input, `it is ${Buffer.byteLength(path)} bytes long; paths are at most ${PATH_MAX_BYTES} bytes`);
  const long = path.split('/').find((part) => Buffer.byteLength(part) > NAME_MAX_BYTES);
  if (long !== undefined) throw refused(input, `a name in it is ${Buffer.byteLength(long)} bytes long; file and directory names are at most ${NAME_MAX_BYTES} bytes`);
}

function refused(path: string, why: string): WardenError {
  const shown = path.length > 120 ? `${path.slice(0, 100)}...(${path.length} characters)` : path;
  return new WardenError('PATH_REFUSED', `path '${shown}' refused: ${why}`);
}

/** Each proper prefix below the root plus the path itself: a/b/c -> [a, a/b, a/b/c]. */
export function prefixes(rel: string): string[] {
  const parts = rel.split('/').filter(Boolean);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}
