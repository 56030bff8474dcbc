import { compileDist } from '../support/compile.js';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import Docker from 'dockerode';
import type { TestProject } from 'vitest/node';
import { IMAGE_TAG } from '../../src/images/catalog.js';
import { DockerImageStore } from '../../src/runtime/docker/images.js';
import { createLogger } from '../../src/log.js';
import { KUBE_TEST_RUN_LABEL } from './support/labels.js';
import { installSeccompProfile, loadImages } from '../../src/runtime/kubernetes/images.js';

/** Where scripts/kube-up.sh writes the kubeconfig of the local cluster. */
const LOCAL_KUBECONFIG = '/var/lib/warden-kube/kubeconfig';
/** The local cluster's containerd: Warden's images are loaded there (the node pulls nothing). */
const LOCAL_CONTAINERD = '/run/warden-kube/containerd/containerd.sock';

/** Why the Kubernetes tests cannot run, or undefined when a cluster answers. */
async function clusterProblem(kubeconfig: string | undefined): Promise<string | undefined> {
  if (!kubeconfig) return `no cluster: KUBECONFIG is unset and ${LOCAL_KUBECONFIG} does not exist (start one with: bash scripts/kube-up.sh, or run npm run test:kube)`;
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await Promise.race([
      core.readNamespace({ name: 'default' }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref()),
    ]);
    return undefined;
  } catch (err) {
    return `the cluster of ${kubeconfig} does not answer (${(err as Error).message}); start it with: bash scripts/kube-up.sh`;
  }
}

/**
 * Before the Kubernetes tests: a cluster must answer (else every test is skipped with the reason, or
 * the run fails when WARDEN_KUBE_REQUIRED=1, as `npm run test:kube` sets); Warden's sandbox image for
 * WARDEN_IMAGE_TAG is built (cached by content hash) and loaded into the local cluster's containerd.
 * After them: every namespace labelled with this run's id is deleted (which deletes its pods).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runId = `k${randomBytes(4).toString('hex')}`;
  const kubeconfig = process.env.KUBECONFIG ?? (existsSync(LOCAL_KUBECONFIG) ? LOCAL_KUBECONFIG : undefined);
  const problem = await clusterProblem(kubeconfig);
  project.provide('kubeRunId', runId);
  project.provide('kubeSkip', problem ?? '');
  project.provide('kubeconfig', kubeconfig ?? '');
  project.provide('kubeSandboxImage', `warden-sandbox:${IMAGE_TAG}`);
  project.provide('kubeImageTag', IMAGE_TAG);
  if (problem) {
    if (process.env.WARDEN_KUBE_REQUIRED === '1') throw new Error(problem);
    console.warn(`[kube] Kubernetes tests skipped: ${problem}`);
    return async () => undefined;
  }
  // the CLI tests run the built `warden`, and the egress image is built from dist/egress
  compileDist();
  if (existsSync(LOCAL_CONTAINERD)) {
    // what `warden images build --runtime kubernetes` does: build (cached by content hash), load into
    // the node's containerd, install Warden's seccomp profile for the kubelet
    const docker = new Docker();
    const built = await new DockerImageStore(docker, createLogger('warn')).buildAll({
      names: ['guest', 'sandbox', 'egress', 'agents'],
      base: 'auto',
      bootstrapIfMissing: true,
      progress: (l) => console.log(`[images] ${l}`),
    });
    await loadImages(
      async (ref) => {
        const image = docker.getImage(ref);
        return { id: (await image.inspect()).Id, stream: () => image.get() };
      },
      built.map((b) => b.ref),
      undefined,
      (l) => console.log(`[kube images] ${l}`),
    );
    installSeccompProfile();
  }
  return async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig as string);
    const core = kc.makeApiClient(CoreV1Api);
    const list = await core.listNamespace({ labelSelector: `${KUBE_TEST_RUN_LABEL}=${runId}` });
    await Promise.all(list.items.map((ns) => core.deleteNamespace({ name: ns.metadata?.name ?? '' }).catch(() => undefined)));
    if (list.items.length) console.log(`[kube teardown] deleting ${list.items.length} test namespaces`);
    // nothing may be left: wait until the namespaces (and every pod in them) are gone
    for (let i = 0; i < 240; i++) {
      const left = await core.listNamespace({ labelSelector: `${KUBE_TEST_RUN_LABEL}=${runId}` });
      if (left.items.length === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    console.warn(`[kube teardown] test namespaces of run ${runId} still terminating after 120 s`);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeRunId: string;
    /** empty when a cluster answers; else why the Kubernetes tests are skipped */
    kubeSkip: string;
    kubeconfig: string;
    kubeSandboxImage: string;
    kubeImageTag: string;
  }
}
