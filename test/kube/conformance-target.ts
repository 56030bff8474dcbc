import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { runtimeSettingsFromEnv } from '../../src/config/runtime.js';
import { wardenImage } from '../../src/images/catalog.js';
import { createLogger } from '../../src/log.js';
import { LOCAL_KUBECONFIG } from '../../src/runtime/kubernetes/options.js';
import { createRuntime } from '../../src/runtime/select.js';
import type { ConformanceTarget, Upstream } from '../conformance/target.js';
import { hardenedPod, runPod } from './support/kube.js';

const UPSTREAM = readFileSync(new URL('../conformance/guest/upstream.pl', import.meta.url), 'utf8');
const UPSTREAM_PORT = 8080;

/**
 * The Kubernetes backend on the cluster of KUBECONFIG (the local one of scripts/kube-up.sh here): the
 * runtime made by the production factory from the environment the setup prepared (KUBECONFIG,
 * WARDEN_KUBE_NAMESPACE of this run), labelled with the run's instance. No known limits: a released
 * owner link leaves its units running (their pods lose the link's owner reference), and the
 * no-new-privileges bit reads 1 inside.
 */
export function kubernetesTarget(): ConformanceTarget {
  const instance = process.env.WARDEN_CONFORMANCE_INSTANCE;
  if (!instance) throw new Error('WARDEN_CONFORMANCE_INSTANCE is not set: run through npm run test:conformance (its global setup loads the images and names the run)');
  const namespace = process.env.WARDEN_KUBE_NAMESPACE ?? '?';
  return {
    kind: 'kubernetes',
    where: `on Kubernetes (namespace ${namespace})`,
    instance,
    image: wardenImage('sandbox'),
    make: () => createRuntime({ ...runtimeSettingsFromEnv({ ...process.env, WARDEN_RUNTIME: 'kubernetes' }), logger: createLogger('warn'), labels: { 'warden.instance': instance }, owner: 'conformance@test' }),
    childEnv: () => Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(WARDEN_|KUBECONFIG$|HOME$)/.test(k)).map(([k, v]) => [k, v ?? ''])),
    upstream: () => upstreamPod(namespace),
  };
}

/**
 * A counting server as a plain pod of the run's namespace (test/conformance/guest/upstream.pl in the
 * sandbox image, hardened, no NetworkPolicy selects it: any pod may reach it). Before it is handed
 * out, this machine reaches it (the pod network is routed from the node), so a try that does not
 * arrive was stopped on the unit's side. What arrived is read from its log.
 */
async function upstreamPod(namespace: string): Promise<Upstream> {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG ?? LOCAL_KUBECONFIG);
  const core = kc.makeApiClient(CoreV1Api);
  const name = `upstream-${randomBytes(3).toString('hex')}`;
  const pod = await runPod(kc, namespace, hardenedPod(name, { image: wardenImage('sandbox'), labels: { role: 'conformance-upstream' }, command: ['perl', '-e', UPSTREAM, String(UPSTREAM_PORT)] }));
  const ip = pod.status?.podIP ?? '';
  // the log's lines, but for this machine's own connections (the marks below)
  let self = '';
  const lines = async (): Promise<string[]> => String(await core.readNamespacedPodLog({ name, namespace, container: 'main' })).split('\n');
  const hello = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port: UPSTREAM_PORT, timeout: 2000 }, () => {
        self = `tcp ${s.localAddress?.replace(/^::ffff:/, '') ?? ''}`;
        resolve(true);
      });
      s.on('data', () => s.destroy());
      s.on('error', () => resolve(false));
      s.on('timeout', () => (s.destroy(), resolve(false)));
    });
  // What arrived before now: this machine connects once more (a mark) and waits for that line, so every
  // earlier line is in the log (a container's output reaches its log file a moment later)
  const seen = async (): Promise<{ tcp: number; udp: number }> => {
    const marks = (await lines()).filter((l) => l === self).length;
    if (!(await hello())) throw new Error(`the upstream pod ${name} (${ip}:${UPSTREAM_PORT}) no longer answers this machine`);
    for (const deadline = Date.now() + 30_000; ; ) {
      const l = await lines();
      if (l.filter((x) => x === self).length > marks) return { tcp: l.filter((x) => x.startsWith('tcp ') && x !== self).length, udp: l.filter((x) => x.startsWith('udp ')).length };
      if (Date.now() > deadline) throw new Error(`the upstream pod ${name} did not log this machine's connection`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const close = async (): Promise<void> => {
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  };
  try {
    // listening, and reachable from outside any unit
    for (const deadline = Date.now() + 30_000; !(await hello()); ) {
      if (Date.now() > deadline) throw new Error(`the upstream pod ${name} (${ip}:${UPSTREAM_PORT}) does not answer this machine`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await seen();
  } catch (err) {
    await close();
    throw err;
  }
  return { ip, port: UPSTREAM_PORT, seen, close };
}
