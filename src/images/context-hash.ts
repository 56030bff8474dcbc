import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * A content hash of a build context (every file's path, mode and bytes) plus the build arguments, so an
 * image is rebuilt exactly when something that goes into it changed.
 */
export async function contextHash(dir: string, args: Record<string, string>): Promise<string> {
  const h = createHash('sha256');
  const files = (await walk(dir)).sort();
  for (const f of files) {
    const st = await stat(f);
    h.update(`${relative(dir, f)}\0${st.mode & 0o777}\0`);
    h.update(await readFile(f));
    h.update('\0');
  }
  for (const [k, v] of Object.entries(args).sort(([a], [b]) => a.localeCompare(b))) h.update(`${k}=${v}\0`);
  return h.digest('hex').slice(0, 24);
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
