import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WardenError } from '../../../src/errors.js';
import { KLABEL, labelValue } from '../../../src/runtime/kubernetes/names.js';
import type { Unit } from '../../../src/runtime/sandbox-runtime.js';
import { kubeClient, kubeSkipReason, testNamespace, testNamespaceName } from '../support/kube.js';
import { eventually, kubeFixture } from '../support/runtime.js';
import { clusterContainerdPid, hostProcesses, kubeUp, ROOT, wardenObjects, within } from './support.js';

/**
 * Faults on Kubernetes, each ending with nothing left: the Warden process killed (kill -9 of a
 * `warden run`), the node's container runtime killed while sandboxes run (the cluster's containerd,
 * which the kubelet drives: SIGKILL, then scripts/kube-up.sh starts it again), and a sandbox's pod
 * deleted from outside Warden. These run alone (vitest.kube-faults.config.ts: one file at a time),
 * since killing containerd stalls every pod of the node.
 */
const skip = kubeSkipReason();
const user = (u: Unit): string => `${u.record.user.uid}:${u.record.user.gid}`;
/** A `sleep` no other process runs: found on the host by its exact command line. */
const marker = (): string[] => ['sleep', String(900_000 + randomInt(99_999))];

describe.skipIf(skip)(`faults on Kubernetes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const fx = skip ? undefined : kubeFixture('faults');
  const children = new Set<ChildProcess>();
  beforeAll(async () => fx?.setup(), 120_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // whatever a test did: the cluster runs again (a test that failed half-way must not stall the next)
    if (!skip && clusterContainerdPid() === undefined) kubeUp();
    await fx?.teardown();
  }, 180_000);

  it('kill -9 of a `warden run` process: its pod, link and everything made for it are removed by the cluster', async () => {
    const namespace = testNamespaceName('faults-cli');
    await testNamespace(kubeClient().kc, 'faults-cli');
    const instance = `fault${Date.now().toString(36)}`;
    const argv = marker();
    const child = spawn(process.execPath, ['bin/warden.js', 'run', '--', ...argv], {
      cwd: ROOT,
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, WARDEN_RUNTIME: 'kubernetes', KUBECONFIG: inject('kubeconfig'), WARDEN_KUBE_NAMESPACE: namespace, WARDEN_KUBE_CREATE_NAMESPACE: '0', WARDEN_INSTANCE: instance, WARDEN_IMAGE_TAG: inject('kubeImageTag'), WARDEN_LOG_LEVEL: 'error' },
    });
    children.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      // the command runs in its pod (its process is on this machine)
      await eventually(`the command of \`warden run\` runs (stderr: ${stderr.slice(-500)})`, async () => hostProcesses(argv).length === 1 || (child.exitCode !== null ? Promise.reject(new Error(`warden run ended (${child.exitCode}): ${stderr}`)) : false), 120_000);
      expect((await wardenObjects(namespace, `${KLABEL.instance}=${instance}`)).filter((o) => o.startsWith('pod '))).toHaveLength(2); // the sandbox and the owner link's pod
      const t0 = Date.now();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await eventually('nothing of the killed run is left in the cluster', async () => (await wardenObjects(namespace, `${KLABEL.instance}=${instance}`)).length === 0, 120_000);
      await eventually('its command no longer runs on this machine', async () => hostProcesses(argv).length === 0, 60_000);
      console.log(`[faults] kill -9 of \`warden run\`: its pod, link Job and companions gone after ${Date.now() - t0} ms`);
      expect(await wardenObjects(namespace)).toEqual([]);
    } finally {
      await kubeClient().core.deleteNamespace({ name: namespace }).catch(() => undefined);
    }
  });

  it("the node's containerd killed while sandboxes run: calls fail with coded errors, nothing hangs; once it is back, a removal finishes, the survivors run on, nothing leaks", async () => {
    const f = fx!;
    const [a, b] = await Promise.all([f.rt.create(f.plan()), f.rt.create(f.plan())]);
    const [ma, mb] = [marker(), marker()];
    await f.rt.execDetached(a!.id, { cmd: ma, env: {}, user: user(a!) });
    await f.rt.execDetached(b!.id, { cmd: mb, env: {}, user: user(b!) });
    await eventually('both workloads run', async () => hostProcesses(ma).length === 1 && hostProcesses(mb).length === 1);

    const pid = clusterContainerdPid();
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await eventually('containerd is gone', async () => clusterContainerdPid() === undefined);
    const tDown = Date.now();
    let removal: Promise<void> | undefined;
    try {
      // the containers live on without containerd (their shims hold them): the workloads still run
      expect(hostProcesses(ma)).toHaveLength(1);
      // an exec cannot start: a coded error, not a hang
      const exec = await within(90_000, 'an exec while containerd is down', f.rt.exec(b!.id, { cmd: ['true'], env: {}, user: user(b!), stdin: false }).then((h) => h.wait()).then(
        (code) => ({ code }),
        (err: unknown) => ({ err }),
      ));
      if ('err' in exec) {
        expect(exec.err).toBeInstanceOf(WardenError);
        console.log(`[faults] exec with containerd down: ${(exec.err as WardenError).code}: ${(exec.err as Error).message.slice(0, 200)}`);
      } else {
        expect(exec.code, 'an exec that cannot run has no exit code of its own').not.toBe(0);
      }
      // the unit is still found (its pod exists), and a removal is asked for while the node cannot act
      expect((await f.rt.find({ id: a!.id }))?.id).toBe(a!.id);
      removal = f.rt.remove(a!.id);
      removal.catch(() => undefined);
    } finally {
      kubeUp();
    }
    const tUp = Date.now();
    console.log(`[faults] containerd down for ${tUp - tDown} ms, started again by kube-up`);
    // the removal asked for while it was down completes, and takes the workload with it
    await within(150_000, 'the removal asked for while containerd was down', removal!);
    expect(await f.rt.find({ id: a!.id })).toBeUndefined();
    expect(await f.leftovers(a!.id)).toEqual([]);
    await eventually("the removed unit's workload is gone from this machine", async () => hostProcesses(ma).length === 0, 60_000);
    // the survivor: found running, its workload never stopped, and Warden works with it again
    expect((await f.rt.find({ id: b!.id }))?.state).toBe('running');
    expect(hostProcesses(mb)).toHaveLength(1);
    const ok = await eventually('an exec in the survivor works again', async () => {
      const h = await f.rt.exec(b!.id, { cmd: ['echo', 'back'], env: {}, user: user(b!), stdin: false });
      let out = '';
      h.stdout.on('data', (d: Buffer) => (out += d.toString()));
      h.stderr.resume();
      return (await h.wait()) === 0 && out === 'back\n' ? out : false;
    }, 90_000);
    expect(ok).toBe('back\n');
    console.log(`[faults] after containerd came back: removal done, survivor answers ${Date.now() - tUp} ms later`);
    await f.rt.remove(b!.id);
    await eventually("the survivor's workload is gone after its removal", async () => hostProcesses(mb).length === 0, 60_000);
    expect(await f.leftovers(b!.id)).toEqual([]);
  });

  it("a sandbox's pod deleted from outside: its exec ends, Warden's view follows, its companions go with it, its key is free again", async () => {
    const f = fx!;
    const key = `fault-${Date.now().toString(36)}`;
    const u = await f.rt.create(f.plan({ key, egress: { mode: 'allowlist', presets: [], allow: ['allowed.invalid'], credentials: [], addHosts: {}, secrets: {} } }));
    const before = await f.leftovers(u.id);
    expect(before.length, before.join(', ')).toBeGreaterThan(3); // the pod, its proxy, Secrets, policies, leases
    const h = await f.rt.exec(u.id, { cmd: ['sleep', '600'], env: {}, user: user(u), stdin: false });
    h.stdout.resume();
    h.stderr.resume();
    const t0 = Date.now();
    await kubeClient().core.deleteNamespacedPod({ name: u.backendId, namespace: f.namespace, gracePeriodSeconds: 0 });
    // the open exec ends (its container is gone): with a code or "unknown", never a hang
    const code = await within(90_000, "the exec in a pod deleted from outside", h.wait());
    console.log(`[faults] the exec in the deleted pod ended with ${code} after ${Date.now() - t0} ms`);
    await eventually("Warden's view follows: the unit is gone by id and by key", async () => (await f.rt.find({ id: u.id })) === undefined && (await f.rt.find({ key })) === undefined);
    expect(await f.rt.list({ instance: u.record.instance, key })).toEqual([]);
    await eventually('its companions are gone (ownerReferences: the garbage collector)', async () => (await f.leftovers(u.id)).length === 0, 120_000);
    console.log(`[faults] a pod deleted from outside: everything of it gone after ${Date.now() - t0} ms`);
    // its key is free: a new unit takes it
    const again = await f.rt.create(f.plan({ key }));
    expect((await f.rt.find({ key }))?.id).toBe(again.id);
    await f.rt.remove(again.id);
    expect(await f.leftovers(again.id)).toEqual([]);
    expect(await wardenObjects(f.namespace, `${KLABEL.id}=${labelValue(u.id)}`)).toEqual([]);
  });

  it('nothing of these faults is left in the namespace', async () => {
    const f = fx!;
    // this process's owner link (a Job and its pod) is its own: everything else must be gone
    await eventually('no sandbox object is left', async () => (await wardenObjects(f.namespace)).filter((o) => !/^(job|pod) warden-link-/.test(o)).length === 0, 120_000);
  });
});
