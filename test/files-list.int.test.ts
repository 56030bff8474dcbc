import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { sandboxPool, testWarden } from './support/fixture.js';

const warden = testWarden();
const pool = sandboxPool(warden);
let sb: Sandbox;

beforeAll(async () => {
  sb = await pool.create({});
});
afterAll(() => pool.cleanup());

describe('files.list (the dashboard file browser)', () => {
  it('lists a directory: directories first, types, sizes, modes; a symlink is shown, not followed', async () => {
    await sb.writeFiles([{ path: 'b.txt', content: 'hello' }, { path: 'a/inner.txt', content: 'x' }]);
    await sb.exec(['ln', '-s', '/etc', '/workspace/etc-link']);
    const entries = await sb.files.list('/workspace');
    expect(entries.map((e) => [e.name, e.type])).toEqual([['a', 'dir'], ['b.txt', 'file'], ['etc-link', 'link']]);
    expect(entries.find((e) => e.name === 'b.txt')).toMatchObject({ size: 5, mode: expect.stringMatching(/^[0-7]{3,4}$/) });
    expect((await sb.files.list('a')).map((e) => e.name)).toEqual(['inner.txt']);
  });

  it('refuses a symlink on the way, paths outside the roots, .., and a file', async () => {
    await expect(sb.files.list('/workspace/etc-link')).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(sb.files.list('/etc')).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(sb.files.list('/workspace/../etc')).rejects.toMatchObject({ code: 'PATH_REFUSED' });
    await expect(sb.files.list('/workspace/b.txt')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await expect(sb.files.list('/workspace/nope')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });
});
