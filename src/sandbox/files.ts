import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { WardenError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { confinePath, prefixes } from './paths.js';

export interface FileEntry {
  /** Absolute sandbox path, or relative to /workspace. */
  path: string;
  /** Text (utf8), bytes, or a stream (give `size` with a stream). */
  content?: string | Buffer | Uint8Array;
  stream?: Readable;
  size?: number;
  /** Content as base64 text (seed 3's uploads). */
  base64?: string;
  /** File mode, default 0o644. */
  mode?: number;
}

/** Decode base64 content for a file entry; refuses what is not base64. */
export function fromBase64(path: string, base64: string, mode?: number): FileEntry {
  const clean = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw new WardenError('INVALID_ARGUMENT', `content of ${path} is not valid base64`);
  }
  return { path, content: Buffer.from(clean, 'base64'), ...(mode !== undefined ? { mode } : {}) };
}

/**
 * Files in and out of a sandbox through the engine's archive (tar) API, confined to the writable
 * roots (reads also from read-only mounts). Every existing component of a path is checked with a
 * non-following stat first: a symlink anywhere on the way is refused, so an agent cannot redirect a
 * host-side read or write by planting links. Written files belong to the sandbox user.
 */
export class SandboxFiles {
  /** @internal */
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly containerId: string,
    private readonly owner: { uid: number; gid: number },
    private readonly writeRoots: readonly string[],
    private readonly readRoots: readonly string[],
  ) {}

  /** Write files (creating parent directories). Refuses paths outside the writable roots. */
  async write(entries: FileEntry[]): Promise<void> {
    const byRoot = new Map<string, Array<{ rel: string; entry: FileEntry }>>();
    for (const entry of entries) {
      const c = confinePath(entry.path, this.writeRoots);
      if (c.rel === '') throw new WardenError('PATH_REFUSED', `path '${entry.path}' refused: it is a root directory, not a file`);
      const list = byRoot.get(c.root) ?? [];
      list.push({ rel: c.rel, entry });
      byRoot.set(c.root, list);
    }
    for (const [root, items] of byRoot) {
      const missingDirs = new Set<string>();
      for (const { rel } of items) {
        const dirs = prefixes(rel).slice(0, -1);
        const checks = await Promise.all([...dirs, rel].map((p) => this.runtime.statPath(this.containerId, `${root}/${p}`)));
        checks.forEach((st, i) => {
          const p = i < dirs.length ? dirs[i]! : rel;
          if (!st) {
            if (i < dirs.length) missingDirs.add(p);
            return;
          }
          if (st.isSymlink) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: ${root}/${p} is a symbolic link (to ${st.linkTarget})`);
          if (i < dirs.length && !st.isDir) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: ${root}/${p} is not a directory`);
          if (i === dirs.length && st.isDir) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: it is a directory`);
        });
      }
      const pack = tarPack();
      const done = this.runtime.putArchive(this.containerId, root, pack as unknown as Readable);
      const base = { uid: this.owner.uid, gid: this.owner.gid, mtime: new Date() };
      for (const d of [...missingDirs].sort()) pack.entry({ ...base, name: d, type: 'directory', mode: 0o755 });
      for (const { rel, entry } of items) await this.addEntry(pack, { ...base, name: rel, mode: entry.mode ?? 0o644 }, entry);
      pack.finalize();
      await done;
    }
  }

  private async addEntry(pack: ReturnType<typeof tarPack>, header: Partial<Header> & { name: string }, entry: FileEntry): Promise<void> {
    if (entry.stream) {
      if (entry.size === undefined) throw new WardenError('INVALID_ARGUMENT', `a stream for ${entry.path} needs its size`);
      const sink = pack.entry({ ...header, size: entry.size });
      await pipeline(entry.stream, sink);
      return;
    }
    const data = entry.base64 !== undefined ? fromBase64(entry.path, entry.base64).content! : (entry.content ?? '');
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    await new Promise<void>((resolve, reject) => pack.entry(header, buf, (err) => (err ? reject(err) : resolve())));
  }

  /** Read one file as bytes. */
  async read(path: string): Promise<Buffer> {
    const c = confinePath(path, this.readRoots);
    await this.refuseLinks(c.root, c.rel);
    const tar = await this.runtime.getArchive(this.containerId, c.abs);
    let out: Buffer | undefined;
    let kind = 'file';
    const ex = tarExtract();
    ex.on('entry', (header, stream, next) => {
      const first = out === undefined;
      const chunks: Buffer[] = [];
      stream.on('data', (d: unknown) => {
        if (first) chunks.push(d as Buffer);
      });
      stream.on('end', () => {
        if (first) {
          out = Buffer.concat(chunks);
          kind = header.type ?? 'file';
        }
        next();
      });
    });
    await pipeline(tar, ex);
    if (kind !== 'file') throw new WardenError('PATH_REFUSED', `${c.abs} is a ${kind}, not a regular file`);
    return out ?? Buffer.alloc(0);
  }

  /** Read one file as utf8 text. */
  async readText(path: string): Promise<string> {
    return (await this.read(path)).toString('utf8');
  }

  /** Read several files; the result maps each given path to its bytes. */
  async readMany(paths: string[]): Promise<Map<string, Buffer>> {
    const contents = await Promise.all(paths.map((p) => this.read(p)));
    return new Map(paths.map((p, i) => [p, contents[i]!]));
  }

  /** A tar stream of a file or directory (what `warden cp` uses to copy out). */
  async readTar(path: string): Promise<Readable> {
    const c = confinePath(path, this.readRoots);
    await this.refuseLinks(c.root, c.rel);
    return this.runtime.getArchive(this.containerId, c.abs);
  }

  /** Extract a tar stream into a directory of the sandbox (entries' owners are set to the sandbox user). */
  async writeTar(dir: string, tar: Readable): Promise<void> {
    const c = confinePath(dir, this.writeRoots);
    await this.refuseLinks(c.root, c.rel);
    const st = await this.runtime.statPath(this.containerId, c.abs);
    if (!st?.isDir) throw new WardenError('FILE_NOT_FOUND', `${c.abs} is not a directory in the sandbox`);
    const ex = tarExtract();
    const pack = tarPack();
    ex.on('entry', (header, stream, next) => {
      if (header.type !== 'file' && header.type !== 'directory') {
        stream.resume();
        stream.on('end', next);
        return;
      }
      if (header.name.split('/').includes('..') || header.name.startsWith('/')) {
        ex.destroy(new WardenError('PATH_REFUSED', `archive entry '${header.name}' escapes the destination`));
        return;
      }
      const sink = pack.entry({ ...header, uid: this.owner.uid, gid: this.owner.gid }, (err) => (err ? ex.destroy(err) : next()));
      stream.pipe(sink);
    });
    ex.on('finish', () => pack.finalize());
    const done = this.runtime.putArchive(this.containerId, c.abs, pack as unknown as Readable);
    await pipeline(tar, ex);
    await done;
  }

  private async refuseLinks(root: string, rel: string): Promise<void> {
    const checks = await Promise.all(prefixes(rel).map(async (p) => ({ p, st: await this.runtime.statPath(this.containerId, `${root}/${p}`) })));
    for (const { p, st } of checks) {
      if (!st) throw new WardenError('FILE_NOT_FOUND', `${root}/${rel} does not exist in the sandbox (${root}/${p} is missing)`);
      if (st.isSymlink) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: ${root}/${p} is a symbolic link (to ${st.linkTarget})`);
    }
  }
}

