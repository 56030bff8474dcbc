import { link, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extractToHost, packHostTree, writeHostFile } from './host-tree.js';

const dirs: string[] = [];
const temp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'warden-host-tree-'));
  dirs.push(d);
  return d;
};
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('host side of warden cp', () => {
  it('round-trips a tree, keeping hard links and skipping symbolic links', async () => {
    const src = await temp();
    await mkdir(join(src, 't', 'sub'), { recursive: true });
    await writeFile(join(src, 't', 'a'), 'same');
    await link(join(src, 't', 'a'), join(src, 't', 'sub', 'b'));
    await writeFile(join(src, 't', 'empty'), '');
    await symlink('/etc/passwd', join(src, 't', 'link'));
    const dst = await temp();
    await extractToHost(packHostTree(join(src, 't')), dst);
    const [a, b] = await Promise.all([stat(join(dst, 't', 'a')), stat(join(dst, 't', 'sub', 'b'))]);
    expect(b.ino).toBe(a.ino);
    expect(await readFile(join(dst, 't', 'sub', 'b'), 'utf8')).toBe('same');
    expect(await readFile(join(dst, 't', 'empty'), 'utf8')).toBe('');
    await expect(lstat(join(dst, 't', 'link'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never writes through a link at the destination, in any component', async () => {
    const victim = await temp();
    await writeFile(join(victim, 'secret'), 'keep');
    const dst = await temp();
    await symlink(join(victim, 'secret'), join(dst, 'file'));
    await expect(writeHostFile(join(dst, 'file'), Buffer.from('x'))).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await symlink(victim, join(dst, 'dir'));
    await expect(writeHostFile(join(dst, 'dir', 'secret'), Buffer.from('x'))).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    // a tree extracted where the sandbox planted a link in the way
    const src = await temp();
    await mkdir(join(src, 'dir'));
    await writeFile(join(src, 'dir', 'secret'), 'x');
    await expect(extractToHost(packHostTree(join(src, 'dir')), dst)).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    expect(await readFile(join(victim, 'secret'), 'utf8')).toBe('keep');
  });
});
