import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { WardenError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { confinePath, prefixes } from './paths.js';
import { runInternal } from './internal-exec.js';

/** One entry of a directory listing. */
export interface DirEntry {
  name: string;
  type: 'file' | 'dir' | 'link' | 'other';
  size: number;
  /** Last modification, ISO 8601. */
  mtime: string;
  /** Permission bits, octal text (e.g. '644'). */
  mode: string;
}

/** Runs inside the sandbox as its user: one NUL-terminated record per entry of "$1", symlinks not followed. */
const LIST_DIR = `
dir="$1"; root="$2"; shift 2
for p in "$@"; do
  if [ -L "$root/$p" ]; then echo "path '$dir' refused: $root/$p is a symbolic link" >&2; exit 3; fi
done
[ -d "$dir" ] || { echo "$dir is not a directory in the sandbox" >&2; exit 4; }
exec find "$dir" -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%T@\\t%m\\t%f\\0'
`;

export interface FileEntry {
  /** Absolute sandbox path, or relative to /workspace. */
  path: string;
  /** Text (utf8) or bytes. */
  content?: string | Buffer | Uint8Array;
  /** A stream of the content (give `size` with it). */
  stream?: Readable;
  size?: number;
  /** Content as base64 text (seed 3's uploads). */
  base64?: string;
  /** File mode, default 0o644. */
  mode?: number;
}

/** Where files may go: writable roots, readable roots, and which roots are tmpfs (moved through an exec). */
export interface FileRoots {
  write: readonly string[];
  read: readonly string[];
  /** tmpfs roots: the engine's archive API cannot see them, so tar runs inside the sandbox, as its user. */
  viaExec: readonly string[];
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
 * Runs inside the sandbox as its user: refuse if any given component is a symlink, then extract (x)
 * or archive (c) with tar. Exit 3: a symlink; 4: missing.
 */
const EXEC_TAR = `
op="$1"; root="$2"; target="$3"; shift 3
for p in "$@"; do
  if [ -L "$root/$p" ]; then echo "path '$root/$target' refused: $root/$p is a symbolic link (to $(readlink "$root/$p"))" >&2; exit 3; fi
done
if [ "$op" = x ]; then exec tar -x --no-same-owner -C "$root" -f -; fi
if [ ! -e "$root/$target" ] && [ -n "$target" ]; then echo "$root/$target does not exist in the sandbox" >&2; exit 4; fi
full="$root/$target"; exec tar -c -C "\${full%/*}/" -f - "\${full##*/}"
`;

type TarPack = ReturnType<typeof tarPack>;

/**
 * Files in and out of a sandbox, confined to its roots. Bind-mounted roots (the workspace, extra
 * mounts) go through the engine's archive API; tmpfs roots (/tmp, home) through tar run inside the
 * sandbox as its user. Either way every component of a path is checked first and a symlink anywhere
 * on the way is refused, so an agent cannot redirect a host-side read or write by planting links.
 * Written files belong to the sandbox user.
 */
export class SandboxFiles {
  /** @internal */
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly containerId: string,
    private readonly owner: { uid: number; gid: number },
    private readonly roots: FileRoots,
  ) {}

  /** Write files (creating parent directories). Refuses paths outside the writable roots. */
  async write(entries: FileEntry[]): Promise<void> {
    const byRoot = new Map<string, Array<{ rel: string; entry: FileEntry }>>();
    for (const entry of entries) {
      const c = confinePath(entry.path, this.roots.write);
      if (c.rel === '') throw new WardenError('PATH_REFUSED', `path '${entry.path}' refused: it is a root directory, not a file`);
      const list = byRoot.get(c.root) ?? [];
      list.push({ rel: c.rel, entry });
      byRoot.set(c.root, list);
    }
    for (const [root, items] of byRoot) {
      const dirs = this.roots.viaExec.includes(root) ? new Set<string>() : await this.checkForWrite(root, items.map((i) => i.rel));
      await this.putTar(root, items.flatMap((i) => prefixes(i.rel)), async (pack) => {
        const base = { uid: this.owner.uid, gid: this.owner.gid, mtime: new Date() };
        for (const d of [...dirs].sort()) pack.entry({ ...base, name: d, type: 'directory', mode: 0o755 });
        // files get a sub-second mtime (PAX): a tar header's whole seconds would give two writes within one
        // second the same mtime, and watchers that compare mtimes (Vite's) would miss the second one
        for (const { rel, entry } of items) await addEntry(pack, { ...base, name: rel, mode: entry.mode ?? 0o644, pax: { mtime: preciseNow() } }, entry);
      });
    }
  }

  /** Archive API roots: refuse links and non-directories on the way; return the parents to create. */
  private async checkForWrite(root: string, rels: string[]): Promise<Set<string>> {
    const missing = new Set<string>();
    for (const rel of rels) {
      const dirs = prefixes(rel).slice(0, -1);
      const stats = await Promise.all([...dirs, rel].map((p) => this.runtime.statPath(this.containerId, `${root}/${p}`)));
      stats.forEach((st, i) => {
        const p = i < dirs.length ? dirs[i]! : rel;
        if (!st) {
          if (i < dirs.length) missing.add(p);
          return;
        }
        if (st.isSymlink) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: ${root}/${p} is a symbolic link (to ${st.linkTarget})`);
        if (i < dirs.length && !st.isDir) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: ${root}/${p} is not a directory`);
        if (i === dirs.length && st.isDir) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: it is a directory`);
      });
    }
    return missing;
  }

  /** Build a tar with `fill` and extract it into `root`. */
  private async putTar(root: string, checkRels: string[], fill: (pack: TarPack) => Promise<void>): Promise<void> {
    const pack = tarPack();
    const done = this.roots.viaExec.includes(root)
      ? this.execTar('x', root, '', [...new Set(checkRels)], pack as unknown as Readable).then((r) => r.wait())
      : this.runtime.putArchive(this.containerId, root, pack as unknown as Readable);
    try {
      await fill(pack);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
      await done.catch(() => undefined);
      throw err;
    }
    await done;
  }

  /** Read one file as bytes. */
  async read(path: string): Promise<Buffer> {
    const c = confinePath(path, this.roots.read);
    const tar = await this.tarOf(c.root, c.rel);
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

  /**
   * List a directory (within the readable roots; a symlink on the way is refused), as the sandbox user
   * sees it: names, types (a symlink is shown as a link, never followed), sizes, times. Directories first.
   */
  async list(path: string): Promise<DirEntry[]> {
    const c = confinePath(path, this.roots.read);
    // the symlink check runs inside, as for tmpfs roots (the archive API cannot see those)
    const r = await runInternal(this.runtime, this.containerId, ['/bin/sh', '-c', LIST_DIR, 'warden-ls', c.abs, c.root, ...prefixes(c.rel)], `${this.owner.uid}:${this.owner.gid}`);
    if (r.exitCode === 3) throw new WardenError('PATH_REFUSED', `path '${c.abs}' refused: a component is a symbolic link`);
    if (r.exitCode === 4) throw new WardenError('FILE_NOT_FOUND', `${c.abs} is not a directory in the sandbox`);
    if (r.exitCode !== 0) throw new WardenError('EXEC_FAILED', `listing ${c.abs} failed (exit ${r.exitCode})`);
    const kinds: Record<string, DirEntry['type']> = { f: 'file', d: 'dir', l: 'link' };
    return r.stdout
      .split('\0')
      .filter(Boolean)
      .map((rec) => {
        const [y = '', size = '0', t = '0', mode = '', ...name] = rec.split('\t');
        return { name: name.join('\t'), type: kinds[y] ?? 'other', size: Number(size), mtime: new Date(Number(t) * 1000).toISOString(), mode };
      })
      .sort((a, b) => (a.type === 'dir') !== (b.type === 'dir') ? (a.type === 'dir' ? -1 : 1) : a.name.localeCompare(b.name));
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

  /** A tar stream of a file or directory, entries named from its base name (what `warden cp` copies out). */
  async readTar(path: string): Promise<Readable> {
    const c = confinePath(path, this.roots.read);
    return this.tarOf(c.root, c.rel);
  }

  /** Extract a tar stream into a directory of the sandbox; entries become the sandbox user's; links are skipped. */
  async writeTar(dir: string, tar: Readable): Promise<void> {
    const c = confinePath(dir, this.roots.write);
    if (!this.roots.viaExec.includes(c.root)) {
      await this.refuseLinks(c.root, c.rel);
      const st = c.rel ? await this.runtime.statPath(this.containerId, c.abs) : { isDir: true };
      if (!st?.isDir) throw new WardenError('FILE_NOT_FOUND', `${c.abs} is not a directory in the sandbox`);
    }
    const prefix = c.rel ? `${c.rel}/` : '';
    await this.putTar(c.root, prefixes(c.rel), async (pack) => {
      const ex = tarExtract();
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
        const sink = pack.entry({ ...header, name: `${prefix}${header.name}`, uid: this.owner.uid, gid: this.owner.gid }, (err) => (err ? ex.destroy(err) : next()));
        stream.pipe(sink);
      });
      await pipeline(tar, ex);
    });
  }

  private async tarOf(root: string, rel: string): Promise<Readable> {
    if (this.roots.viaExec.includes(root)) {
      const r = await this.execTar('c', root, rel, prefixes(rel));
      const out = new PassThrough();
      r.stdout.pipe(out, { end: false });
      void r.wait().then(
        () => out.end(),
        (err: unknown) => out.destroy(err as Error),
      );
      return out;
    }
    await this.refuseLinks(root, rel);
    return this.runtime.getArchive(this.containerId, rel ? `${root}/${rel}` : root);
  }

  /** tar inside the sandbox, as its user; wait() turns its refusals into WardenErrors. */
  private async execTar(op: 'x' | 'c', root: string, target: string, check: string[], stdin?: Readable): Promise<{ stdout: Readable; wait: () => Promise<void> }> {
    const e = await this.runtime.exec(this.containerId, {
      cmd: ['/bin/sh', '-c', EXEC_TAR, 'warden-files', op, root, target, ...check],
      env: {},
      user: `${this.owner.uid}:${this.owner.gid}`,
      stdin: stdin !== undefined,
    });
    if (stdin && e.stdin) stdin.pipe(e.stdin);
    const errs: Buffer[] = [];
    e.stderr.on('data', (d: Buffer) => errs.push(d));
    if (op === 'x') e.stdout.resume();
    const wait = async (): Promise<void> => {
      const code = await e.wait();
      const msg = Buffer.concat(errs).toString('utf8').trim();
      if (code === 0) return;
      if (code === 3) throw new WardenError('PATH_REFUSED', msg);
      if (code === 4) throw new WardenError('FILE_NOT_FOUND', msg);
      if (code === 127) throw new WardenError('EXEC_FAILED', `moving files in ${root} needs tar and sh in the image (${msg})`);
      throw new WardenError('EXEC_FAILED', `tar in the sandbox failed (exit ${code}) for ${root}/${target}: ${msg}`);
    };
    return { stdout: e.stdout, wait };
  }

  private async refuseLinks(root: string, rel: string): Promise<void> {
    const checks = await Promise.all(prefixes(rel).map(async (p) => ({ p, st: await this.runtime.statPath(this.containerId, `${root}/${p}`) })));
    for (const { p, st } of checks) {
      if (!st) throw new WardenError('FILE_NOT_FOUND', `${root}/${rel} does not exist in the sandbox (${root}/${p} is missing)`);
      if (st.isSymlink) throw new WardenError('PATH_REFUSED', `path '${root}/${rel}' refused: ${root}/${p} is a symbolic link (to ${st.linkTarget})`);
    }
  }
}

/** Now as seconds with microseconds, for a PAX mtime record. */
function preciseNow(): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

async function addEntry(pack: TarPack, header: Partial<Header> & { name: string }, entry: FileEntry): Promise<void> {
  if (entry.stream) {
    if (entry.size === undefined) throw new WardenError('INVALID_ARGUMENT', `a stream for ${entry.path} needs its size`);
    await pipeline(entry.stream, pack.entry({ ...header, size: entry.size }));
    return;
  }
  const data = entry.base64 !== undefined ? fromBase64(entry.path, entry.base64).content! : (entry.content ?? '');
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  await new Promise<void>((resolve, reject) => pack.entry(header, buf, (err) => (err ? reject(err) : resolve())));
}
