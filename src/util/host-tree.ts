import { createHash } from 'node:crypto';
import { closeSync, constants, fchownSync, fstatSync, futimesSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync, createReadStream } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { WardenError } from '../errors.js';

/**
 * Host-side halves of `warden cp`, safe against a sandbox that writes the host directories involved
 * (its host workspace): no path is ever resolved through a link. Directories are walked one component
 * at a time with O_NOFOLLOW|O_DIRECTORY, each step relative to the descriptor of the one before
 * (`/proc/self/fd/N/name`: Linux's openat), so a component swapped for a symlink mid-copy fails the
 * copy instead of redirecting it. Hard links stay hard links both ways. Also the host side of an agent's
 * workspace and state copied into a pod and back (sandbox/host-sync.ts).
 */

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } = constants;

export const at = (dirFd: number, name: string): string => `/proc/self/fd/${dirFd}/${name}`;

function refuse(path: string, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || code === 'ENOTDIR') throw new WardenError('PATH_REFUSED', `${path} refused: it is, or goes through, a symbolic link (or a non-directory); Warden never follows links on the host side of a copy`);
  if (code === 'ENOENT') throw new WardenError('FILE_NOT_FOUND', `${path} does not exist on the host`);
  throw new WardenError('INVALID_ARGUMENT', `${path}: ${(err as Error).message}`);
}

