import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase } from './db.js';
import { MIGRATIONS } from './migrations.js';
import { tail } from './execs.js';
import { WardenStore } from './store.js';

const rec = (id: string, state = 'running') => ({
  id,
  containerId: `c-${id}`,
  name: `n-${id}`,
  owner: 'me',
  image: 'warden-sandbox:latest',
  lifetime: 'persistent',
  policyHash: 'h',
  spec: { image: 'warden-sandbox:latest' },
  labels: { a: 'b' },
  state,
  createdAt: new Date().toISOString(),
});

describe('WardenStore (real SQLite file)', () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('migrates a new file once, keeps data across reopen, and refuses a newer schema', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-store-'));
    const s1 = WardenStore.open(dir);
    s1.sandboxes.upsert(rec('a'));
    s1.close();
    const s2 = WardenStore.open(dir);
    expect(s2.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)!.version);
    expect(migrate(s2.db)).toBe(0);
    expect(s2.sandboxes.get('a')?.labels).toEqual({ a: 'b' });
    s2.db.pragma('user_version = 999');
    s2.close();
    expect(() => openDatabase(join(dir, 'warden.db'))).toThrow(/newer than this Warden knows/);
  });

  it('marks records whose containers are gone as vanished, and revives them when seen again', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-store-'));
    const s = WardenStore.open(dir);
    s.sandboxes.upsert(rec('a'));
    s.sandboxes.upsert(rec('b'));
    expect(s.sandboxes.markVanished(new Set(['a']))).toEqual(['b']);
    expect(s.sandboxes.list().map((r) => r.id)).toEqual(['a']);
    expect(s.sandboxes.list({ includeVanished: true })).toHaveLength(2);
    expect(s.sandboxes.get('b')?.vanishedAt).toBeDefined();
    s.sandboxes.upsert(rec('b'));
    expect(s.sandboxes.get('b')?.state).toBe('running');
    expect(s.sandboxes.countByState()).toEqual({ running: 2 });
    s.close();
  });

  it('stores each egress record once and counts allowed/denied; bounds health history', () => {
    dir = '';
    const s = WardenStore.memory();
    const r = { time: '2026-01-01T00:00:00.000Z', method: 'CONNECT', host: 'x.test', port: 443, path: '', status: 200, bytesOut: 1, bytesIn: 2, allowed: true, rule: '*.test' };
    expect(s.audit.egress('a', [r, { ...r, time: '2026-01-01T00:00:01.000Z', allowed: false, status: 403 }])).toBe(2);
    expect(s.audit.egress('a', [r])).toBe(0);
    expect(s.audit.egressCounts()).toEqual({ allowed: 1, denied: 1 });
    expect(s.audit.egressLog('a')[0]).toEqual(r);
    for (let i = 0; i < 10; i++) s.audit.health({ sandboxId: 'a', ts: `2026-01-01T00:00:0${i}Z`, status: 'healthy', cpuPercent: i }, 5);
    const h = s.audit.healthHistory('a');
    expect(h.map((x) => x.cpuPercent)).toEqual([5, 6, 7, 8, 9]);
  });

  it('keeps exec history with output tails cut on character boundaries', () => {
    dir = '';
    const s = WardenStore.memory();
    s.execs.start({ id: 'e1', sandboxId: 'a', command: ['echo', 'hi'], mode: 'buffered' });
    expect(s.execs.abandonOpen()).toBe(1);
    s.execs.start({ id: 'e2', sandboxId: 'a', command: ['x'], mode: 'stream' });
    s.execs.finish('e2', { exitCode: 3, durationMs: 12, stdout: 'é'.repeat(5000), stderr: 'err' });
    const e = s.execs.get('e2')!;
    expect(e.exitCode).toBe(3);
    expect(Buffer.byteLength(e.stdoutTail!)).toBeLessThanOrEqual(4096);
    expect(e.stdoutTail!.startsWith('é')).toBe(true);
    expect(tail('short')).toBe('short');
  });
});
