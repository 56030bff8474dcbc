import { WardenError } from '../errors.js';

/** The backends Warden can run sandboxes on (WARDEN_RUNTIME). */
export const RUNTIME_KINDS = ['docker', 'gvisor', 'kubernetes', 'aci', 'memory'] as const;
export type RuntimeKindName = (typeof RUNTIME_KINDS)[number];

/** How to reach the backend, read once from the environment at an edge (CLI, server, the SDK's defaults). */
export interface RuntimeSettings {
  /**
   * WARDEN_RUNTIME: docker (default), gvisor (every sandbox under runsc), kubernetes (pods on a cluster;
   * its settings are KUBECONFIG and WARDEN_KUBE_*), aci (Azure Container Instances; its settings are
   * WARDEN_ACI_*, read by config/aci.ts), memory (in-process, for tests).
   */
  kind: RuntimeKindName;
  /** WARDEN_SUBNET_POOL: the /16 Docker sandbox networks come from. */
  subnetPool?: string;
  /** WARDEN_ENGINE_SOCKET_HOST: the engine socket's path on its host when Warden runs in a container. */
  engineSocketHost?: string;
  /**
   * For kubernetes: the variables its options are read from (KUBECONFIG, WARDEN_KUBE_NAMESPACE,
   * WARDEN_KUBE_SECCOMP, WARDEN_KUBE_PULL_POLICY, WARDEN_KUBE_CREATE_NAMESPACE, WARDEN_INSTANCE;
   * runtime/kubernetes/options.ts checks them), taken here so the backend reads no environment itself.
   */
  kubernetesEnv?: Record<string, string>;
}

/** The runtime settings from the environment; INVALID_ARGUMENT for a WARDEN_RUNTIME Warden does not know. */
export function runtimeSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const kind = (env.WARDEN_RUNTIME ?? '').trim() || 'docker';
  if (!(RUNTIME_KINDS as readonly string[]).includes(kind)) {
    throw new WardenError('INVALID_ARGUMENT', `WARDEN_RUNTIME '${kind}' is not a runtime Warden knows; use one of ${RUNTIME_KINDS.join(', ')}`);
  }
  return {
    kind: kind as RuntimeKindName,
    ...(env.WARDEN_SUBNET_POOL ? { subnetPool: env.WARDEN_SUBNET_POOL } : {}),
    ...(env.WARDEN_ENGINE_SOCKET_HOST ? { engineSocketHost: env.WARDEN_ENGINE_SOCKET_HOST } : {}),
    ...(kind === 'kubernetes' ? { kubernetesEnv: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => KUBE_ENV.test(e[0]) && e[1] !== undefined)) } : {}),
  };
}

const KUBE_ENV = /^(KUBECONFIG|WARDEN_KUBE_[A-Z_]+|WARDEN_INSTANCE|KUBERNETES_SERVICE_(HOST|PORT)|HOME)$/;

/** Image build settings from the environment (WARDEN_BASE_IMAGE, WARDEN_DEBIAN_MIRROR). */
export function imageSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { baseImage?: string; debianMirror?: string } {
  return { ...(env.WARDEN_BASE_IMAGE ? { baseImage: env.WARDEN_BASE_IMAGE } : {}), ...(env.WARDEN_DEBIAN_MIRROR ? { debianMirror: env.WARDEN_DEBIAN_MIRROR } : {}) };
}
