import { afterAll, describe, expect } from 'vitest';
import { requiredCapabilities } from '../../src/runtime/capabilities.js';
import type { Capability } from '../../src/runtime/sandbox-runtime.js';
import { contractIt, eventually, Made, plan, run, RUN_LABEL, uniq } from './support.js';
import { loadTarget } from './target.js';

const t = await loadTarget();
const rt = t.make();
const made = new Made();
const test = contractIt(t, rt);
afterAll(() => made.cleanup(rt));

describe('unit lifecycle (the runtime contract)', () => {
  test('creates a running unit and finds it by id, name and key, and by its selectors', [], async () => {
    const key = uniq('key');
    const p = plan(t, rt, { key, labels: { project: 'p1' } });
    const t0 = Date.now();
    const u = made.add(await rt.create(p));
    console.log(`[conformance] ${t.kind}: create to running in ${Date.now() - t0} ms ${t.where}`);
    expect(u).toMatchObject({ id: p.id, name: p.name, key, state: 'running', record: { id: p.id, key, instance: t.instance, user: { uid: 1000, gid: 1000 } } });
    // the plan's labels, and Warden's instance label the core scopes by (a server shows only its instance's)
    expect(u.labels).toMatchObject({ project: 'p1', 'warden.instance': t.instance });
    expect(u.startedAt).toBeTruthy();
    expect(u.backendId).toBeTruthy();
    for (const ref of [{ id: p.id }, { name: p.name }, { key }, { backendId: u.backendId }]) expect((await rt.find(ref))?.id, JSON.stringify(ref)).toBe(p.id);
    expect(await rt.find({ backendId: 'warden-no-such-unit' })).toBeUndefined();
    expect(await rt.find({ id: 'sbx-nothere' })).toBeUndefined();
    expect(await rt.find({ key: `${key}-other` })).toBeUndefined();
    const ids = (sel: Parameters<typeof rt.list>[0]): Promise<string[]> => rt.list(sel).then((l) => l.map((x) => x.id));
    expect(await ids({ instance: t.instance, key })).toEqual([p.id]);
    expect(await ids({ instance: t.instance, labels: { project: 'p1' } })).toEqual([p.id]);
    expect(await ids({ instance: t.instance, state: 'running', labels: { project: 'p1' } })).toEqual([p.id]);
    expect(await ids({ instance: t.instance, state: 'stopped', labels: { project: 'p1' } })).toEqual([]);
    expect(await ids({ instance: `${t.instance}-other` })).toEqual([]);
  });

  test('refuses a second unit with a taken key (KEY_TAKEN) or name (NAME_CONFLICT), leaving nothing behind', [], async () => {
    const key = uniq('taken');
    const a = made.add(await rt.create(plan(t, rt, { key })));
    await expect(rt.create(plan(t, rt, { key, name: uniq('other-name') }))).rejects.toMatchObject({ code: 'KEY_TAKEN' });
    await expect(rt.create(plan(t, rt, { name: a.name }))).rejects.toMatchObject({ code: 'NAME_CONFLICT' });
    const left = await rt.list({ instance: t.instance, labels: { [RUN_LABEL]: t.instance } });
    expect(left.filter((u) => u.name === a.name || u.key === key).map((u) => u.id)).toEqual([a.id]);
  });

  test('makes one unit per key when two creates of the key race', [], async () => {
    const key = uniq('race');
    const results = await Promise.allSettled([rt.create(plan(t, rt, { key, name: uniq('race-a') })), rt.create(plan(t, rt, { key, name: uniq('race-b') }))]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const r of won) made.add(r.value);
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as { code?: string }).code)).toEqual(['KEY_TAKEN']);
    expect((await rt.list({ instance: t.instance, key })).length).toBe(1);
  });

  test('fails a create whose image does not exist with IMAGE_NOT_FOUND and leaves nothing', [], async () => {
    const p = plan(t, rt, { image: `warden-no-such-image:${uniq('x')}` });
    await expect(rt.create(p)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect(await rt.find({ id: p.id })).toBeUndefined();
    expect(await rt.find({ name: p.name })).toBeUndefined();
  });

  test('stops a unit (every process ends, the unit reads stopped), then removes it, twice safely', [], async () => {
    const u = made.add(await rt.create(plan(t, rt)));
    expect((await run(rt, u.id, ['true'])).exitCode).toBe(0);
    await rt.stop(u.id, 5000);
    expect((await rt.find({ id: u.id }))?.state).toBe('stopped');
    await expect(run(rt, u.id, ['true'])).rejects.toMatchObject({ code: 'SANDBOX_NOT_RUNNING' });
    await rt.remove(u.id);
    expect(await rt.find({ id: u.id })).toBeUndefined();
    await rt.remove(u.id); // twice: no error
  });

  test('prune with stopped removes the units that no longer run, and only those', [], async () => {
    const label = { batch: uniq('prune') };
    const [live, done, outside] = await Promise.all([rt.create(plan(t, rt, { labels: label })), rt.create(plan(t, rt, { labels: label })), rt.create(plan(t, rt, { labels: { batch: 'another' } }))].map((p) => p.then((u) => made.add(u))));
    await Promise.all([rt.kill(done!.id), rt.kill(outside!.id)]);
    const r = await rt.prune({ instance: t.instance, labels: label, stopped: true });
    expect(r.sandboxes).toEqual([done!.id]);
    expect(r.errors).toEqual([]);
    expect((await rt.list({ instance: t.instance, labels: label })).map((u) => u.id)).toEqual([live!.id]);
    expect((await rt.find({ id: outside!.id }))?.state).toBe('stopped'); // not selected: left alone
  });

  test('panic removes every unit of the selector at once', [], async () => {
    const label = { batch: uniq('panic') };
    const [, , bystander] = await Promise.all([rt.create(plan(t, rt, { labels: label })), rt.create(plan(t, rt, { labels: label })), rt.create(plan(t, rt, { labels: { batch: 'bystander' } }))].map((p) => p.then((u) => made.add(u))));
    const r = await rt.panic({ instance: t.instance, labels: label });
    expect(r).toMatchObject({ sandboxes: 2, left: 0, errors: [] });
    expect(await rt.list({ instance: t.instance, labels: label })).toEqual([]);
    expect((await rt.find({ id: bystander!.id }))?.state).toBe('running'); // not selected: untouched
  });

  test('hands a warm pool member to a key once, only once it is marked ready (KEY_TAKEN for the key, SANDBOX_NOT_FOUND for the member)', [], async () => {
    const pool = { id: uniq('pool'), signature: 'sig1' };
    const m1 = made.add(await rt.create(plan(t, rt, { pool })));
    const m2 = made.add(await rt.create(plan(t, rt, { pool })));
    // made but not marked ready (its template's readiness not passed yet): nobody may claim it
    expect((await rt.find({ id: m1.id }))?.pool).toEqual({ id: pool.id, ready: false });
    await expect(rt.claim(m1.id, uniq('early'), rt.owner.link)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await Promise.all([rt.markPoolReady(m1.id), rt.markPoolReady(m2.id)]);
    await rt.markPoolReady(m1.id); // twice: no error
    const members = await eventually(() => rt.list({ instance: t.instance, pool: pool.id }), (l) => l.length === 2 && l.every((u) => u.pool?.ready), 'both members ready');
    expect(members.map((u) => u.pool?.id)).toEqual([pool.id, pool.id]);
    const key = uniq('claimed');
    const claimed = await rt.claim(m1.id, key, rt.owner.link);
    expect(claimed).toMatchObject({ id: m1.id, key, state: 'running' });
    expect(claimed.pool).toBeUndefined();
    expect((await rt.find({ key }))?.id).toBe(m1.id);
    await expect(rt.claim(m2.id, key, rt.owner.link)).rejects.toMatchObject({ code: 'KEY_TAKEN' });
    await expect(rt.claim(m1.id, uniq('again'), rt.owner.link)).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    expect((await rt.list({ instance: t.instance, pool: pool.id })).map((u) => u.id)).toEqual([m2.id]);
    // a late markPoolReady of a claimed member (refused or ignored) leaves it with its key, out of the pool
    await rt.markPoolReady(m1.id).catch(() => undefined);
    expect(await rt.find({ key })).toMatchObject({ id: m1.id, key });
    expect((await rt.find({ id: m1.id }))?.pool).toBeUndefined();
  });

  test('refuses with UNSUPPORTED_ON_RUNTIME what it does not declare, naming the capability, before making anything', [], async () => {
    const asks: Array<[Capability, ReturnType<typeof plan>]> = [
      ['hostMounts', plan(t, rt, { mounts: [{ source: '/srv/data', target: '/data', readOnly: true }] })],
      ['workspaceVolume', plan(t, rt, { workspace: { kind: 'volume', seedFromImage: true } })],
      ['egressNone', plan(t, rt, { network: 'none' })],
      ['egressAllowlist', plan(t, rt, { network: 'allowlist' })],
      ['egressOpen', plan(t, rt, { network: 'open' })],
      ['preview', plan(t, rt, { network: 'open', preview: [8080] })],
      ['gvisor', plan(t, rt, { isolation: 'gvisor' })],
      ['diskQuota', plan(t, rt, { diskBytes: 64 * 1024 ** 2 })],
    ];
    let refused = 0;
    for (const [cap, p] of asks) {
      if (rt.capabilities.has(cap)) continue;
      const needs = requiredCapabilities(p).filter((n) => !rt.capabilities.has(n.capability));
      await expect(rt.create(p), cap).rejects.toMatchObject({ code: 'UNSUPPORTED_ON_RUNTIME', details: { capability: needs[0]!.capability } });
      expect(await rt.find({ id: p.id })).toBeUndefined();
      refused++;
    }
    if (!rt.capabilities.has('tty')) {
      const u = made.add(await rt.create(plan(t, rt)));
      await expect(rt.exec(u.id, { cmd: ['true'], env: {}, user: '0:0', stdin: false, tty: { cols: 80, rows: 24 } })).rejects.toMatchObject({ code: 'UNSUPPORTED_ON_RUNTIME', details: { capability: 'tty' } });
      refused++;
    }
    console.log(`[conformance] ${t.kind}: refused ${refused} undeclared capabilities; declares ${[...rt.capabilities].sort().join(', ')}`);
  });
});
