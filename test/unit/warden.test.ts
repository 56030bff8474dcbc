import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WardenError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { MemoryRuntime } from '../../src/runtime/memory/memory-runtime.js';
import { AutoRefresher } from '../../src/sandbox/auto-refresh.js';
import { IdleStopper } from '../../src/sandbox/idle.js';
import { memoryWarden } from './support.js';

/**
 * The SDK's core (lifecycle, keys, ensure, refresh, instance scope, idle policy, auto-refresh) over the
 * in-memory runtime: no engine. What only a real backend can show (confinement, networks, the guard)
 * is in the engine tests and the conformance suite.
 */
let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.map((c) => c()));
  closers = [];
});

async function setup(o: Parameters<typeof memoryWarden>[0] = {}) {
  const w = await memoryWarden(o);
  closers.push(w.close);
  return w;
}

const code = (err: unknown): string | undefined => (err instanceof WardenError ? err.code : undefined);

describe('lifecycle over the memory runtime', () => {
  it('creates a running sandbox with its record, and finds it by id, name and id prefix', async () => {
    const { warden } = await setup();
    const sb = await warden.create({ name: 'alpha', labels: { project: 'p1' } });
    expect(sb.id).toMatch(/^sbx-/);
    const info = await sb.refreshInfo();
    expect(info).toMatchObject({ id: sb.id, state: 'running', lifetime: 'ephemeral', owner: 'unit@test' });
    expect(info.labels.project).toBe('p1');
    expect((await warden.get(sb.id)).id).toBe(sb.id);
    expect((await warden.get('alpha')).id).toBe(sb.id);
    expect((await warden.get(sb.id.slice(0, 8))).id).toBe(sb.id);
    expect(await warden.find('nothing-here')).toBeUndefined();
    await expect(warden.get('nothing-here')).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
  });

  it('runs commands with their exit code, stdout and stderr apart, env and cwd', async () => {
    const { warden } = await setup();
    const sb = await warden.create({ env: { GREETING: 'hi there' } });
    const r = await sb.exec(['sh', '-c', 'echo "$GREETING"; echo oops >&2; exit 3']);
    expect(r).toMatchObject({ exitCode: 3, stdout: 'hi there\n', stderr: 'oops\n' });
    const pwd = await sb.exec(['sh', '-c', 'basename "$(pwd)"']);
    expect(pwd.stdout).toBe('workspace\n');
  });

  it('stops (state exited, exec refused) and removes (twice safely)', async () => {
    const { warden } = await setup();
    const sb = await warden.create({});
    await warden.stop(sb.id, { timeoutMs: 1000 });
    expect((await warden.get(sb.id).then((s) => s.refreshInfo())).state).toBe('exited');
    await expect(sb.exec(['true'])).rejects.toMatchObject({ code: 'SANDBOX_NOT_RUNNING' });
    await warden.remove(sb.id);
    await warden.remove(sb.id);
    expect(await warden.find(sb.id)).toBeUndefined();
  });

  it('lists newest first, filtered by key, label and state', async () => {
    const { warden } = await setup();
    const a = await warden.create({ labels: { team: 'a' } });
    await sleep(5);
    const b = await warden.create({ labels: { team: 'b' }, key: 'kb' });
    expect((await warden.list()).map((i) => i.id)).toEqual([b.id, a.id]);
    expect((await warden.list({ key: 'kb' })).map((i) => i.id)).toEqual([b.id]);
    expect((await warden.list({ labels: { team: 'a' } })).map((i) => i.id)).toEqual([a.id]);
    await warden.stop(a.id, { timeoutMs: 100 });
    expect((await warden.list({ state: 'exited' })).map((i) => i.id)).toEqual([a.id]);
  });

  it('refuses a second sandbox for a taken key with NAME_CONFLICT, and a taken name', async () => {
    const { warden } = await setup();
    const sb = await warden.create({ key: 'project-1' });
    await expect(warden.create({ key: 'project-1' })).rejects.toMatchObject({ code: 'NAME_CONFLICT' });
    await warden.create({ name: 'n1' });
    await expect(warden.create({ name: 'n1' })).rejects.toMatchObject({ code: 'NAME_CONFLICT' });
    expect((await warden.list({ key: 'project-1' })).map((i) => i.id)).toEqual([sb.id]);
  });

  it('two creates racing for one key: one wins, the other is a NAME_CONFLICT, one sandbox', async () => {
    const { warden } = await setup({ latencyMs: () => Math.random() * 5 });
    const r = await Promise.allSettled([warden.create({ key: 'race' }), warden.create({ key: 'race' })]);
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect(r.filter((x) => x.status === 'rejected').map((x) => code((x as PromiseRejectedResult).reason))).toEqual(['NAME_CONFLICT']);
    expect(await warden.list({ key: 'race' })).toHaveLength(1);
  });

  it.each([
    [{ network: 'allowlist' as const, egress: { allow: ['example.com'] } }, 'egressAllowlist'],
    [{ network: 'open' as const }, 'egressOpen'],
    [{ runtime: 'runsc' as const }, 'gvisor'],
    [{ workspace: '/tmp' }, 'hostMounts'],
  ])('refuses %j with UNSUPPORTED_ON_RUNTIME naming %s, making nothing', async (spec, capability) => {
    const { warden, runtime } = await setup();
    const err = await warden.create(spec).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNSUPPORTED_ON_RUNTIME', details: { capability } });
    expect((err as Error).message).toContain(capability);
    expect(await runtime.list({ instance: '*' })).toEqual([]);
  });

  it('refresh keeps id, name and key and records the count and reason', async () => {
    const { warden, runtime } = await setup();
    const sb = await warden.create({ key: 'r1', lifetime: 'persistent' });
    await sb.writeFiles([{ path: 'f', content: 'kept\n' }]);
    const again = await warden.refresh(sb.id, { reason: 'unit test' });
    expect(again.id).toBe(sb.id);
    const info = await again.refreshInfo();
    expect(info).toMatchObject({ key: 'r1', state: 'running' });
    expect(info.labels['warden.refresh-count']).toBe('1');
    expect(info.labels['warden.last-refresh']).toContain('unit test');
    expect(runtime.calls.get('create')).toBe(2);
    expect(await again.readText('f')).toBe('kept\n');
  });

  it('a max runtime ends the sandbox by itself', async () => {
    const { warden } = await setup();
    const sb = await warden.create({ maxRuntime: '1s' });
    const deadline = Date.now() + 10_000;
    while ((await sb.refreshInfo()).state === 'running' && Date.now() < deadline) await sleep(50);
    expect((await sb.refreshInfo()).state).toBe('exited');
  });

  it('kill with a signal reaches the processes; SIGKILL stops the sandbox', async () => {
    const { warden } = await setup();
    const sb = await warden.create({});
    const p = await sb.spawn(['sleep', '30']);
    await warden.kill(sb.id, 'SIGTERM');
    expect((await p.wait()).exitCode).toBe(143);
    expect((await sb.refreshInfo()).state).toBe('running');
    await warden.kill(sb.id);
    expect((await sb.refreshInfo()).state).toBe('exited');
  });

  it('panic removes every sandbox of its instance only; prune removes the stopped ones', async () => {
    const rt = new MemoryRuntime();
    const mine = await setup({ runtime: rt, instance: 'i1' });
    const other = await setup({ runtime: rt, instance: 'i2' });
    const [a, b] = [await mine.warden.create({}), await mine.warden.create({})];
    const o = await other.warden.create({});
    await mine.warden.stop(a.id, { timeoutMs: 100 });
    const pruned = await mine.warden.prune();
    expect(pruned.sandboxes).toEqual([a.id]);
    const r = await mine.warden.panic();
    expect(r).toMatchObject({ containers: 1, left: 0, errors: [] });
    expect(await mine.warden.find(b.id)).toBeUndefined();
    expect((await other.warden.get(o.id).then((s) => s.refreshInfo())).state).toBe('running');
  });
});

