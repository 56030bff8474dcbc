/**
 * A Warden process for dead-man switch tests: makes units on the Kubernetes backend as its owner, prints
 * one JSON line with their ids, and lives until it is killed. Its argument is a JSON object:
 *   { kubeconfig, namespace, instance, imageTag, sandboxImage, ephemeral, persistent, allowlist, release }
 * (`release`: drop the owner link of the first ephemeral unit before printing).
 */
import { KubernetesRuntime } from '../../../src/runtime/kubernetes/kubernetes-runtime.js';
import { kubernetesOptionsFromEnv } from '../../../src/runtime/kubernetes/options.js';
import { testPlan } from './plan.js';

interface Args {
  kubeconfig: string;
  namespace: string;
  instance: string;
  imageTag: string;
  sandboxImage: string;
  ephemeral: number;
  persistent: number;
  allowlist: number;
  release?: boolean;
}

const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const rt = new KubernetesRuntime(
  kubernetesOptionsFromEnv(process.env, {
    kubeconfig: a.kubeconfig,
    namespace: a.namespace,
    createNamespace: false,
    instance: a.instance,
    imagePullPolicy: 'Never',
    images: { guest: `warden-guest:${a.imageTag}`, egress: `warden-egress:${a.imageTag}` },
  }),
);
const plan = (lifetime: 'ephemeral' | 'persistent', allowlist = false) =>
  testPlan({
    instance: a.instance,
    owner: rt.owner.link,
    image: a.sandboxImage,
    lifetime,
    ...(allowlist ? { egress: { mode: 'allowlist' as const, presets: [], allow: ['example.test'], credentials: [], addHosts: {}, secrets: {} } } : {}),
  });
const units = await Promise.all([
  ...Array.from({ length: a.ephemeral }, () => rt.create(plan('ephemeral'))),
  ...Array.from({ length: a.allowlist }, () => rt.create(plan('ephemeral', true))),
  ...Array.from({ length: a.persistent }, () => rt.create(plan('persistent'))),
]);
const ephemeral = units.filter((u) => u.record.lifetime === 'ephemeral').map((u) => u.id);
let released: string | undefined;
if (a.release && ephemeral[0]) {
  released = ephemeral[0];
  rt.owner.release(released);
  await rt.owner.settled();
}
process.stdout.write(`${JSON.stringify({ pid: process.pid, ephemeral: ephemeral.filter((id) => id !== released), released, persistent: units.filter((u) => u.record.lifetime === 'persistent').map((u) => u.id), link: rt.owner.link.link })}\n`);
// live until killed (the link's socket is unref'd: this keeps the process)
setInterval(() => undefined, 1 << 30);
