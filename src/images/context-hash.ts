import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * A content hash of a build context (every file's path, mode and bytes) plus the build arguments, so an
 * image is rebuilt exactly when something that goes into it changed.
 */
export async function contextHash(dir: string, args: Record<string, string>, extra: ContextFile[] = []): Promise<string> {
  const h = createHash('sha256');
  const files = [...(await contextFiles(dir)), ...extra].sort((a, b) => a.name.localeCompare(b.name));
  for (const f of files) {
    const mode = f.content ? 0o644 : (await stat(f.path)).mode & 0o777;
    h.update(`${f.name}\0${mode}\0`);
    h.update(f.content ?? (await readFile(f.path)));
    h.update('\0');
  }
  for (const [k, v] of Object.entries(args).sort(([a], [b]) => a.localeCompare(b))) h.update(`${k}=${v}\0`);
  return h.digest('hex').slice(0, 24);
}

/** A file of a build context: where it is on disk, and its name in the context. */
export interface ContextFile { path: string; name: string; /** Given content instead of a file. */ content?: Buffer }

export async function contextFiles(dir: string, to = '', include?: RegExp): Promise<ContextFile[]> {
  return (await walk(dir))
    .map((p) => ({ path: p, name: `${to ? `${to}/` : ''}${relative(dir, p)}` }))
    .filter((f) => !include || include.test(f.path.split('/').pop() ?? ''));
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