describe('instance scope', () => {
  it('a Warden sees and controls its own instance only; a key held by another instance is a NAME_CONFLICT', async () => {
    const rt = new MemoryRuntime();
    const a = await setup({ runtime: rt, instance: 'tenant-a' });
    const b = await setup({ runtime: rt, instance: 'tenant-b' });
    const sb = await a.warden.create({ key: 'shared-key' });
    expect(await b.warden.find(sb.id)).toBeUndefined();
    expect(await b.warden.list()).toEqual([]);
    await b.warden.remove(sb.id); // nothing of its own by that id: a no-op, as a second remove is
    await expect(b.warden.get(sb.id)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    expect((await a.warden.get(sb.id).then((s) => s.refreshInfo())).state).toBe('running');
    await expect(b.warden.ensure({ key: 'shared-key' })).rejects.toMatchObject({ code: 'NAME_CONFLICT' });
    expect((await a.warden.ensure({ key: 'shared-key' })).id).toBe(sb.id);
  });
});

describe('ensure: one sandbox per key', () => {
  it('20 concurrent ensures of one key make one sandbox and hand it to all', async () => {
    const { warden, runtime } = await setup({ latencyMs: () => Math.random() * 10 });
    const got = await Promise.all(Array.from({ length: 20 }, () => warden.ensure({ key: 'busy', lifetime: 'persistent' })));
    expect(new Set(got.map((s) => s.id)).size).toBe(1);
    expect(await runtime.list({ instance: '*' })).toHaveLength(1);
  });

  it('ensure and create racing for a key: at most one sandbox, create loses with NAME_CONFLICT or wins', async () => {
    const { warden, runtime } = await setup({ latencyMs: () => Math.random() * 8 });
    const r = await Promise.allSettled([warden.ensure({ key: 'mix' }), warden.create({ key: 'mix' }), warden.ensure({ key: 'mix' })]);
    for (const x of r) if (x.status === 'rejected') expect(code(x.reason)).toBe('NAME_CONFLICT');
    const ids = new Set(r.filter((x) => x.status === 'fulfilled').map((x) => (x as PromiseFulfilledResult<{ id: string }>).value.id));
    expect(ids.size).toBe(1);
    expect(await runtime.list({ instance: '*' })).toHaveLength(1);
  });

  it('resumes a stopped sandbox with an unchanged policy (resume, not a new unit), workspace kept', async () => {
    const { warden, runtime } = await setup();
    const sb = await warden.ensure({ key: 'resume-me', lifetime: 'persistent' });
    await sb.writeFiles([{ path: 'note', content: 'still-here\n' }]);
    await warden.stop(sb.id, { timeoutMs: 100 });
    const again = await warden.ensure({ key: 'resume-me', lifetime: 'persistent' });
    expect(again.id).toBe(sb.id);
    expect(runtime.calls.get('resume')).toBe(1);
    expect(runtime.calls.get('create')).toBe(1);
    expect(await again.readText('note')).toBe('still-here\n');
  });

  it('recreates a stopped sandbox whose policy changed, same id, workspace kept', async () => {
    const { warden, runtime } = await setup();
    const sb = await warden.ensure({ key: 'changed', lifetime: 'persistent', resources: { memory: '256m' } });
    await sb.writeFiles([{ path: 'f', content: 'kept\n' }]);
    await warden.stop(sb.id, { timeoutMs: 100 });
    const again = await warden.ensure({ key: 'changed', lifetime: 'persistent', resources: { memory: '512m' } });
    expect(again.id).toBe(sb.id);
    expect(runtime.calls.get('create')).toBe(2);
    expect(runtime.calls.get('resume') ?? 0).toBe(0);
    expect(await again.readText('f')).toBe('kept\n');
  });

  it('reuses a running sandbox even when the policy differs (refresh applies a new one)', async () => {
    const { warden, runtime } = await setup();
    const sb = await warden.ensure({ key: 'running', resources: { pids: 100 } });
    const again = await warden.ensure({ key: 'running', resources: { pids: 200 } });
    expect(again.id).toBe(sb.id);
    expect(runtime.calls.get('create')).toBe(1);
  });

  it('needs a key', async () => {
    const { warden } = await setup();
    await expect(warden.ensure({})).rejects.toMatchObject({ code: 'INVALID_SPEC' });
  });

  it('refuses a root workload unless allowRoot', async () => {
    const { warden } = await setup();
    await expect(warden.create({ user: '0:0' })).rejects.toMatchObject({ code: 'ROOT_REFUSED' });
  });

  it('refuses a cap above what the backend has, naming the field', async () => {
    const { warden } = await setup({ size: { cpus: 2, memoryBytes: 1024 ** 3 } });
    await expect(warden.create({ resources: { memory: '4g' } })).rejects.toMatchObject({ code: 'INVALID_SPEC', message: expect.stringContaining('resources.memory') });
    await expect(warden.create({ resources: { cpus: 3 } })).rejects.toMatchObject({ message: expect.stringContaining('resources.cpus') });
  });
});

describe('ownership', () => {
  it('shutdown removes the ephemeral sandboxes this process owns and leaves persistent ones', async () => {
    const { warden, runtime } = await setup();
    const eph = await warden.create({ lifetime: 'ephemeral' });
    const per = await warden.create({ lifetime: 'persistent' });
    expect(runtime.owner.linked()).toEqual([eph.id]);
    expect(await warden.shutdown({ timeoutMs: 100 })).toBe(1);
    expect(await warden.find(eph.id)).toBeUndefined();
    expect(await warden.find(per.id)).toBeDefined();
  });
});

describe('idle policy over the memory runtime', () => {
  it('stops a running sandbox with no activity for idleAfter, and leaves an active one', async () => {
    const { warden } = await setup();
    const idle = await warden.create({});
    const busy = await warden.create({});
    const stopper = new IdleStopper(warden, { idleAfter: '60s', templatesOnly: false, stopTimeoutMs: 100 }, createLogger('silent'));
    const later = Date.now() + 61_000;
    // busy sees an SDK call 1 s before the check; idle saw none since it started (only Date is faked)
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(later - 1000);
      warden.touch(busy.id);
    } finally {
      vi.useRealTimers();
    }
    const stopped = await stopper.checkOnce({}, later);
    expect(stopped.map((s) => s.id)).toEqual([idle.id]);
    expect((await idle.refreshInfo()).state).toBe('exited');
    expect((await busy.refreshInfo()).state).toBe('running');
  });

  it('leaves a sandbox with recent SDK activity running', async () => {
    const { warden } = await setup();
    const sb = await warden.create({});
    const stopper = new IdleStopper(warden, { idleAfter: '60s', templatesOnly: false }, createLogger('silent'));
    expect(await stopper.checkOnce({}, Date.now() + 30_000)).toEqual([]);
    expect((await sb.refreshInfo()).state).toBe('running');
  });

  it('with templatesOnly (the default) leaves plain sandboxes alone', async () => {
    const { warden } = await setup();
    await warden.create({});
    const stopper = new IdleStopper(warden, { idleAfter: '1ms' }, createLogger('silent'));
    expect(await stopper.checkOnce({}, Date.now() + 60_000)).toEqual([]);
  });
});

describe('auto-refresh over the memory runtime', () => {
  it('leaves young persistent sandboxes alone and only looks at persistent ones', async () => {
    const { warden, runtime } = await setup();
    await warden.create({ lifetime: 'persistent' });
    await warden.create({ lifetime: 'ephemeral' });
    const r = new AutoRefresher(warden, { maxAge: '1h' }, createLogger('silent'));
    expect(await r.checkOnce()).toEqual([]);
    expect(runtime.calls.get('create')).toBe(2);
  });
});
