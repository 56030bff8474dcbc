import { runtimeSettingsFromEnv } from '../../src/config/runtime.js';
import { wardenImage } from '../../src/images/catalog.js';
import { createLogger } from '../../src/log.js';
import { createRuntime } from '../../src/runtime/select.js';
import type { ConformanceTarget } from '../conformance/target.js';

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
  return {
    kind: 'kubernetes',
    where: `on Kubernetes (namespace ${process.env.WARDEN_KUBE_NAMESPACE ?? '?'})`,
    instance,
    image: wardenImage('sandbox'),
    make: () => createRuntime({ ...runtimeSettingsFromEnv({ ...process.env, WARDEN_RUNTIME: 'kubernetes' }), logger: createLogger('warn'), labels: { 'warden.instance': instance }, owner: 'conformance@test' }),
    childEnv: () => Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(WARDEN_|KUBECONFIG$|HOME$)/.test(k)).map(([k, v]) => [k, v ?? ''])),
  };
}
