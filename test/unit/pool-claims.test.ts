import { afterEach, describe, expect, it } from 'vitest';
import { compilePlan } from '../../src/policy/compile.js';
import { parseSpec } from '../../src/policy/spec.js';
import { MemoryRuntime } from '../../src/runtime/memory/memory-runtime.js';
import type { SandboxPlan } from '../../src/runtime/sandbox-runtime.js';
import { poolUnitName } from '../../src/runtime/unit-names.js';
import { poolSignature } from '../../src/sandbox/pool.js';

/**
 * Pool claims and the per-key lock as the contract states them, on the memory runtime with injected
 * latency (so concurrent callers interleave): one member per key, one key per member, only ready
 * members handed out. The Docker backend's claim by rename is checked by the engine tests.
 */
let rt: MemoryRuntime;
afterEach(async () => rt?.close());

let n = 0;
function plan(o: { key?: string; pool?: { id: string; signature: string } } = {}): SandboxPlan {
  const id = `sbx-${(++n).toString(16).padStart(12, '0')}`;
  const spec = parseSpec({ ...(o.key ? { key: o.key } : {}) });
  return compilePlan(spec, {
    id,
    owner: rt.owner.link,
    instance: 'unit',
    createdAt: new Date(Date.now() + n).toISOString(),
    user: { uid: 1000, gid: 1000 },
    labels: {},
    ...(o.pool ? { name: poolUnitName('t', id), pool: o.pool } : {}),
    egress: { secrets: {} },
  });
}

describe('claims and keys (memory runtime, the contract)', () => {
  it('a member that is not marked ready is never handed out', async () => {
    rt = new MemoryRuntime();
    const pool = { id: 'pool-a', signature: poolSignature(parseSpec({})) };
    const m = await rt.create(plan({ pool }));
    expect(m.pool).toEqual({ id: 'pool-a', ready: false });
    await expect(rt.claim(m.id, 'k', rt.owner.link)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await rt.markPoolReady(m.id);
    expect((await rt.claim(m.id, 'k', rt.owner.link)).key).toBe('k');
  });

  it('ten claims racing for two members and five keys: each member goes to one key, each key to one member', async () => {
    rt = new MemoryRuntime({ latencyMs: () => Math.random() * 5 });
    const pool = { id: 'pool-b', signature: 'sig' };
    const members = await Promise.all([rt.create(plan({ pool })), rt.create(plan({ pool }))]);
    await Promise.all(members.map((m) => rt.markPoolReady(m.id)));
    const tries = Array.from({ length: 10 }, (_, i) => rt.claim(members[i % 2]!.id, `key-${i % 5}`, rt.owner.link));
    const r = await Promise.allSettled(tries);
    const won = r.filter((x): x is PromiseFulfilledResult<Awaited<(typeof tries)[number]>> => x.status === 'fulfilled').map((x) => x.value);
    expect(won).toHaveLength(2);
    expect(new Set(won.map((u) => u.id)).size).toBe(2);
    expect(new Set(won.map((u) => u.key)).size).toBe(2);
    for (const x of r) if (x.status === 'rejected') expect(['SANDBOX_NOT_FOUND', 'KEY_TAKEN']).toContain((x.reason as { code: string }).code);
    expect(await rt.list({ instance: 'unit', pool: 'pool-b' })).toEqual([]);
  });

  it('a claim for a key that already has a unit is KEY_TAKEN and leaves the member in the pool', async () => {
    rt = new MemoryRuntime();
    await rt.create(plan({ key: 'taken' }));
    const m = await rt.create(plan({ pool: { id: 'pool-c', signature: 's' } }));
    await rt.markPoolReady(m.id);
    await expect(rt.claim(m.id, 'taken', rt.owner.link)).rejects.toMatchObject({ code: 'KEY_TAKEN' });
    expect((await rt.list({ instance: 'unit', pool: 'pool-c' })).map((u) => u.id)).toEqual([m.id]);
  });

  it('creates racing for one key: exactly one unit, the others KEY_TAKEN', async () => {
    rt = new MemoryRuntime({ latencyMs: () => Math.random() * 5 });
    const r = await Promise.allSettled(Array.from({ length: 8 }, () => rt.create(plan({ key: 'one' }))));
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect(new Set(r.filter((x) => x.status === 'rejected').map((x) => (x as PromiseRejectedResult).reason.code))).toEqual(new Set(['KEY_TAKEN']));
    expect(await rt.list({ instance: 'unit', key: 'one' })).toHaveLength(1);
  });

  it('selectors: pool false hides members, a pool id shows only its members', async () => {
    rt = new MemoryRuntime();
    const plain = await rt.create(plan());
    const member = await rt.create(plan({ pool: { id: 'pool-d', signature: 's' } }));
    expect((await rt.list({ instance: 'unit', pool: false })).map((u) => u.id)).toEqual([plain.id]);
    expect((await rt.list({ instance: 'unit', pool: 'pool-d' })).map((u) => u.id)).toEqual([member.id]);
    expect(await rt.list({ instance: 'unit', pool: 'pool-x' })).toEqual([]);
    expect(await rt.list({ instance: 'other' })).toEqual([]);
  });

  it('remove keeps the workspace for a unit made again with the same id', async () => {
    rt = new MemoryRuntime();
    const p = plan();
    const u = await rt.create(p);
    const h = await rt.exec(u.id, { cmd: ['sh', '-c', 'echo kept > f'], env: {}, user: '0:0', stdin: false });
    expect(await h.wait()).toBe(0);
    await rt.remove(u.id, { keepWorkspace: true });
    await rt.create(p);
    const r = await rt.exec(u.id, { cmd: ['cat', 'f'], env: {}, user: '0:0', stdin: false });
    let out = '';
    for await (const c of r.stdout) out += String(c);
    expect(out).toBe('kept\n');
  });
});
