import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { packHostTree } from '../util/host-tree.js';
import { applyTree, type SyncBaseline } from './host-sync.js';

const dirs: string[] = [];
const temp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'warden-host-sync-'));
  dirs.push(d);
  return d;
};
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; content?: string; linkname?: string };
/** A tar as the sandbox's `files.sh c` writes it: entries under the directory's base name. */
function tarOf(entries: Entry[]): Readable {
  const p = tarPack();
  for (const e of entries) {
    if (e.type === 'directory') p.entry({ name: e.name, type: 'directory', mode: 0o755 });
    else if (e.type === 'symlink' || e.type === 'link') p.entry({ name: e.name, type: e.type, linkname: e.linkname! });
    else p.entry({ name: e.name, type: 'file', mode: 0o644 }, e.content ?? '');
  }
  p.finalize();
  return p as unknown as Readable;
}

/** The baseline of a host directory as pushTree records it. */
async function baselineOf(dir: string): Promise<SyncBaseline> {
  const files: SyncBaseline['files'] = new Map();
  const tar = packHostTree(dir, { contents: true, hash: true, onFile: (f) => files.set(f.name, { size: f.size, sha256: f.sha256! }) });
  for await (const _ of tar) void _;
  return { files };
}

describe('copying a sandbox directory back to the host (host-sync)', () => {
  it('writes what changed or is new, keeps what did not, removes what the sandbox removed', async () => {
    const host = await temp();
    await mkdir(join(host, 'src'));
    await writeFile(join(host, 'same.txt'), 'same\n');
    await writeFile(join(host, 'src', 'edit.txt'), 'old!\n'); // same size as its new content
    await writeFile(join(host, 'gone.txt'), 'bye\n');
    const base = await baselineOf(host);
    expect([...base.files.keys()].sort()).toEqual(['gone.txt', 'same.txt', 'src/edit.txt']);
    // meanwhile the host changes an untouched file: the copy back leaves it so
    await writeFile(join(host, 'same.txt'), 'host edit\n');
    await utimes(join(host, 'src'), new Date(0), new Date(0));
    const r = await applyTree(
      tarOf([
        { name: 'workspace', type: 'directory' },
        { name: 'workspace/same.txt', content: 'same\n' },
        { name: 'workspace/src', type: 'directory' },
        { name: 'workspace/src/edit.txt', content: 'new!\n' },
        { name: 'workspace/new/deep/file.txt', content: 'made\n' },
      ]),
      host,
      base,
    );
    expect(r).toMatchObject({ written: 2, removed: 1, unchanged: 1 });
    expect(await readFile(join(host, 'same.txt'), 'utf8')).toBe('host edit\n');
    expect(await readFile(join(host, 'src', 'edit.txt'), 'utf8')).toBe('new!\n');
    expect(await readFile(join(host, 'new', 'deep', 'file.txt'), 'utf8')).toBe('made\n');
    await expect(stat(join(host, 'gone.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    // the next copy back compares against what the host got
    expect(r.baseline.files.get('src/edit.txt')?.size).toBe(5);
    expect(r.baseline.files.has('gone.txt')).toBe(false);
  });

  it('makes new files and directories the owner’s', async () => {
    if (process.getuid?.() !== 0) return; // chown needs root
    const host = await temp();
    await applyTree(tarOf([{ name: 'x/d/f.txt', content: 'f' }]), host, { files: new Map() }, { uid: 1234, gid: 2345 });
    const [d, f] = await Promise.all([stat(join(host, 'd')), stat(join(host, 'd', 'f.txt'))]);
    expect([d.uid, d.gid, f.uid, f.gid]).toEqual([1234, 2345, 1234, 2345]);
  });

  it('never makes a symbolic link, never writes through one, never leaves the directory', async () => {
    const host = await temp();
    const victim = await temp();
    await writeFile(join(victim, 'secret'), 'keep');
    await applyTree(tarOf([{ name: 'w/evil', type: 'symlink', linkname: '/etc/passwd' }]), host, { files: new Map() });
    await expect(lstat(join(host, 'evil'))).rejects.toMatchObject({ code: 'ENOENT' });
    // a link on the host in the way (the user's own, say) is not followed
    await symlink(victim, join(host, 'docs'));
    await expect(applyTree(tarOf([{ name: 'w/docs/secret', content: 'pwned' }]), host, { files: new Map() })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await symlink(join(victim, 'secret'), join(host, 'file'));
    await expect(applyTree(tarOf([{ name: 'w/file', content: 'pwned' }]), host, { files: new Map() })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    expect(await readFile(join(victim, 'secret'), 'utf8')).toBe('keep');
    await expect(applyTree(tarOf([{ name: 'w/../../escape', content: 'x' }]), host, { files: new Map() })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    // a hard link only to an earlier file of the same archive
    await expect(applyTree(tarOf([{ name: 'w/h', type: 'link', linkname: 'w/../../etc/passwd' }]), host, { files: new Map() })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(applyTree(tarOf([{ name: 'w/h', type: 'link', linkname: 'w/not-in-archive' }]), host, { files: new Map() })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await applyTree(tarOf([{ name: 'w/a', content: 'A' }, { name: 'w/b', type: 'link', linkname: 'w/a' }]), host, { files: new Map() });
    expect((await stat(join(host, 'b'))).ino).toBe((await stat(join(host, 'a'))).ino);
  });

  it('removes only regular files it copied in: a link or directory put there meanwhile stays', async () => {
    const host = await temp();
    await writeFile(join(host, 'a'), 'a');
    await writeFile(join(host, 'b'), 'b');
    const base = await baselineOf(host);
    await rm(join(host, 'a'));
    await mkdir(join(host, 'a'));
    await rm(join(host, 'b'));
    await symlink('/etc/hostname', join(host, 'b'));
    const r = await applyTree(tarOf([{ name: 'w', type: 'directory' }]), host, base);
    expect(r.removed).toBe(0);
    expect((await lstat(join(host, 'a'))).isDirectory()).toBe(true);
    expect((await lstat(join(host, 'b'))).isSymbolicLink()).toBe(true);
  });
});
