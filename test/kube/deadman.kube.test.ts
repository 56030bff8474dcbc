import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { guardExec } from '../../src/guest/argv.js';
import { linkJob } from '../../src/runtime/kubernetes/manifests.js';
import { KLABEL, labelValue, ROLE } from '../../src/runtime/kubernetes/names.js';
import { kubeClient, kubeSkipReason } from './support/kube.js';
import { eventually, KUBE_TEST_INSTANCE, kubeFixture } from './support/runtime.js';

/**
 * The dead-man switch on Kubernetes, with no Warden process alive: an owner process (a real OS
 * process, test/kube/support/owner-process.ts) makes units and is killed with SIGKILL; its ephemeral
 * units and everything made for them (proxy pods, secrets, policies, leases, its link Job) must go,
 * removed by Kubernetes' own controllers (job, TTL-after-finished, garbage collector). Its persistent
 * units and a released one stay, and this process (another Warden) re-adopts them.
 */
const skip = kubeSkipReason();
const OWNER = fileURLToPath(new URL('./support/owner-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Owned {
  pid: number;
  ephemeral: string[];
  released?: string;
  persistent: string[];
  link: string;
}

/** Owner processes this file started: killed in afterAll whatever a test did (none may outlive the run). */
const owners = new Set<ChildProcess>();

function startOwner(args: Record<string, unknown>): Promise<{ child: ChildProcess; owned: Owned }> {
  // node itself with tsx as its loader: the tsx CLI would run the program in a child process of its own,
  // which a SIGKILL of the CLI leaves alive (and its links attached)
  const child = spawn(process.execPath, ['--import', 'tsx', OWNER, JSON.stringify(args)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  owners.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve({ child, owned: JSON.parse(line) as Owned }));
    child.once('exit', (code) => reject(new Error(`the owner process exited (${code}) before making its units: ${stderr.slice(-2000)}`)));
  });
}

describe.skipIf(skip)(`dead-man switch on Kubernetes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const fx = skip ? undefined : kubeFixture('deadman');
  beforeAll(async () => fx?.setup(), 120_000);
  afterAll(async () => {
    for (const c of owners) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await fx?.teardown();
  }, 180_000);

  it('kill -9 of the owner: its ephemeral units and all made for them are gone within seconds; persistent and released units stay and another process adopts them', async () => {
    const f = fx!;
    const tStart = Date.now();
    const { child, owned } = await startOwner({
      kubeconfig: inject('kubeconfig'),
      namespace: f.namespace,
      instance: KUBE_TEST_INSTANCE,
      imageTag: inject('kubeImageTag'),
      sandboxImage: inject('kubeSandboxImage'),
      ephemeral: 3,
      allowlist: 1,
      persistent: 1,
      release: true,
    });
    console.log(`[deadman] the owner process made its ${owned.ephemeral.length + owned.persistent.length + 1} units in ${Date.now() - tStart} ms`);
    expect(owned.ephemeral).toHaveLength(3); // 2 plain + 1 with its egress proxy (one of the plain ones was released)
    for (const id of [...owned.ephemeral, ...owned.persistent, owned.released!]) expect((await f.rt.find({ id }))?.state).toBe('running');
    const batch = kubeClient().kc.makeApiClient(BatchV1Api);
    const links = await batch.listNamespacedJob({ namespace: f.namespace, labelSelector: `${KLABEL.ownerLink}=${labelValue(owned.link)}` });
    expect(links.items).toHaveLength(1);

    const t0 = Date.now();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await eventually(
      "the dead owner's units and all their objects are gone",
      async () => (await Promise.all(owned.ephemeral.map((id) => f.leftovers(id)))).every((l) => l.length === 0),
      120_000,
    );
    const goneAfterMs = Date.now() - t0;
    console.log(`[deadman] kill -9 of an owner of ${owned.ephemeral.length} ephemeral units (one with its egress proxy): all gone after ${goneAfterMs} ms`);
    expect(goneAfterMs).toBeLessThan(60_000);
    await eventually('the link Job is gone', async () => (await batch.listNamespacedJob({ namespace: f.namespace, labelSelector: `${KLABEL.ownerLink}=${labelValue(owned.link)}` })).items.length === 0);

    // what was not tied to the owner stays, and this process (another Warden) takes it over
    for (const id of [...owned.persistent, owned.released!]) {
      const u = await f.rt.find({ id });
      expect(u?.state).toBe('running');
      const h = await f.rt.exec(id, { cmd: guardExec(['echo', 'adopted'], u!.record.user), env: {}, user: '0:0', stdin: false });
      let out = '';
      h.stdout.on('data', (d: Buffer) => (out += d.toString()));
      h.stderr.resume();
      expect(await h.wait()).toBe(0);
      expect(out).toBe('adopted\n');
      await f.rt.remove(id);
      expect(await f.leftovers(id)).toEqual([]);
    }
  });

  it("the owner link's pod killed from outside ends its units (fail closed), and the next unit gets a new link", async () => {
    const f = fx!;
    const u = await f.rt.create(f.plan());
    const core = kubeClient().core;
    const sel = `${KLABEL.role}=${ROLE.link},${KLABEL.ownerLink}=${labelValue(f.rt.owner.link.link)}`;
    const [linkPod] = (await core.listNamespacedPod({ namespace: f.namespace, labelSelector: sel })).items;
    expect(linkPod).toBeDefined();
    await core.deleteNamespacedPod({ name: linkPod!.metadata!.name!, namespace: f.namespace, gracePeriodSeconds: 0 });
    await eventually('the unit tied to the killed link is gone', async () => (await f.leftovers(u.id)).length === 0, 120_000);
    const next = await f.rt.create(f.plan());
    try {
      expect(next.state).toBe('running');
      const pods = (await core.listNamespacedPod({ namespace: f.namespace, labelSelector: sel })).items.filter((p) => !p.metadata?.deletionTimestamp);
      expect(pods.map((p) => p.metadata?.name)).not.toContain(linkPod!.metadata!.name);
    } finally {
      await f.rt.remove(next.id);
    }
  });

  it('a link whose owner never attaches ends by itself (an owner that died between making it and attaching)', async () => {
    const f = fx!;
    const batch = kubeClient().kc.makeApiClient(BatchV1Api);
    const tag = inject('kubeImageTag');
    const name = `warden-link-orphan-${Date.now().toString(16)}`;
    const body = linkJob(
      { namespace: f.namespace, instance: KUBE_TEST_INSTANCE, images: { guest: `warden-guest:${tag}`, egress: `warden-egress:${tag}` }, imagePullPolicy: 'Never', cpuRequestFraction: 0.1 },
      { name, link: 'orphan-link', owner: 'nobody@nowhere', linkTimeoutSeconds: 3 },
    );
    await batch.createNamespacedJob({ namespace: f.namespace, body });
    const t0 = Date.now();
    await eventually('the unattached link Job is gone', async () => (await batch.listNamespacedJob({ namespace: f.namespace, fieldSelector: `metadata.name=${name}` })).items.length === 0, 120_000);
    expect(Date.now() - t0).toBeLessThan(60_000);
    const core = kubeClient().kc.makeApiClient(CoreV1Api);
    await eventually('its pod is gone', async () => (await core.listNamespacedPod({ namespace: f.namespace, labelSelector: `batch.kubernetes.io/job-name=${name}` })).items.length === 0);
  });
});
