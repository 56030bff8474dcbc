import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { WardenError } from '../errors.js';
import type { SandboxRuntime } from '../runtime/sandbox-runtime.js';
import { checkNameLengths, confinePath, prefixes } from './paths.js';
import { GUEST_SCRIPTS, guardExec } from '../guest/argv.js';
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

/** Where files may go: writable roots and readable roots. */
export interface FileRoots {
  write: readonly string[];
  read: readonly string[];
}

/** Decode base64 content for a file entry; refuses what is not base64. */
export function fromBase64(path: string, base64: string, mode?: number): FileEntry {
  const clean = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw new WardenError('INVALID_ARGUMENT', `content of ${path} is not valid base64`);
  }
  return { path, content: Buffer.from(clean, 'base64'), ...(mode !== undefined ? { mode } : {}) };
}


type TarPack = ReturnType<typeof tarPack>;

/**
 * Files in and out of a sandbox, confined to its roots. Every move is a tar stream through an exec
 * that the guard runs as the sandbox user (guest/files.sh), on tmpfs roots and bind mounts alike: no
 * host-side check-then-use the sandbox could race, and whatever a path resolves to (a link planted a
 * moment ago included), the write or read reaches only what the workload could reach itself. Links on
 * the way are still refused up front, for a clear error. Written files belong to the sandbox user;
 * hard links inside a copied tree stay hard links.
 */
export class SandboxFiles {
  /** @internal */
  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly unitId: string,
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
      await this.putTar(root, items.flatMap((i) => [...prefixes(i.rel).slice(0, -1), `=${i.rel}`]), async (pack) => {
        const base = { uid: this.owner.uid, gid: this.owner.gid, mtime: new Date() };
        // files get a sub-second mtime (PAX): a tar header's whole seconds would give two writes within one
        // second the same mtime, and watchers that compare mtimes (Vite's) would miss the second one
        for (const { rel, entry } of items) await addEntry(pack, { ...base, name: rel, mode: entry.mode ?? 0o644, pax: { mtime: preciseNow() } }, entry);
      });
    }
  }

  /** Build a tar with `fill` and extract it into `root`. */
  private async putTar(root: string, checkRels: string[], fill: (pack: TarPack) => Promise<void>): Promise<void> {
    const pack = tarPack();
    pack.on('error', () => undefined); // a failed fill destroys it; that error is thrown below, not emitted into the void
    const done = this.execTar('x', root, '', [...new Set(checkRels)], pack as unknown as Readable).then((r) => r.wait());
    // the receiving end may stop reading before the archive is complete (tar in the sandbox failed, the
    // engine refused): then filling would wait for a drain that never comes. Whichever ends first decides.
    const ended = done.then(
      () => {
        throw new WardenError('EXEC_FAILED', `the sandbox stopped reading the archive for ${root} before it was complete`);
      },
      (err: unknown) => {
        throw err;
      },
    );
    ended.catch(() => undefined);
    // (a stopped sandbox: the exec never starts, nothing reads, and the fill waited forever once the
    // pack's buffer was full; the fuzzer found it. The abandoned fill then fails on the destroyed pack.)
    const filling = fill(pack);
    filling.catch(() => undefined);
    try {
      await Promise.race([filling, ended]);
      pack.finalize();
    } catch (err) {
      // without the error: tar-stream hands it to the entry being written, an emitter nobody listens to
      pack.destroy();
      const failed = await done.then(() => undefined, (e: unknown) => e);
      // a refused path or a missing directory on the receiving side says more than a broken pipe; a bad
      // archive is best told by the reader that found it (ours)
      throw failed instanceof WardenError && failed.code !== 'EXEC_FAILED' ? failed : err;
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
    // listed inside, as the sandbox user (guest/files.sh), like every other file operation
    const r = await runInternal(this.runtime, this.unitId, guardExec(['/bin/sh', GUEST_SCRIPTS.files, 'l', c.root, c.rel, ...prefixes(c.rel).map((p, i, all) => (i === all.length - 1 ? `~${p}` : p))], { uid: this.owner.uid, gid: this.owner.gid }), '0:0');
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

  /**
   * Extract a tar stream into a directory of the sandbox; entries become the sandbox user's. Files,
   * directories and hard links (to entries of the same archive) are kept; symbolic links and devices
   * are skipped.
   */
  async writeTar(dir: string, tar: Readable): Promise<void> {
    const c = confinePath(dir, this.roots.write);
    const prefix = c.rel ? `${c.rel}/` : '';
    const escapes = (name: string): boolean => name.split('/').includes('..') || name.startsWith('/');
    await this.putTar(c.root, prefixes(c.rel), async (pack) => {
      const ex = tarExtract();
      ex.on('entry', (header, stream, next) => {
        stream.on('error', () => undefined); // a refused or broken archive destroys the entry: its error is the extract's
        const isLink = header.type === 'link';
        if (header.type !== 'file' && header.type !== 'directory' && !isLink) {
          stream.resume();
          stream.on('end', next);
          return;
        }
        if (escapes(header.name) || (isLink && (!header.linkname || escapes(header.linkname)))) {
          ex.destroy(new WardenError('PATH_REFUSED', `archive entry '${header.name}' escapes the destination`));
          return;
        }
        const renamed = { ...header, name: `${prefix}${header.name}`, ...(isLink ? { linkname: `${prefix}${header.linkname!}` } : {}) };
        try {
          checkNameLengths(header.name, `${c.root}/${renamed.name}`);
        } catch (err) {
          ex.destroy(err as Error);
          return;
        }
        const sink = pack.entry({ ...renamed, uid: this.owner.uid, gid: this.owner.gid }, (err) => (err ? ex.destroy(err) : next()));
        stream.pipe(sink);
      });
      await pipeline(tar, ex);
    });
  }

  private async tarOf(root: string, rel: string): Promise<Readable> {
    // no link anywhere on the way, the last component included
    const r = await this.execTar('c', root, rel, [...prefixes(rel).slice(0, -1), ...(rel ? [`~${rel}`] : [])]);
    const out = new PassThrough();
    r.stdout.pipe(out, { end: false });
    void r.wait().then(
      () => out.end(),
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  /** tar inside the sandbox, as its user; wait() turns its refusals into WardenErrors. */
  private async execTar(op: 'x' | 'c', root: string, target: string, check: string[], stdin?: Readable): Promise<{ stdout: Readable; wait: () => Promise<void> }> {
    const args = op === 'c' ? [op, root, target, ...check] : [op, root, ...check];
    const e = await this.runtime.exec(this.unitId, {
      cmd: guardExec(['/bin/sh', GUEST_SCRIPTS.files, ...args], { uid: this.owner.uid, gid: this.owner.gid }),
      env: {},
      user: '0:0',
      stdin: stdin !== undefined,
    });
    if (stdin && e.stdin) {
      const sink = e.stdin;
      // by hand rather than pipe(): a source that fails must END the command's stdin (pipe() would
      // destroy it, and the engine never sees an EOF): tar inside then sees a truncated archive and
      // exits, so wait() settles instead of waiting for bytes that never come
      stdin.on('data', (c: Buffer) => {
        if (!sink.write(c)) {
          stdin.pause();
          sink.once('drain', () => stdin.resume());
        }
      });
      stdin.once('end', () => sink.end());
      stdin.once('error', () => sink.end());
      if (stdin.destroyed) sink.end(); // failed while the exec was being made
    }
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
