import { createHash } from 'node:crypto';
import { closeSync, linkSync } from 'node:fs';
import { resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { WardenError } from '../errors.js';
import { at, checkName, openDirNoFollow, openSub, packHostTree, removeFileAt, writeAt, type HostOwner } from '../util/host-tree.js';
import type { Sandbox } from './sandbox.js';

/**
 * A host directory copied into a sandbox and its changes copied back, for runtimes that cannot mount
 * host paths (Kubernetes, ACI): an agent's workspace and its CLI's state dir. What comes back is
 * written by the host-side rules of `warden cp` (util/host-tree.ts: no link is ever followed or made,
 * nothing escapes the directory), so a hostile workload can shape the content of files in that one
 * directory, exactly as it could through a bind mount, and nothing more.
 *
 * Only changes come back: a file the sandbox left as it was copied in (same size and content) is not
 * written again, so the host may change such files meanwhile; a file copied in and gone from the
 * sandbox is removed on the host; new files and directories are made, owned by `owner`. A file both
 * the host and the sandbox changed ends as the sandbox wrote it.
 */

/** What was copied in (and, after each copy back, what the host holds): the files by relative name. */
export interface SyncBaseline {
  files: Map<string, { size: number; sha256: string }>;
}

/** Files up to this size that kept their size are compared by content; larger ones are written back. */
const COMPARE_MAX = 32 * 1024 * 1024;

/** Copy the contents of host directory `hostDir` into `sandboxDir` (made if missing). */
export async function pushTree(sb: Sandbox, hostDir: string, sandboxDir: string): Promise<SyncBaseline> {
  const files = new Map<string, { size: number; sha256: string }>();
  const tar = packHostTree(hostDir, { contents: true, hash: true, onFile: (f) => files.set(f.name, { size: f.size, sha256: f.sha256 ?? '' }) });
  await sb.files.writeTar(sandboxDir, tar);
  return { files };
}

/** What a copy back did. */
export interface PullResult {
  baseline: SyncBaseline;
  written: number;
  removed: number;
  unchanged: number;
}

/** Copy the changes of `sandboxDir` back into the existing host directory `hostDir` (see the module's comment). */
export async function pullTree(sb: Sandbox, sandboxDir: string, hostDir: string, baseline: SyncBaseline, owner?: HostOwner): Promise<PullResult> {
  const tar = await sb.files.readTar(sandboxDir);
  return applyTree(tar, hostDir, baseline, owner);
}

/** The host half of pullTree: a tar of the sandbox directory (entries under its base name) applied to `hostDir`. */
export async function applyTree(tar: Readable, hostDir: string, baseline: SyncBaseline, owner?: HostOwner): Promise<PullResult> {
  const dest = resolve(hostDir);
  const rootFd = openDirNoFollow(dest);
  const files = new Map<string, { size: number; sha256: string }>();
  let written = 0;
  let unchanged = 0;
  const ex = tarExtract();
  ex.on('entry', (header, stream, next) => {
    void (async () => {
      const type = header.type ?? 'file';
      const parts = checkName(header.name).slice(1); // without the sandbox directory's own name
      const rel = parts.join('/');
      const shown = `${dest}/${rel}`;
      if (parts.length === 0 || (type !== 'file' && type !== 'directory' && type !== 'link')) {
        stream.resume();
        return;
      }
      if (type === 'directory') {
        closeSync(openSub(rootFd, parts, true, shown, owner));
        stream.resume();
        return;
      }
      const dirFd = openSub(rootFd, parts.slice(0, -1), true, shown, owner);
      const name = parts[parts.length - 1]!;
      try {
        if (type === 'link') {
          const target = checkName(header.linkname ?? '').slice(1);
          const t = files.get(target.join('/'));
          if (target.length === 0 || !t) throw new WardenError('PATH_REFUSED', `archive entry '${header.name}' links to '${header.linkname}', which is not an earlier file of the archive`);
          removeFileAt(dirFd, name);
          const tFd = openSub(rootFd, target.slice(0, -1), false, shown);
          try {
            linkSync(at(tFd, target[target.length - 1]!), at(dirFd, name));
          } finally {
            closeSync(tFd);
          }
          files.set(rel, t);
          stream.resume();
          return;
        }
        const size = header.size ?? 0;
        const before = baseline.files.get(rel);
        if (before && before.size === size && size <= COMPARE_MAX) {
          const chunks: Buffer[] = [];
          for await (const c of stream) chunks.push(c as Buffer);
          const data = Buffer.concat(chunks);
          const sha256 = createHash('sha256').update(data).digest('hex');
          files.set(rel, { size, sha256 });
          if (sha256 === before.sha256) {
            unchanged++;
            return;
          }
          await writeAt(dirFd, name, shown, header.mode ?? 0o644, data, header.mtime, owner);
        } else {
          const hash = createHash('sha256');
          const tap = new Transform({
            transform(chunk: Buffer, _enc, done) {
              hash.update(chunk);
              done(null, chunk);
            },
          });
          stream.on('error', (err) => tap.destroy(err));
          await writeAt(dirFd, name, shown, header.mode ?? 0o644, stream.pipe(tap), header.mtime, owner);
          files.set(rel, { size, sha256: hash.digest('hex') });
        }
        written++;
      } finally {
        closeSync(dirFd);
      }
    })().then(() => next(), (err: unknown) => ex.destroy(err as Error));
  });
  try {
    await pipeline(tar, ex);
    // what was copied in (or back last time) and is gone from the sandbox now
    let removed = 0;
    for (const rel of baseline.files.keys()) {
      if (files.has(rel)) continue;
      const parts = rel.split('/');
      let dirFd: number;
      try {
        dirFd = openSub(rootFd, parts.slice(0, -1), false, `${dest}/${rel}`);
      } catch {
        continue; // its directory is gone or is no directory now: nothing of ours to remove
      }
      try {
        if (removeFileAt(dirFd, parts[parts.length - 1]!)) removed++;
      } finally {
        closeSync(dirFd);
      }
    }
    return { baseline: { files }, written, removed, unchanged };
  } finally {
    closeSync(rootFd);
  }
}
