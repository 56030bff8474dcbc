import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { compilePlan } from '../policy/compile.js';
import type { SandboxSpec } from '../policy/spec.js';
import { MemoryRuntime } from '../runtime/memory/memory-runtime.js';
import { poolUnitName } from '../runtime/unit-names.js';
import { WarmPool, type PoolHost } from './pool.js';

// The pool's bookkeeping over the memory runtime (the engine tests cover claims by rename for real).
let runtime: MemoryRuntime;
afterEach(async () => runtime?.close());

/** Resolvers for a member's steps, so the test moves the pool on by events, never by sleeping. */
interface Gate { created: Promise<void>; release(): void; ready: Promise<void> }

function host(gated = true): PoolHost & { made: number; gate(n: number): Gate } {
  runtime = new MemoryRuntime();
  const gates = new Map<number, Gate & { onCreated(): void; onReady(): void; released: Promise<void> }>();
  const gate = (n: number) => {
    let g = gates.get(n);
    if (!g) {
      let onCreated!: () => void, onReady!: () => void, release!: () => void;
      const created = new Promise<void>((r) => (onCreated = r));
      const ready = new Promise<void>((r) => (onReady = r));
      const released = new Promise<void>((r) => (release = r));
      g = { created, ready, released, release, onCreated, onReady };
      gates.set(n, g);
    }
    return g;
  };
  const h = {
    made: 0,
    owner: 'unit',
    instance: 'default',
    runtime,
    gate,
    createPoolMember: async (spec: SandboxSpec, pool: { template: string; holder: string; signature: string }) => {
      const n = ++h.made;
      const id = `sbx-${String(n).padStart(12, '0')}`;
      // the template's network and ports are Docker's to make; the memory runtime refuses them (not declared)
      const plan = compilePlan({ ...spec, network: 'none', ports: [], workspaceVolume: false }, { id, owner: { link: runtime.owner.link.link, owner: 'unit' }, instance: 'default', createdAt: new Date(Date.now() + n).toISOString(), user: { uid: 1000, gid: 1000 }, labels: { 'warden.pool': pool.template }, name: poolUnitName(pool.template, id), pool: { id: pool.holder, signature: pool.signature }, egress: { secrets: {} } });
      await runtime.create(plan);
      const g = gate(n);
      g.onCreated();
      if (gated) await g.released; // the template's dev server starting
      await runtime.markPoolReady(id);
      g.onReady();
    },
    remove: async (ref: string) => runtime.remove((await runtime.find({ backendId: ref }))?.id ?? ref),
  };
  return h;
}

describe('warm pool bookkeeping', () => {
  it('a claim during a top-up is made up for right after it (the top-up counted before the claim)', async () => {
    const h = host();
    const pool = new WarmPool(h, { template: 'react-vite', size: 2, interval: '1h' }, createLogger('silent'));
    const first = pool.fill();
    h.gate(1).release();
    await h.gate(1).ready;
    await h.gate(2).created; // the first member is ready, the second being made
    expect((await pool.members()).map((m) => m.ready).sort()).toEqual([false, true]);
    // a claim takes the ready one and kicks the pool (a fill is running: it tops up right after it)
    const ready = (await pool.members()).find((m) => m.ready)!;
    await runtime.claim(ready.id, 'some-key', runtime.owner.link);
    pool.kick();
    h.gate(2).release();
    await first;
    await h.gate(3).created; // made up for the claim
    h.gate(3).release();
    await h.gate(3).ready;
    expect((await pool.members()).filter((m) => m.ready)).toHaveLength(2);
    expect(h.made).toBe(3);
    await pool.stop();
    expect(await pool.members()).toHaveLength(0);
    expect((await runtime.list({ instance: '*' })).map((u) => u.name)).toEqual(['k-some-key']); // the claimed one is left alone
  });

  it('refuses a size or interval it cannot honour, naming the fix', () => {
    const h = host(false);
    expect(() => new WarmPool(h, { template: 'react-vite', size: -1 }, createLogger('silent'))).toThrow(/whole number from 0 to 50/);
    expect(() => new WarmPool(h, { template: 'react-vite', size: 1, interval: 'soon' }, createLogger('silent'))).toThrow(/not a duration/);
    expect(() => new WarmPool(h, { template: 'no-such', size: 1 }, createLogger('silent'))).toThrow(/react-vite/);
  });
});
