import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { WardenError } from '../../errors.js';
import { LOCAL_KUBECONFIG } from './options.js';

/**
 * The kubeconfig: the given one, else KUBECONFIG / ~/.kube/config, else the in-cluster service account,
 * else the local cluster of scripts/kube-up.sh.
 */
export function loadKubeConfig(given?: KubeConfig | string): KubeConfig {
  if (given instanceof KubeConfig) return given;
  const kc = new KubeConfig();
  try {
    if (given) kc.loadFromFile(given);
    else if (!process.env.KUBECONFIG && !existsSync(`${process.env.HOME ?? ''}/.kube/config`) && !process.env.KUBERNETES_SERVICE_HOST && existsSync(LOCAL_KUBECONFIG)) {
      kc.loadFromFile(LOCAL_KUBECONFIG);
    } else kc.loadFromDefault();
  } catch (err) {
    throw new WardenError('INVALID_ARGUMENT', `cannot load the kubeconfig${given ? ` ${given}` : ''}: ${(err as Error).message}; set KUBECONFIG`, { cause: err });
  }
  if (!kc.getCurrentCluster()?.server) {
    throw new WardenError('ENGINE_UNAVAILABLE', 'no Kubernetes cluster configured: set KUBECONFIG (the local cluster: bash scripts/kube-up.sh prints its path), or run Warden in a pod with a service account');
  }
  return kc;
}