/** A descriptor of an absolute directory, opened component by component without following any link. */
export function openDirNoFollow(path: string): number {
  const abs = resolve(path);
  let fd = openSync('/', O_RDONLY | O_DIRECTORY);
  for (const part of abs.split(sep).filter(Boolean)) {
    let next: number;
    try {
      next = openSync(at(fd, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      closeSync(fd);
      refuse(abs, err);
    }
    closeSync(fd);
    fd = next;
  }
  return fd;
}

/** The components of an archive entry's name; refuses an absolute name or one with `..`. */
export function checkName(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (isAbsolute(name) || parts.includes('..') || parts.length === 0) throw new WardenError('PATH_REFUSED', `archive entry '${name}' escapes the destination`);
  return parts;
}

/** Open (creating when asked, owned by `owner` when given) the directory `parts` under `rootFd`, never through a link. */
export function openSub(rootFd: number, parts: string[], create: boolean, shown: string, owner?: HostOwner): number {
  let fd = openSync(at(rootFd, '.'), O_RDONLY | O_DIRECTORY);
  for (const part of parts) {
    if (create) {
      try {
        mkdirSync(at(fd, part), 0o755);
        if (owner) {
          const made = openSync(at(fd, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
          try {
            fchownSync(made, owner.uid, owner.gid);
          } finally {
            closeSync(made);
          }
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          closeSync(fd);
          refuse(shown, err);
        }
      }
    }
    let next: number;
    try {
      next = openSync(at(fd, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      closeSync(fd);
      refuse(shown, err);
    }
    closeSync(fd);
    fd = next;
  }
  return fd;
}

/** Who host files written for a sandbox belong to (when Warden runs as root). */
export interface HostOwner {
  uid: number;
  gid: number;
}

/** Write one file at `dirFd/name`, replacing a regular file, refusing a link; owned by `owner` when given. */
export async function writeAt(dirFd: number, name: string, shown: string, mode: number, data: Readable | Buffer, mtime?: Date, owner?: HostOwner): Promise<void> {
  let fd: number;
  try {
    fd = openSync(at(dirFd, name), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode & 0o777);
  } catch (err) {
    refuse(shown, err);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new WardenError('PATH_REFUSED', `${shown} refused: it is not a regular file`);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    if (Buffer.isBuffer(data)) {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
    } else {
      for await (const chunk of data) {
        const b = chunk as Buffer;
        for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
      }
    }
    if (mtime) futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
}

/** Remove the regular file `dirFd/name` (a link or directory there is left alone); false when there was none. */
export function removeFileAt(dirFd: number, name: string): boolean {
  const st = (() => {
    try {
      return lstatSync(at(dirFd, name));
    } catch {
      return undefined;
    }
  })();
  if (!st?.isFile()) return false;
  unlinkSync(at(dirFd, name));
  return true;
}

/** Write one host file at `path` (its directory must exist), never through a link. */
export async function writeHostFile(path: string, data: Readable | Buffer, mode = 0o644): Promise<void> {
  const abs = resolve(path);
  const dirFd = openDirNoFollow(abs.slice(0, abs.lastIndexOf('/')) || '/');
  try {
    await writeAt(dirFd, abs.slice(abs.lastIndexOf('/') + 1), abs, mode, data);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Extract a tar stream into an existing host directory: files, directories and hard links (to entries
 * of the same archive); symbolic links, devices and anything that would escape are skipped or refused.
 */
export async function extractToHost(tar: Readable, dest: string): Promise<void> {
  const rootFd = openDirNoFollow(dest);
  const ex = tarExtract();
  ex.on('entry', (header, stream, next) => {
    void (async () => {
      const shown = `${resolve(dest)}/${header.name}`;
      const type = header.type ?? 'file';
      if (type !== 'file' && type !== 'directory' && type !== 'link') {
        stream.resume();
        return;
      }
      const parts = checkName(header.name);
      if (type === 'directory') {
        closeSync(openSub(rootFd, parts, true, shown));
        stream.resume();
        return;
      }
      const dirFd = openSub(rootFd, parts.slice(0, -1), true, shown);
      try {
        if (type === 'link') {
          const target = checkName(header.linkname ?? '');
          const tFd = openSub(rootFd, target.slice(0, -1), false, shown);
          try {
            linkSync(at(tFd, target[target.length - 1]!), at(dirFd, parts[parts.length - 1]!));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') refuse(shown, err);
          } finally {
            closeSync(tFd);
          }
          stream.resume();
          return;
        }
        await writeAt(dirFd, parts[parts.length - 1]!, shown, header.mode ?? 0o644, stream as unknown as Readable, header.mtime);
      } finally {
        closeSync(dirFd);
      }
    })().then(() => next(), (err: unknown) => ex.destroy(err as Error));
  });
  try {
    await pipeline(tar, ex);
  } finally {
    closeSync(rootFd);
  }
}

/** A regular file as packHostTree archived it (`onFile`). */
export interface PackedFile {
  /** Its entry name. */
  name: string;
  size: number;
  /** SHA-256 of its content (hex), when asked for (`hash`). */
  sha256?: string;
}

export interface PackOptions {
  /** Name entries relative to the directory itself (its contents, no entry for it): default false (from its base name). */
  contents?: boolean;
  /** Told about every regular file archived (hard links to an earlier one included, with its hash). */
  onFile?: (f: PackedFile) => void;
  /** Hash every regular file's content for `onFile`. */
  hash?: boolean;
}

/**
 * A tar of a host file or directory (entries named from its base name, or relative to it with
 * `contents`), read without following any link: links are skipped, file contents are read through
 * O_NOFOLLOW descriptors, and a file with several names inside the tree is stored once, then as hard
 * links.
 */
export function packHostTree(path: string, opts: PackOptions = {}): Readable {
  const abs = resolve(path);
  const base = abs.slice(abs.lastIndexOf('/') + 1);
  const pack = tarPack();
  const seen = new Map<string, { name: string; sha256?: string }>();
  const child = (entry: string, name: string): string => (entry ? `${entry}/${name}` : name);
  const walk = async (dirFd: number, name: string, entry: string): Promise<void> => {
    let fd: number;
    try {
      fd = openSync(at(dirFd, name), O_RDONLY | O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
        return; // a symbolic link: skipped (the sandbox side skips them too)
      }
      refuse(`${abs}/${entry}`, err);
    }
    const st = fstatSync(fd);
    try {
      if (st.isDirectory()) {
        if (entry) await new Promise<void>((res, rej) => pack.entry({ name: entry, type: 'directory', mode: st.mode & 0o7777, mtime: st.mtime }, (e) => (e ? rej(e) : res())));
        for (const c of readdirSync(at(fd, '.')).sort()) await walk(fd, c, child(entry, c));
        return;
      }
      if (!st.isFile() || !entry) return;
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seen.get(key) : undefined;
      if (first) {
        await new Promise<void>((res, rej) => pack.entry({ name: entry, type: 'link', linkname: first.name, mode: st.mode & 0o7777, mtime: st.mtime }, (e) => (e ? rej(e) : res())));
        opts.onFile?.({ name: entry, size: st.size, ...(first.sha256 ? { sha256: first.sha256 } : {}) });
        return;
      }
      const hash = opts.hash ? createHash('sha256') : undefined;
      if (st.size === 0) {
        await new Promise<void>((res, rej) => pack.entry({ name: entry, type: 'file', mode: st.mode & 0o7777, mtime: st.mtime }, Buffer.alloc(0), (e) => (e ? rej(e) : res())));
      } else {
        const sink = pack.entry({ name: entry, type: 'file', size: st.size, mode: st.mode & 0o7777, mtime: st.mtime });
        const src = createReadStream('', { fd, autoClose: false, start: 0, end: Math.max(0, st.size - 1) });
        if (hash) {
          const tap = new PassThrough();
          tap.on('data', (c: Buffer) => hash.update(c));
          await pipeline(src, tap, sink);
        } else {
          await pipeline(src, sink);
        }
      }
      const sha256 = hash?.digest('hex');
      if (st.nlink > 1) seen.set(key, { name: entry, ...(sha256 ? { sha256 } : {}) });
      opts.onFile?.({ name: entry, size: st.size, ...(sha256 ? { sha256 } : {}) });
    } finally {
      closeSync(fd);
    }
  };
  void (async () => {
    const parent = openDirNoFollow(abs.slice(0, abs.lastIndexOf('/')) || '/');
    try {
      await walk(parent, base, opts.contents ? '' : base);
    } finally {
      closeSync(parent);
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}
