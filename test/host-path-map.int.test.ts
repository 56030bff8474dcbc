import { chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { parseHostPathMap } from '../src/sandbox/host-path-map.js';
import { Warden } from '../src/sandbox/warden.js';
import { runId } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

// Warden in a container sees /workspace/p while the engine's host has ./workspaces/p. Here both sides
// are directories of this machine: `local` is what Warden stats, `host` is what the engine must mount.
describe('host path map (Warden in a container), real engine', () => {
  let dir: string;
  let warden: Warden;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-map-'));
    for (const d of ['local/p1', 'host/p1', 'outside']) await mkdir(join(dir, d), { recursive: true });
    if (process.getuid?.() === 0) for (const d of ['local/p1', 'host/p1']) await chown(join(dir, d), 1000, 1000);
    warden = new Warden({
      owner: `test-${runId()}-map`,
      labels: { [TEST_RUN_LABEL]: runId() },
      logger: createLogger('error'),
      hostPathMap: parseHostPathMap(`${join(dir, 'local')}=${join(dir, 'host')}`),
    });
  });
  afterAll(async () => {
    await warden?.panic({ labels: { [TEST_RUN_LABEL]: runId(), 'warden.owner': `test-${runId()}-map` } });
    await rm(dir, { recursive: true, force: true });
  });

  it('checks the local path, mounts the host path, and survives a refresh', async () => {
    const sb = await warden.create({ workspace: join(dir, 'local', 'p1'), lifetime: 'persistent' });
    expect(JSON.parse(sb.info.labels['warden.spec']!).workspace).toBe(join(dir, 'host', 'p1'));
    const r = await sb.exec(['sh', '-c', 'echo from-sandbox > /workspace/out.txt && id -u']);
    expect(r.stdout.trim()).toBe('1000'); // the local directory's owner
    expect(await readFile(join(dir, 'host', 'p1', 'out.txt'), 'utf8')).toBe('from-sandbox\n');
    await expect(stat(join(dir, 'local', 'p1', 'out.txt'))).rejects.toThrow(/ENOENT/);
    const again = await warden.refresh(sb.id); // labels hold the host path: mapped back, checked, mapped again
    expect((await again.exec(['cat', '/workspace/out.txt'])).stdout).toBe('from-sandbox\n');
    await again.remove({ force: true });
  });

  it('refuses a path under no mapping and creates nothing', async () => {
    await expect(warden.create({ workspace: join(dir, 'outside') })).rejects.toThrow(/not under a directory shared with the engine's host/);
    expect(await warden.list({ owner: `test-${runId()}-map` })).toEqual([]);
  });
});
