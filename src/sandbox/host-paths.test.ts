import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHostPath } from './host-paths.js';

const base = await mkdtemp(join(tmpdir(), 'warden-hostpaths-'));
const home = join(base, 'home');
await mkdir(join(home, 'agents', 'state'), { recursive: true });
await writeFile(join(home, 'token'), 'secret');
await mkdir(join(base, 'project'));
afterAll(() => rm(base, { recursive: true, force: true }));

const refused = { trees: ['/var/lib/docker'], home };
const check = (p: string) => checkHostPath('mounts.0.source', p, 'any', refused);

describe('host paths a spec may mount', () => {
  it('refuses a directory that contains a refused path (engine data root, /etc, Warden home, the socket)', async () => {
    for (const p of ['/', '/var', '/var/lib', '/usr/..', base]) await expect(check(p), p).rejects.toMatchObject({ code: 'INVALID_SPEC' });
    await expect(check(home)).rejects.toThrow(/refused/);
  });

  it('refuses what lies inside the kernel, device and engine trees, and Warden\'s token', async () => {
    for (const p of ['/proc/self', '/sys/kernel', '/dev/null', join(home, 'token')]) await expect(check(p), p).rejects.toMatchObject({ code: 'INVALID_SPEC' });
  });

  it('allows a project directory and Warden\'s own agent state', async () => {
    await expect(check(join(base, 'project'))).resolves.toMatchObject({ path: join(base, 'project') });
    await expect(check(join(home, 'agents', 'state'))).resolves.toMatchObject({ path: join(home, 'agents', 'state') });
  });
});
