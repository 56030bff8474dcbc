import { setTimeout as sleep } from 'node:timers/promises';
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

function host(makeMs: number): PoolHost & { made: number } {
  runtime = new MemoryRuntime();
  const h = {
    made: 0,
    owner: 'unit',
    instance: 'default',
    runtime,
    createPoolMember: async (spec: SandboxSpec, pool: { template: string; holder: string; signature: string }) => {
      const id = `sbx-${String(++h.made).padStart(12, '0')}`;
      // the template's network and ports are Docker's to make; the memory runtime refuses them (not declared)
      const plan = compilePlan({ ...spec, network: 'none', ports: [], workspaceVolume: false }, { id, owner: { link: runtime.owner.link.link, owner: 'unit' }, instance: 'default', createdAt: new Date(Date.now() + h.made).toISOString(), user: { uid: 1000, gid: 1000 }, labels: { 'warden.pool': pool.template }, name: poolUnitName(pool.template, id), pool: { id: pool.holder, signature: pool.signature }, egress: { secrets: {} } });
      await runtime.create(plan);
      await sleep(makeMs); // the template's dev server starting
      await runtime.markPoolReady(id);
    },
    remove: async (ref: string) => runtime.remove((await runtime.find({ backendId: ref }))?.id ?? ref),
  };
  return h;
}

describe('warm pool bookkeeping', () => {
  it('a claim during a top-up is made up for right after it (the top-up counted before the claim)', async () => {
    const h = host(50);
    const pool = new WarmPool(h, { template: 'react-vite', size: 2, interval: '1h' }, createLogger('silent'));
    const first = pool.fill();
    await sleep(75); // the first member is ready, the second being made
    expect((await pool.members()).map((m) => m.ready).sort()).toEqual([false, true]);
    // a claim takes the ready one and kicks the pool
    const ready = (await pool.members()).find((m) => m.ready)!;
    await runtime.claim(ready.id, 'some-key', runtime.owner.link);
    pool.kick();
    await first;
    for (let i = 0; i < 50 && (await pool.members()).filter((m) => m.ready).length < 2; i++) await sleep(20);
    expect((await pool.members()).filter((m) => m.ready)).toHaveLength(2);
    expect(h.made).toBe(3);
    await pool.stop();
    expect(await pool.members()).toHaveLength(0);
    expect((await runtime.list({ instance: '*' })).map((u) => u.name)).toEqual(['k-some-key']); // the claimed one is left alone
  });

  it('refuses a size or interval it cannot honour, naming the fix', () => {
    const h = host(0);
    expect(() => new WarmPool(h, { template: 'react-vite', size: -1 }, createLogger('silent'))).toThrow(/whole number from 0 to 50/);
    expect(() => new WarmPool(h, { template: 'react-vite', size: 1, interval: 'soon' }, createLogger('silent'))).toThrow(/not a duration/);
    expect(() => new WarmPool(h, { template: 'no-such', size: 1 }, createLogger('silent'))).toThrow(/react-vite/);
  });
});
