import { hostname, userInfo } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Capability } from '../sandbox-runtime.js';
import { WardenError } from '../../errors.js';
import { wardenImage } from '../../images/catalog.js';
import { DNS_LABEL } from './names.js';

/** Where scripts/kube-up.sh writes the local cluster's kubeconfig. */
export const LOCAL_KUBECONFIG = '/var/lib/warden-kube/kubeconfig';

/** How the Kubernetes backend runs units. Every field has a default (see kubernetesOptionsFromEnv). */
export interface KubernetesRuntimeOptions {
  /** Credentials and address: a loaded KubeConfig, a kubeconfig path, or undefined for KUBECONFIG / ~/.kube/config / in-cluster. */
  kubeconfig?: KubeConfig | string;
  /** The namespace every unit lives in (made, with the "restricted" Pod Security label, when missing). Default `warden`. */
  namespace: string;
  /** Make the namespace when it does not exist (default true). */
  createNamespace: boolean;
  /** This Warden's instance (tenant scope): its owner link carries it. */
  instance: string;
  /** This process's human owner name (`user@host`), for its owner link. */
  owner: string;
  /** Warden's own images as the nodes know them. */
  images: { guest: string; egress: string };
  /** `Never` for a cluster whose images are loaded by hand (the local one), `IfNotPresent` for a registry. */
  imagePullPolicy: 'Never' | 'IfNotPresent' | 'Always';
  /**
   * `warden`: Warden's own seccomp profile as a `Localhost` profile (`warden/seccomp-<hash>.json` in the
   * kubelet's seccomp directory, installed by `warden images build --runtime kubernetes` on a local node);
   * `runtime-default`: the container runtime's default profile (then 'hardening' is not declared: it
   * allows io_uring and others Warden's profile refuses).
   */
  seccomp: 'warden' | 'runtime-default';
  /** CPU requested per unit as a fraction of its limit (a unit may burst to its limit). Default 0.1. */
  cpuRequestFraction: number;
  /** Destinations an `open` unit may not reach (CIDRs); undefined: the nodes' pod CIDRs. */
  openNetworkExcept?: string[];
  /** How long a new pod may wait for its network policy to be enforced before create fails. Default 30 s. */
  netgateSeconds: number;
  /** How long the owner link's pod waits for its owner's first byte. Default 60 s. */
  linkTimeoutSeconds: number;
  /** How often the owner writes to its link (the kubelet drops an idle stream after 4 h by default). Default 30 s. */
  keepaliveMs: number;
}

const INSTANCE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Options from the environment: WARDEN_KUBE_NAMESPACE, KUBECONFIG, WARDEN_KUBE_SECCOMP, WARDEN_KUBE_PULL_POLICY, WARDEN_INSTANCE. */
export function kubernetesOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, over: Partial<KubernetesRuntimeOptions> = {}): KubernetesRuntimeOptions {
  const seccomp = env.WARDEN_KUBE_SECCOMP ?? 'warden';
  if (seccomp !== 'warden' && seccomp !== 'runtime-default') {
    throw new WardenError('INVALID_ARGUMENT', `WARDEN_KUBE_SECCOMP=${seccomp}: use 'warden' (Warden's profile, installed on the nodes) or 'runtime-default'`);
  }
  const pull = env.WARDEN_KUBE_PULL_POLICY ?? 'IfNotPresent';
  if (pull !== 'Never' && pull !== 'IfNotPresent' && pull !== 'Always') {
    throw new WardenError('INVALID_ARGUMENT', `WARDEN_KUBE_PULL_POLICY=${pull}: use Never, IfNotPresent or Always`);
  }
  const opts: KubernetesRuntimeOptions = {
    // one file (a list of them is left to client-node's own KUBECONFIG handling)
    ...(env.KUBECONFIG && !env.KUBECONFIG.includes(':') ? { kubeconfig: env.KUBECONFIG } : {}),
    namespace: env.WARDEN_KUBE_NAMESPACE ?? 'warden',
    createNamespace: env.WARDEN_KUBE_CREATE_NAMESPACE !== '0',
    instance: env.WARDEN_INSTANCE ?? 'default',
    owner: `${safeUser()}@${hostname()}`,
    images: { guest: wardenImage('guest'), egress: wardenImage('egress') },
    imagePullPolicy: pull,
    seccomp,
    cpuRequestFraction: 0.1,
    netgateSeconds: 30,
    linkTimeoutSeconds: 60,
    keepaliveMs: 30_000,
    ...over,
  };
  validateOptions(opts);
  return opts;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? 0}`;
  }
}

export function validateOptions(o: KubernetesRuntimeOptions): void {
  if (!DNS_LABEL.test(o.namespace) || o.namespace.length > 63) {
    throw new WardenError('INVALID_ARGUMENT', `namespace '${o.namespace}' (WARDEN_KUBE_NAMESPACE) is not a Kubernetes namespace name: a-z, 0-9 and '-', at most 63`);
  }
  if (!INSTANCE_RE.test(o.instance)) throw new WardenError('INVALID_ARGUMENT', `instance '${o.instance}' must be 1-63 letters, digits, _ . - starting with a letter or digit`);
  if (!(o.cpuRequestFraction > 0 && o.cpuRequestFraction <= 1)) throw new WardenError('INVALID_ARGUMENT', 'cpuRequestFraction must be in (0, 1]');
  for (const [k, v] of [['netgateSeconds', o.netgateSeconds], ['linkTimeoutSeconds', o.linkTimeoutSeconds], ['keepaliveMs', o.keepaliveMs]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new WardenError('INVALID_ARGUMENT', `${k} must be a positive integer`);
  }
}

/** What the Kubernetes backend declares, known before its client library loads (runtime/kubernetes/lazy.ts). */
export function kubernetesCapabilities(o: Pick<KubernetesRuntimeOptions, 'seccomp'>): ReadonlySet<Capability> {
  return new Set<Capability>([
    // 'none' is a policy that allows nothing, proven by the pod's netgate before it starts, as for 'allowlist'
    'egressNone',
    'egressAllowlist',
    'egressOpen',
    'preview',
    'tty',
    'stdinEof',
    'ownerLink',
    'maxRuntime',
    'diskQuota',
    'stats',
    // the workload's confinement as seen from inside: non-root, no capabilities, no new privileges,
    // read-only root, and Warden's own seccomp profile (the runtime's default allows io_uring & co.)
    ...(o.seccomp === 'warden' ? (['hardening'] as const) : []),
  ]);
}
