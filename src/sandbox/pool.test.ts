import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { LABEL } from '../policy/labels.js';
import type { ContainerRuntime, RuntimeContainer } from '../runtime/runtime.js';
import type { SandboxSpec } from '../policy/spec.js';
import { poolMemberName } from './naming.js';
import { WarmPool, type PoolHost } from './pool.js';

// The pool's bookkeeping on an in-memory stand-in for the engine (the engine tests cover claims for real).
function fakeHost(makeMs: number): PoolHost & { containers: RuntimeContainer[]; made: number } {
  const containers: RuntimeContainer[] = [];
  const host = {
    containers,
    made: 0,
    owner: 'unit',
    runtime: {
      list: async (labels: Record<string, string>) => containers.filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v)),
    } as unknown as ContainerRuntime,
    createPoolMember: async (spec: SandboxSpec, labels: Record<string, string>) => {
      const id = `sbx-${String(++host.made).padStart(12, '0')}`;
      const c = { id, name: poolMemberName(spec.template!, id, false), state: 'running', labels: { ...labels, [LABEL.managed]: 'true', [LABEL.owner]: 'unit', [LABEL.id]: id } } as unknown as RuntimeContainer;
      containers.push(c);
      await sleep(makeMs);
      c.name = poolMemberName(spec.template!, id, true);
    },
    remove: async (ref: string) => void containers.splice(containers.findIndex((c) => c.id === ref), 1),
  };
  return host;
}

describe('warm pool bookkeeping', () => {
  it('a claim during a top-up is made up for right after it (the top-up counted before the claim)', async () => {
    const host = fakeHost(50);
    const pool = new WarmPool(host, { template: 'react-vite', size: 2, interval: '1h' }, createLogger('silent'));
    const first = pool.fill();
    await sleep(75); // the first member is ready, the second being made
    expect((await pool.members()).map((m) => m.ready)).toEqual([true, false]);
    // a claim takes the ready one (renamed to a key's name) and kicks the pool
    host.containers[0]!.name = 'warden-k-some-key';
    pool.kick();
    await first;
    for (let i = 0; i < 50 && (await pool.members()).filter((m) => m.ready).length < 2; i++) await sleep(20);
    expect((await pool.members()).filter((m) => m.ready)).toHaveLength(2);
    expect(host.made).toBe(3);
    await pool.stop();
    expect(await pool.members()).toHaveLength(0);
    expect(host.containers.map((c) => c.name)).toEqual(['warden-k-some-key']); // the claimed one is left alone
  });

  it('refuses a size or interval it cannot honour, naming the fix', () => {
    const host = fakeHost(0);
    expect(() => new WarmPool(host, { template: 'react-vite', size: -1 }, createLogger('silent'))).toThrow(/whole number from 0 to 50/);
    expect(() => new WarmPool(host, { template: 'react-vite', size: 1, interval: 'soon' }, createLogger('silent'))).toThrow(/not a duration/);
    expect(() => new WarmPool(host, { template: 'no-such', size: 1 }, createLogger('silent'))).toThrow(/react-vite/);
  });
});
