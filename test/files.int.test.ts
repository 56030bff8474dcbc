import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { fromBase64 } from '../src/sandbox/files.js';
import { sandboxPool, tempWorkspace, testWarden } from './support/fixture.js';

const warden = testWarden();
const pool = sandboxPool(warden);
let sb: Sandbox;
let ws: Awaited<ReturnType<typeof tempWorkspace>>;
let cfg: Awaited<ReturnType<typeof tempWorkspace>>;

beforeAll(async () => {
  ws = await tempWorkspace();
  cfg = await tempWorkspace();
  await writeFile(join(cfg.dir, 'settings.json'), '{"model":"x"}');
  sb = await pool.create({ workspace: ws.dir, configDir: cfg.dir });
});
afterAll(async () => {
  await pool.cleanup();
  await ws.cleanup();
  await cfg.cleanup();
});

describe('files in and out', () => {
  it('writes text, bytes, base64 and streams, creating parents, owned by the sandbox user', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    await sb.writeFiles([
      { path: 'src/app/main.ts', content: 'export const x = 1;\n' },
      { path: '/workspace/bin.dat', content: bytes, mode: 0o600 },
      fromBase64('src/b64.txt', Buffer.from('decoded ✓').toString('base64')),
      { path: '/tmp/streamed.txt', stream: Readable.from([Buffer.from('par'), Buffer.from('ts')]), size: 5 },
      { path: '/home/agent/.config/tool.rc', content: 'k=v' },
    ]);
    expect(await readFile(join(ws.dir, 'src/app/main.ts'), 'utf8')).toBe('export const x = 1;\n');
    expect(await readFile(join(ws.dir, 'bin.dat'))).toEqual(bytes);
    expect(await readFile(join(ws.dir, 'src/b64.txt'), 'utf8')).toBe('decoded ✓');
    for (const p of ['src', 'src/app', 'src/app/main.ts', 'bin.dat']) expect((await stat(join(ws.dir, p))).uid).toBe(1000);
    expect((await stat(join(ws.dir, 'bin.dat'))).mode & 0o777).toBe(0o600);
    expect((await sb.readFile('/tmp/streamed.txt')).toString()).toBe('parts');
    const r = await sb.exec(['sh', '-c', 'stat -c "%u %a" /home/agent/.config/tool.rc; cat /home/agent/.config/tool.rc']);
    expect(r.stdout).toBe('1000 644\nk=v');
  });

  it('replaces an existing file through the base64 helper (seed 3)', async () => {
    await sb.writeFiles([{ path: 'App.tsx', content: 'old' }]);
    await sb.writeFiles([{ path: 'App.tsx', base64: Buffer.from('new content').toString('base64') }]);
    expect((await sb.readFile('App.tsx')).toString()).toBe('new content');
    expect(() => fromBase64('x', 'not base64!')).toThrow(/not valid base64/);
  });

  it('two writes of one file within a second get different mtimes (watchers comparing mtimes see both)', async () => {
    const mtimes: string[] = [];
    for (const root of ['/workspace', '/tmp']) {
      for (const v of ['one', 'two']) {
        await sb.writeFiles([{ path: `${root}/mtime.txt`, content: v }]);
        mtimes.push((await sb.exec(['stat', '-c', '%.9Y', `${root}/mtime.txt`])).stdout.trim());
      }
    }
    expect(mtimes[0]).not.toBe(mtimes[1]); // archive API (bind mount)
    expect(mtimes[2]).not.toBe(mtimes[3]); // tar inside the sandbox (tmpfs)
    expect(Math.abs(Number(mtimes[1]) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('reads files made inside, several at once, and from the read-only config mount', async () => {
    await sb.exec(['sh', '-c', 'echo one > /workspace/1.txt; echo two > /tmp/2.txt']);
    const many = await sb.readFiles(['1.txt', '/tmp/2.txt', '/app/config/settings.json']);
    expect([...many.values()].map(String)).toEqual(['one\n', 'two\n', '{"model":"x"}']);
  });

  it('moves 64 MiB each way intact', async () => {
    const big = Buffer.alloc(64 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    await sb.writeFiles([{ path: 'big.bin', content: big }]);
    const back = await sb.readFile('big.bin');
    expect(back.length).toBe(big.length);
    expect(back.equals(big)).toBe(true);
  });

  it('reads a directory as tar and writes a tar into a directory', async () => {
    await sb.exec(['sh', '-c', 'mkdir -p /workspace/tree/sub && echo a > /workspace/tree/a && echo b > /workspace/tree/sub/b']);
    const names: string[] = [];
    const ex = extract();
    ex.on('entry', (h, s, next) => {
      names.push(h.name);
      s.resume();
      s.on('end', next);
    });
    (await sb.files.readTar('tree')).pipe(ex);
    await new Promise<void>((r) => ex.on('finish', () => r()));
    expect(names.sort()).toEqual(['tree/', 'tree/a', 'tree/sub/', 'tree/sub/b']);

    const src = await tempWorkspace();
    await mkdir(join(src.dir, 'pkg'));
    await writeFile(join(src.dir, 'pkg/index.js'), 'module.exports = 1');
    const { pack } = await import('tar-fs');
    await sb.files.writeTar('/workspace', pack(src.dir) as unknown as Readable);
    expect(await readFile(join(ws.dir, 'pkg/index.js'), 'utf8')).toBe('module.exports = 1');
    expect((await stat(join(ws.dir, 'pkg/index.js'))).uid).toBe(1000);
    await src.cleanup();
  });
});

describe('path confinement', () => {
  it('refuses .. escapes and paths outside the roots, writing nothing', async () => {
    for (const path of ['../escape.txt', '/workspace/../etc/x', '/etc/cron.d/evil', '/usr/bin/evil', '/proc/1/environ']) {
      await expect(sb.writeFiles([{ path, content: 'x' }])).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    }
    await expect(sb.readFile('/etc/shadow')).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(sb.readFile('/proc/1/environ')).rejects.toThrow(/outside the allowed roots/);
    await expect(sb.writeFiles([{ path: '/app/config/settings.json', content: 'x' }])).rejects.toThrow(/outside the allowed roots/);
  });

  it('refuses symlinks planted inside the sandbox, in any component', async () => {
    await sb.exec(['sh', '-c', 'ln -s /etc /workspace/etc-link; ln -s /etc/passwd /workspace/passwd-link; mkdir -p /workspace/d; ln -s /home/agent /workspace/d/home-link']);
    await expect(sb.readFile('passwd-link')).rejects.toThrow(/passwd-link is a symbolic link \(to \/etc\/passwd\)/);
    await expect(sb.readFile('etc-link/hostname')).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(sb.writeFiles([{ path: 'd/home-link/.bashrc', content: 'evil' }])).rejects.toThrow(/home-link is a symbolic link/);
    await expect(sb.writeFiles([{ path: 'passwd-link', content: 'evil' }])).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    expect((await sb.exec(['sh', '-c', 'test -e /home/agent/.bashrc && echo present || echo absent'])).stdout).toBe('absent\n');
    // tmpfs roots (moved by tar inside the sandbox) refuse links the same way
    await sb.exec(['sh', '-c', 'ln -s /workspace /tmp/ws-link; ln -s /home/agent/.profile /tmp/profile-link']);
    await expect(sb.writeFiles([{ path: '/tmp/ws-link/planted', content: 'x' }])).rejects.toThrow(/\/tmp\/ws-link is a symbolic link \(to \/workspace\)/);
    await expect(sb.readFile('/tmp/profile-link')).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(sb.readFile('/tmp/none/x')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('moves files in a sandbox without a workspace (its /workspace is a private tmpfs)', async () => {
    const bare = await pool.create({});
    await bare.writeFiles([{ path: 'deep/er/file.txt', content: 'in tmpfs' }]);
    expect((await bare.readFile('/workspace/deep/er/file.txt')).toString()).toBe('in tmpfs');
    expect((await bare.exec(['stat', '-c', '%u', '/workspace/deep/er/file.txt'])).stdout).toBe('1000\n');
  });

  it('says when a file is missing or a directory', async () => {
    await expect(sb.readFile('nope/missing.txt')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await sb.exec(['mkdir', '-p', '/workspace/adir']);
    await expect(sb.readFile('adir')).rejects.toThrow(/is a directory, not a regular file/);
    await expect(sb.writeFiles([{ path: 'adir', content: 'x' }])).rejects.toThrow(/it is a directory/);
  });
});
