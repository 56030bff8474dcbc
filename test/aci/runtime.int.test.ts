import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAciSettings, aciSettingsFromEnv } from '../../src/config/aci.js';
import { GUARD, guardExec } from '../../src/guest/argv.js';
import { IMAGE_TAG } from '../../src/images/catalog.js';
import { AciRuntime, createAciRuntime } from '../../src/runtime/aci/index.js';
import { TIE_FIFO } from '../../src/runtime/aci/mapping.js';
import { plan, WORKLOAD } from '../conformance/plan.js';
import type { ConformanceTarget } from '../conformance/target.js';
import { credential, standin } from './support.js';

/**
 * The ACI backend's own attacks and failures (the contract's behaviours run in test/conformance):
 * the workload against the owner tie, and a careless deployment's settings against Azure's answers.
 */
const instance = `rt-${standin().runId}`;
const target: ConformanceTarget = {
  kind: 'aci',
  where: 'against the ACI stand-in',
  instance,
  image: `warden-sandbox:${IMAGE_TAG}`,
  make: () => createAciRuntime({ instance, env: process.env, sweep: false }),
  childEnv: () => ({}),
};
const rt = createAciRuntime({ instance, env: process.env, sweep: false });
const made: string[] = [];
afterAll(async () => {
  await Promise.allSettled(made.map((id) => rt.remove(id)));
  await rt.close();
});

async function sh(id: string, script: string, user = '0:0'): Promise<{ out: string; code: number }> {
  const cmd = user === 'workload' ? guardExec(['sh', '-c', script], WORKLOAD) : ['sh', '-c', script];
  const h = await rt.exec(id, { cmd, env: {}, user: '0:0', stdin: false });
  let out = '';
  h.stdout.on('data', (d: Buffer) => (out += d.toString()));
  h.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await h.wait();
  return { out, code };
}

describe('the owner tie under attack from the workload, against the ACI stand-in', () => {
  let id = '';
  beforeAll(async () => {
    const u = await rt.create(plan(target, rt, { lifetime: 'ephemeral' }));
    made.push(u.id);
    id = u.id;
  });

  it('the workload can neither open, hold nor untie the tie, nor make one of its own, against the ACI stand-in', async () => {
    const r = await sh(
      id,
      [
        `ls /run/warden 2>&1 | head -1`,
        `echo u > ${TIE_FIFO} 2>&1 || echo no-write`,
        `${GUARD} tie --fifo ${TIE_FIFO} < /dev/null 2>&1; echo "tie:$?"`,
        `mkfifo /tmp/mytie && ${GUARD} tie --fifo /tmp/mytie < /dev/null 2>&1; echo "own:$?"`,
      ].join('; '),
      'workload',
    );
    expect(r.out).toContain('Permission denied');
    expect(r.out).toContain('no-write');
    expect(r.out).toMatch(/tie:126/);
    expect(r.out).toMatch(/is not init's owner tie[\s\S]*own:126/);
    expect((await rt.find({ id }))?.state).toBe('running');
  });

  it('the workload cannot signal the tie, the framed exec or the guard, against the ACI stand-in', async () => {
    const r = await sh(id, `for p in $(pgrep -u 0 -f 'warden-guard|warden-aci-exec'); do kill -9 "$p" 2>/dev/null && echo "killed $p"; done; kill -KILL 1 2>/dev/null && echo killed-1; echo done`, 'workload');
    expect(r.out).toBe('done\n');
    expect((await rt.find({ id }))?.state).toBe('running');
    expect(rt.owner.linked()).toContain(id);
  });

  it('the workload cannot open the terminals that carry framed execs and ties, against the ACI stand-in', async () => {
    // this very exec and the owner tie are framed over terminals of the sandbox right now
    const r = await sh(id, 'n=0; for f in /dev/pts/[0-9]*; do n=$((n+1)); (exec 3<>"$f") 2>/dev/null && echo "opened $f"; done; echo "tried $n"', 'workload');
    expect(r.out, `exit ${r.code}`).toMatch(/^tried [1-9]\d*\n$/);
  });

  it('a lost tie is made again within the grace and the unit lives on, against the ACI stand-in', async () => {
    // root in the sandbox (as ACI's exec is) ends the tie's process: Warden sees the tie go and ties again
    const before = (await sh(id, `pgrep -f '^${GUARD} tie' | head -1`)).out.trim();
    expect(before).toMatch(/^\d+$/);
    await sh(id, `kill -9 ${before}`);
    const deadline = Date.now() + 30_000;
    let after = '';
    while (Date.now() < deadline) {
      after = (await sh(id, `pgrep -f '^${GUARD} tie' | head -1`)).out.trim();
      if (after && after !== before) break;
    }
    expect(after).toMatch(/^\d+$/);
    expect(after).not.toBe(before);
    expect((await rt.find({ id }))?.state).toBe('running');
  });
});

describe('a careless deployment gets coded errors naming the setting, against the ACI stand-in', () => {
  const env = (over: Record<string, string>): AciRuntime => new AciRuntime(parseAciSettings({ ...aciSettingsFromEnv(process.env), ...over }), { instance, owner: 'test', sweep: false, credential: credential() });

  it('a resource group that does not exist, a subscription that does not exist, a region ACI lacks, against the ACI stand-in', async () => {
    await expect(env({ resourceGroup: 'no-such-rg' }).info()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('WARDEN_ACI_RESOURCE_GROUP') });
    await expect(env({ subscriptionId: '99999999-9999-9999-9999-999999999999' }).info()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('WARDEN_ACI_SUBSCRIPTION_ID') });
    const far = env({ location: 'moon1' });
    const p = plan(target, far);
    await expect(far.create(p)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('WARDEN_ACI_LOCATION') });
    expect(await rt.find({ id: p.id })).toBeUndefined();
  });

  it('a wrong secret and an identity without a role, against the ACI stand-in', async () => {
    const s = standin();
    const wrong = new AciRuntime(aciSettingsFromEnv(process.env), { instance, owner: 'test', sweep: false, credential: credential({ clientId: s.clientId, clientSecret: 'wrong-secret' }) });
    await expect(wrong.info()).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringMatching(/no Azure credential works[\s\S]*7000215/) });
    const nobody = new AciRuntime(aciSettingsFromEnv(process.env), { instance, owner: 'test', sweep: false, credential: credential(s.noAccess) });
    await expect(nobody.info()).rejects.toMatchObject({ code: 'ENGINE_ERROR', message: expect.stringContaining('Azure refused Warden\'s identity') });
  });

  it('an image that is not in the registry, against the ACI stand-in', async () => {
    const p = plan(target, rt, { image: 'warden-agents:not-pushed' });
    await expect(rt.create(p)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND', message: expect.stringContaining('ACI variant') });
    expect(await rt.find({ id: p.id })).toBeUndefined();
  });

  it('an image without Warden\'s guest code: the create fails saying so, and nothing is left, against the ACI stand-in', async () => {
    const p = plan(target, rt, { image: `${standin().registry}/warden-aci-standin:${IMAGE_TAG}` });
    // the stand-in fails the provisioning (its engine cannot start the command); ACI may instead start
    // the group and report the container terminated: either way a coded error with the hint
    await expect(rt.create(p)).rejects.toMatchObject({ code: expect.stringMatching(/^(ENGINE_ERROR|EXEC_FAILED)$/), message: expect.stringContaining('ACI variant of the image') });
    expect(await rt.find({ id: p.id })).toBeUndefined();
  });
});
