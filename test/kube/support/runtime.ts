import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, NetworkingV1Api, CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { KubernetesRuntime } from '../../../src/runtime/kubernetes/kubernetes-runtime.js';
import { kubernetesOptionsFromEnv } from '../../../src/runtime/kubernetes/options.js';
import type { ContractFixture } from '../contract/fixture.js';
import { testPlan } from './plan.js';
import { hardenedPod, kubeClient, runPod, testNamespace, testNamespaceName } from './kube.js';

/** The instance every Kubernetes test unit belongs to. */
export const KUBE_TEST_INSTANCE = process.env.WARDEN_INSTANCE ?? 'kube-test';

/** A KubernetesRuntime on the test cluster, in `namespace`, with this run's images (loaded by the global setup). */
export function testRuntime(namespace: string, link?: string): KubernetesRuntime {
  const tag = inject('kubeImageTag');
  return new KubernetesRuntime(
    kubernetesOptionsFromEnv(process.env, {
      kubeconfig: inject('kubeconfig'),
      namespace,
      createNamespace: false,
      instance: KUBE_TEST_INSTANCE,
      imagePullPolicy: 'Never',
      images: { guest: `warden-guest:${tag}`, egress: `warden-egress:${tag}` },
    }),
    undefined,
    link,
  );
}

/** Every object of a unit still in the namespace (by its id label). */
export async function unitLeftovers(kc: KubeConfig, namespace: string, id: string): Promise<string[]> {
  const labelSelector = KubernetesRuntime.unitSelector(id);
  const core = kc.makeApiClient(CoreV1Api);
  const [pods, secrets, policies, leases] = await Promise.all([
    core.listNamespacedPod({ namespace, labelSelector }),
    core.listNamespacedSecret({ namespace, labelSelector }),
    kc.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace, labelSelector }),
    kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace, labelSelector }),
  ]);
  return [
    ...pods.items.map((o) => `pod ${o.metadata?.name}`),
    ...secrets.items.map((o) => `secret ${o.metadata?.name}`),
    ...policies.items.map((o) => `networkpolicy ${o.metadata?.name}`),
    ...leases.items.map((o) => `lease ${o.metadata?.name}`),
  ];
}

/** Polls `check` (with backoff) until it yields a value; `timeoutMs` is a guard against a stuck cluster. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/**
 * The contract fixture for Kubernetes: a runtime (made at once: its constructor makes no call, so the
 * suites can read its capabilities while they are collected), plans for it, a second process's view,
 * and an upstream HTTP pod made on first use. `setup()` makes the namespace (beforeAll), `teardown()`
 * closes the runtimes and deletes the namespace.
 */
export function kubeFixture(suffix: string): ContractFixture & { setup(): Promise<void>; teardown(): Promise<void>; namespace: string; rt: KubernetesRuntime } {
  const namespace = testNamespaceName(suffix);
  const rt = testRuntime(namespace);
  const others: KubernetesRuntime[] = [];
  let upstream: Promise<{ ip: string; port: number }> | undefined;
  const kc = () => kubeClient().kc;
  return {
    namespace,
    rt,
    async setup() {
      await testNamespace(kc(), suffix);
    },
    async teardown() {
      await Promise.all([rt, ...others].map((r) => r.close()));
      await kubeClient().core.deleteNamespace({ name: namespace }).catch(() => undefined);
    },
    runtime: () => rt,
    plan: (o = {}) => testPlan({ instance: KUBE_TEST_INSTANCE, owner: rt.owner.link, image: inject('kubeSandboxImage'), ...o }),
    async second() {
      const other = testRuntime(namespace);
      others.push(other);
      return other;
    },
    upstream() {
      upstream ??= runPod(kc(), namespace, upstreamPod('upstream')).then((p) => ({ ip: p.status?.podIP ?? '', port: 8080 }));
      return upstream;
    },
    leftovers: (id) => unitLeftovers(kc(), namespace, id),
    eventually,
  };
}

/** A fake upstream pod (test/kube/support/upstream.pl): "hello from <name>" on port 8080. */
export function upstreamPod(name: string): ReturnType<typeof hardenedPod> {
  const script = readFileSync(fileURLToPath(new URL('./upstream.pl', import.meta.url)), 'utf8');
  return hardenedPod(name, { labels: { role: 'upstream' }, command: ['perl', '-e', script, name] });
}
