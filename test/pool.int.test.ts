import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { LABEL } from '../src/policy/labels.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import type { WarmPool } from '../src/sandbox/pool.js';
import { getTemplate } from '../src/templates/catalog.js';
import { httpGet } from './support/apps.js';
import { runId, testWarden } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

// Warm pool for app sandboxes: members are made ahead, a keyed create/ensure claims one by renaming it.
const docker = new Docker();
const owner = `test-${runId()}-pool`;
const warden = testWarden(owner);
const PORT = getTemplate('react-vite').port;
const made: Sandbox[] = [];
let pool: WarmPool | undefined;
afterAll(async () => {
  await pool?.stop();
  await Promise.all(made.map((sb) => warden.remove(sb.containerId, { force: true }).catch(() => undefined)));
}, 120_000);

const key = (k: string): string => `pool-${runId()}-${k}`;
const containerName = async (id: string): Promise<string> => (await docker.getContainer(id).inspect()).Name.replace(/^\//, '');

describe('warm pool (template react-vite)', () => {
  it('hands a warm member to ensure() by key: same container, dev server already answering, found again by key', async () => {
    pool = warden.pool({ template: 'react-vite', size: 1, interval: '1h' });
    await pool.fill();
    const [member] = await pool.members();
    expect(member?.running).toBe(true);
    expect(await containerName(member!.containerId)).toMatch(/^warden-pool-react-vite-sbx-/);

    const sb = await warden.ensure({ template: 'react-vite', key: key('a') });
    made.push(sb);
    expect(sb.containerId).toBe(member!.containerId); // the warm one, not a new one
    expect(sb.info.key).toBe(key('a'));
    expect(await containerName(sb.containerId)).toBe(`warden-k-${key('a')}`);
    expect((await httpGet(sb.url(PORT))).status).toBe(200);
    // it is an ordinary sandbox now: listed by key, found by a new process, files its own
    expect((await warden.list({ key: key('a') })).map((i) => i.containerId)).toEqual([sb.containerId]);
    const again = await testWarden(owner).ensure({ template: 'react-vite', key: key('a') });
    expect(again.containerId).toBe(sb.containerId);
    await sb.writeFiles([{ path: 'src/mine.txt', content: 'a\n' }]);
    expect(await sb.readText('src/mine.txt')).toBe('a\n');
    // no longer a pool member; the pool makes a new one
    await pool.fill();
    const members = await pool.members();
    expect(members).toHaveLength(1);
    expect(members[0]!.containerId).not.toBe(sb.containerId);
  }, 180_000);

  it('never gives one member to two keys, nor two sandboxes to one key, under concurrent callers', async () => {
    const [b, c, b2] = await Promise.all([
      warden.ensure({ template: 'react-vite', key: key('b') }),
      warden.ensure({ template: 'react-vite', key: key('c') }),
      warden.ensure({ template: 'react-vite', key: key('b') }),
    ]);
    made.push(b!, c!);
    expect(b!.containerId).toBe(b2!.containerId);
    expect(b!.containerId).not.toBe(c!.containerId);
    for (const [k, sb] of [['b', b!], ['c', c!]] as const) {
      expect(sb.info.key).toBe(key(k));
      expect(await warden.list({ key: key(k) })).toHaveLength(1);
      expect((await httpGet(sb.url(PORT))).status).toBe(200);
    }
  }, 180_000);

  it('serves only requests that match its spec; refresh turns a claimed member into a plain keyed sandbox', async () => {
    await pool!.fill();
    const [member] = await pool!.members();
    const other = await warden.create({ template: 'react-vite', key: key('d'), resources: { memory: '768m' } });
    made.push(other);
    expect(other.containerId).not.toBe(member!.containerId);
    expect((await pool!.members()).map((m) => m.containerId)).toContain(member!.containerId);

    const e = await warden.create({ template: 'react-vite', key: key('e') });
    made.push(e);
    expect(e.containerId).toBe(member!.containerId);
    expect(e.info.labels[LABEL.key]).toBeUndefined(); // the key is in the name until a refresh
    const fresh = await warden.refresh(e.id);
    made.push(fresh);
    expect(fresh.id).toBe(e.id);
    expect(fresh.info.labels[LABEL.key]).toBe(key('e'));
    expect(fresh.info.labels[LABEL.pool]).toBeUndefined();
    expect(await containerName(fresh.containerId)).toBe(`warden-k-${key('e')}`);
    expect((await httpGet(fresh.url(PORT))).status).toBe(200);
  }, 180_000);

  it('stop() removes the unclaimed members and leaves claimed ones alone', async () => {
    await pool!.fill();
    expect(await pool!.members()).toHaveLength(1);
    await pool!.stop();
    expect(await pool!.members()).toHaveLength(0);
    const left = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId()}`, `${LABEL.pool}=react-vite`, `${LABEL.owner}=${owner}`] } });
    // what carries the pool label now: claimed sandboxes (a, b or c) and their proxies and forwarders
    expect(left.every((c) => !/^\/warden-pool-/.test(c.Names[0] ?? ''))).toBe(true);
  }, 120_000);
});
