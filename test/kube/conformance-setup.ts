import { compileDist } from '../support/compile.js';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { runtimeSettingsFromEnv } from '../../src/config/runtime.js';
import { createLogger } from '../../src/log.js';
import { LOCAL_KUBECONFIG } from '../../src/runtime/kubernetes/options.js';
import { createImageStore, createRuntime } from '../../src/runtime/select.js';

/**
 * The Kubernetes target's setup for `WARDEN_RUNTIME=kubernetes npm run test:conformance`: a cluster must
 * answer (KUBECONFIG, else the local one of scripts/kube-up.sh), Warden's images are built and loaded
 * the way `warden images build` does for kubernetes, and the run gets a namespace of its own
 * (WARDEN_KUBE_NAMESPACE, made by the runtime as it would be in production: the "restricted" Pod
 * Security label). The teardown panics the run's instance and deletes the namespace.
 */
export async function startKubernetes(): Promise<{ runId: string; teardown: () => Promise<void> }> {
  const runId = `c${randomBytes(4).toString('hex')}`;
  process.env.KUBECONFIG ??= LOCAL_KUBECONFIG;
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG);
  const core = kc.makeApiClient(CoreV1Api);
  await core.listNamespace({ limit: 1 }).catch((err: unknown) => {
    throw new Error(`no Kubernetes cluster answers at ${kc.getCurrentCluster()?.server} (${(err as Error).message}); start the local one: bash scripts/kube-up.sh`);
  });
  const namespace = `wconf-${runId}`;
  process.env.WARDEN_KUBE_NAMESPACE = namespace;
  // the egress image is built from dist/egress
  compileDist();
  await createImageStore({ kind: 'kubernetes', logger: createLogger('warn') }).buildAll({ base: 'auto', names: ['guest', 'sandbox', 'egress'], bootstrapIfMissing: true, progress: (l) => console.log(`[images] ${l}`) });
  const instance = `c-${runId}`;
  return {
    runId,
    teardown: async () => {
      const rt = createRuntime({ ...runtimeSettingsFromEnv(), kind: 'kubernetes', logger: createLogger('warn'), labels: { 'warden.instance': instance } });
      const r = await rt.panic({ instance });
      if (r.sandboxes) console.log(`[teardown] removed ${r.sandboxes} units the conformance run left`);
      await (rt as { close?(): Promise<void> }).close?.();
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    },
  };
}
