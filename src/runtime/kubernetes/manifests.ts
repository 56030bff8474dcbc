import type { V1Container, V1Job, V1Lease, V1NetworkPolicy, V1OwnerReference, V1Pod, V1Secret, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { credentialEnv, credentialRoutes, type Provider } from '../../egress/credentials.js';
import { GUARD, GUEST_DIR, guardInit } from '../../guest/argv.js';
import { proxyEnv } from '../../egress/env.js';
import { PATHS } from '../../policy/compile.js';
import { canonicalJson, sha256 } from '../../util/ids.js';
import type { SandboxPlan } from '../sandbox-runtime.js';
import {
  CANARY_NAME,
  CONTAINER,
  encodeLabels,
  envSecretName,
  egressSecretName,
  KANNOTATION,
  KLABEL,
  labelValue,
  nameHash,
  keyHash,
  podName,
  proxyPodName,
  proxyPolicyName,
  ROLE,
  sandboxPolicyName,
} from './names.js';

/**
 * Warden's Kubernetes objects as data, from a SandboxPlan (pure functions, no API calls).
 *
 * A unit is its **sandbox pod** and everything owned by it (ownerReferences, so deleting the pod
 * deletes the rest through the garbage collector): its environment Secret, its network policies, its
 * egress proxy pod and that proxy's Secret, and the Leases that hold its name and key. An ephemeral
 * unit's pod is itself owned by its owner's **link Job** (see owner-link.ts): when the owner dies the
 * Job ends, the TTL controller deletes it, and the cascade removes every unit of that owner.
 */

export const PROXY_PORT = 3128;
/** Time a pod with a max runtime has to start (init steps, the netgate) before its deadline counts. */
export const START_ALLOWANCE_S = 300;
/** The pod's deadline comes this long after the guard's own, so the guard says why the unit ended. */
export const DEADLINE_SLACK_S = 3;
export const PROXY_HOST = 'warden-proxy';
export const GUEST_MOUNT = '/warden-guest-out';

/** Everything about the cluster a manifest needs that the plan does not say. */
export interface ManifestContext {
  namespace: string;
  instance: string;
  images: { guest: string; egress: string };
  imagePullPolicy: 'Never' | 'IfNotPresent' | 'Always';
  /** `undefined`: RuntimeDefault; else the Localhost profile's path under the kubelet's seccomp directory. */
  seccompLocalhost?: string;
  cpuRequestFraction: number;
}

/** The "restricted" Pod Security profile for one container, plus a read-only root. */
export function restrictedContainer(): V1SecurityContext {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } };
}

function podSecurity(ctx: ManifestContext, uid: number, gid: number): NonNullable<V1Pod['spec']>['securityContext'] {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    seccompProfile: ctx.seccompLocalhost ? { type: 'Localhost', localhostProfile: ctx.seccompLocalhost } : { type: 'RuntimeDefault' },
  };
}

/** The labels every object of a unit carries. */
export function unitLabels(plan: SandboxPlan, role: string): Record<string, string> {
  return {
    [KLABEL.managed]: 'true',
    [KLABEL.id]: labelValue(plan.id),
    [KLABEL.instance]: labelValue(plan.record.instance),
    [KLABEL.role]: role,
    ...(plan.lifetime === 'ephemeral' ? { [KLABEL.ownerLink]: labelValue(plan.owner.link) } : {}),
  };
}

/** The sandbox pod's own labels: the unit's selection keys. */
export function sandboxLabels(plan: SandboxPlan): Record<string, string> {
  return {
    ...encodeLabels(plan.labels),
    ...unitLabels(plan, ROLE.sandbox),
    [KLABEL.owner]: labelValue(plan.owner.owner),
    [KLABEL.lifetime]: plan.lifetime,
    [KLABEL.nameHash]: nameHash(plan.record.instance, plan.name),
    ...(plan.key !== undefined ? { [KLABEL.keyHash]: keyHash(plan.record.instance, plan.key) } : {}),
    ...(plan.pool ? { [KLABEL.pool]: labelValue(plan.pool.id), [KLABEL.poolReady]: 'false' } : {}),
  };
}

export function podOwner(pod: V1Pod): V1OwnerReference {
  return { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '', blockOwnerDeletion: false };
}

export function jobOwner(job: V1Job): V1OwnerReference {
  return { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata?.name ?? '', uid: job.metadata?.uid ?? '', blockOwnerDeletion: false };
}

const mib = (n: number): string => `${Math.max(1, Math.ceil(n / (1024 * 1024)))}Mi`;
const milliCpu = (nanoCpus: number): string => `${Math.max(1, Math.round(nanoCpus / 1e6))}m`;

/** The environment a unit's sandbox container gets (in its Secret): the plan's, the proxy's, keyless routes'. */
export function unitEnv(plan: SandboxPlan): Record<string, string> {
  const proxyUrl = `http://${PROXY_HOST}:${PROXY_PORT}`;
  return {
    ...(plan.egress.mode === 'allowlist' ? { ...proxyEnv(proxyUrl), ...credentialEnv(plan.egress.credentials as Provider[], proxyUrl) } : {}),
    ...plan.env,
  };
}

/** The Secret holding a unit's environment (never in the pod spec, which anyone who may list pods reads). */
export function envSecret(plan: SandboxPlan, owners: V1OwnerReference[]): V1Secret {
  return {
    metadata: {
      name: envSecretName(plan.id),
      labels: unitLabels(plan, ROLE.env),
      annotations: { [KANNOTATION.envNames]: JSON.stringify(Object.keys(plan.env)) },
      ...(owners.length ? { ownerReferences: owners } : {}),
    },
    type: 'Opaque',
    stringData: unitEnv(plan),
  };
}

/** Where the sandbox's init container must see the network policy hold (see guard `netgate`). */
export interface GateTarget {
  /** An address the policy denies (the namespace's canary pod). */
  deny: string;
  /** An address the policy allows (the unit's proxy), when it has one. */
  allow?: string;
  withinSeconds: number;
}

/**
 * The sandbox pod. PID 1 is the guard's init (unprivileged: there is no other identity in a restricted
 * pod), the guest files come from an init container of the guest image into a memory volume mounted
 * read-only at /.warden, and a second init container holds the workload back until the unit's network
 * policy is enforced for this pod.
 */
export function sandboxPod(plan: SandboxPlan, ctx: ManifestContext, o: { ownerReferences: V1OwnerReference[]; gate: GateTarget; proxyIp?: string }): V1Pod {
  const { uid, gid } = plan.record.user;
  const r = plan.resources;
  const workspaceBytes = plan.workspace.kind === 'tmpfs' ? plan.workspace.sizeBytes : 0;
  const volumes: V1Volume[] = [
    { name: 'guest', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: mib(r.tmpBytes) } },
    { name: 'home', emptyDir: { medium: 'Memory', sizeLimit: mib(r.homeBytes) } },
    { name: 'workspace', emptyDir: { medium: 'Memory', sizeLimit: mib(workspaceBytes) } },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'guest', mountPath: GUEST_DIR, readOnly: true },
    { name: 'tmp', mountPath: PATHS.tmp },
    { name: 'home', mountPath: PATHS.home },
    { name: 'workspace', mountPath: PATHS.workspace },
  ];
  const small = { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '200m', memory: '32Mi', 'ephemeral-storage': '16Mi' } };
  const initContainers: V1Container[] = [
    {
      name: CONTAINER.guest,
      image: ctx.images.guest,
      imagePullPolicy: ctx.imagePullPolicy,
      command: [GUARD, 'install', GUEST_MOUNT],
      securityContext: restrictedContainer(),
      resources: small,
      volumeMounts: [{ name: 'guest', mountPath: GUEST_MOUNT }],
    },
    {
      name: CONTAINER.gate,
      image: ctx.images.guest,
      imagePullPolicy: ctx.imagePullPolicy,
      command: [GUARD, 'netgate', '--deny', o.gate.deny, ...(o.gate.allow ? ['--allow', o.gate.allow] : []), '--within', String(o.gate.withinSeconds)],
      securityContext: restrictedContainer(),
      resources: small,
    },
  ];
  const cpuLimit = r.nanoCpus;
  const main: V1Container = {
    name: CONTAINER.sandbox,
    image: plan.image,
    imagePullPolicy: ctx.imagePullPolicy,
    // the guard's init: reaps orphans, drains on SIGTERM; max runtime is also the pod's deadline (below),
    // which the kubelet enforces out of the workload's reach
    // With resources.disk the guard measures the workspace every 2 s and ends the pod over it (the
    // workspace's emptyDir is also capped: ENOSPC at its size). The guard shares the workload's uid here,
    // so a workload can hide a directory from the walk (chmod 000) or stop the guard by SIGTERM, which
    // ends the pod: the cap fails closed, and the volume's size limit holds whatever the walk sees.
    command: guardInit({
      ...(maxRuntimeMs(plan) !== undefined ? { maxRuntimeMs: maxRuntimeMs(plan) } : {}),
      ...(plan.resources.diskBytes !== undefined ? { diskQuotaBytes: plan.resources.diskBytes } : {}),
      tied: false,
      diskIntervalS: 2,
      workspace: PATHS.workspace,
    }),
    workingDir: plan.workdir,
    envFrom: [{ secretRef: { name: envSecretName(plan.id) } }],
    securityContext: restrictedContainer(),
    resources: {
      requests: { cpu: milliCpu(Math.max(1e7, cpuLimit * ctx.cpuRequestFraction)), memory: String(r.memoryBytes), 'ephemeral-storage': '16Mi' },
      limits: { cpu: milliCpu(cpuLimit), memory: String(r.memoryBytes), 'ephemeral-storage': '128Mi' },
    },
    volumeMounts: mounts,
    ...(plan.preview.length ? { ports: plan.preview.map((p) => ({ containerPort: p.containerPort, protocol: 'TCP' })) } : {}),
  };
  const dns = plan.egress.mode === 'open';
  return {
    metadata: {
      name: podName(plan.id),
      labels: sandboxLabels(plan),
      annotations: {
        [KANNOTATION.record]: JSON.stringify(plan.record),
        [KANNOTATION.name]: plan.name,
        ...(plan.key !== undefined ? { [KANNOTATION.key]: plan.key } : {}),
        [KANNOTATION.labels]: JSON.stringify(plan.labels),
        [KANNOTATION.egress]: plan.egress.mode,
        ...(plan.preview.length ? { [KANNOTATION.preview]: JSON.stringify(plan.preview) } : {}),
        ...(o.proxyIp ? { [KANNOTATION.proxy]: `${o.proxyIp}:${PROXY_PORT}` } : {}),
        ...(plan.pool ? { [KANNOTATION.pool]: plan.pool.id } : {}),
      },
      ...(o.ownerReferences.length ? { ownerReferences: o.ownerReferences } : {}),
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // the kubelet's floor is 2 s; a stop first drains through the guard (see stop())
      terminationGracePeriodSeconds: 2,
      // counted by the kubelet from the pod's start, init steps included: the max runtime plus time to
      // start; once the sandbox runs, create() tightens it to the max runtime from then (+ DEADLINE_SLACK_S)
      ...(maxRuntimeMs(plan) !== undefined ? { activeDeadlineSeconds: Math.max(1, Math.ceil(maxRuntimeMs(plan)! / 1000)) + START_ALLOWANCE_S } : {}),
      securityContext: podSecurity(ctx, uid, gid),
      // without egress (or through the proxy, which resolves for it) the sandbox resolves nothing, fast
      ...(dns
        ? {}
        : { dnsPolicy: 'None', dnsConfig: { nameservers: ['127.0.0.1'], searches: [], options: [{ name: 'timeout', value: '1' }, { name: 'attempts', value: '1' }] } }),
      ...(o.proxyIp ? { hostAliases: [{ ip: o.proxyIp, hostnames: [PROXY_HOST] }] } : {}),
      initContainers,
      containers: [main],
      volumes,
    },
  };
}

/** The Secret of a unit's egress proxy: its keyless credential routes (secrets) and a CA bundle it trusts. */
export function egressSecret(plan: SandboxPlan & { egress: { mode: 'allowlist' } }, ca: string | undefined, owners: V1OwnerReference[]): V1Secret {
  const routes = credentialRoutes(plan.egress.credentials as Provider[], plan.egress.secrets);
  return {
    metadata: { name: egressSecretName(plan.id), labels: unitLabels(plan, ROLE.env), ...(owners.length ? { ownerReferences: owners } : {}) },
    type: 'Opaque',
    stringData: { routes: JSON.stringify(routes), ...(ca !== undefined ? { 'ca.pem': ca } : {}) },
  };
}

/** The unit's egress proxy pod: Warden's egress image, the same proxy code as on Docker. */
export function proxyPod(plan: SandboxPlan & { egress: { mode: 'allowlist' } }, ctx: ManifestContext, o: { ownerReferences: V1OwnerReference[]; ca: boolean }): V1Pod {
  const e = plan.egress;
  return {
    metadata: { name: proxyPodName(plan.id), labels: unitLabels(plan, ROLE.proxy), ...(o.ownerReferences.length ? { ownerReferences: o.ownerReferences } : {}) },
    spec: {
      restartPolicy: 'Always',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 2,
      securityContext: podSecurity(ctx, 65534, 65534),
      containers: [
        {
          name: CONTAINER.proxy,
          image: ctx.images.egress,
          imagePullPolicy: ctx.imagePullPolicy,
          command: ['node', '/app/main.js'],
          env: [
            { name: 'WARDEN_EGRESS_CONFIG', value: JSON.stringify({ presets: e.presets, allow: e.allow, port: PROXY_PORT, ...(Object.keys(e.addHosts).length ? { addHosts: e.addHosts } : {}) }) },
            { name: 'WARDEN_EGRESS_ROUTES', valueFrom: { secretKeyRef: { name: egressSecretName(plan.id), key: 'routes' } } },
            ...(o.ca ? [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/warden/ca.pem' }] : []),
          ],
          ports: [{ containerPort: PROXY_PORT, protocol: 'TCP' }],
          securityContext: restrictedContainer(),
          resources: { requests: { cpu: '20m', memory: '64Mi', 'ephemeral-storage': '16Mi' }, limits: { cpu: '1', memory: '256Mi', 'ephemeral-storage': '64Mi' } },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...(o.ca ? [{ name: 'ca', mountPath: '/etc/warden', readOnly: true }] : [])],
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
        ...(o.ca ? [{ name: 'ca', secret: { secretName: egressSecretName(plan.id), items: [{ key: 'ca.pem', path: 'ca.pem' }] } }] : []),
      ],
    },
  };
}

const selectorOf = (plan: SandboxPlan, role: string) => ({ matchLabels: { [KLABEL.id]: labelValue(plan.id), [KLABEL.role]: role } });

/**
 * The sandbox's policy: nothing comes in (other pods, other sandboxes; the host reaches preview ports
 * through the API server's port-forward, which enters the pod's network namespace from inside), and
 * out only what its egress mode allows: nothing, its own proxy on its port, or anything but `except`.
 */
export function sandboxPolicy(plan: SandboxPlan, owner: V1OwnerReference, openExcept: string[]): V1NetworkPolicy {
  const egress =
    plan.egress.mode === 'allowlist'
      ? [{ to: [{ podSelector: selectorOf(plan, ROLE.proxy) }], ports: [{ protocol: 'TCP', port: PROXY_PORT }] }]
      : plan.egress.mode === 'open'
        ? [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', ...(openExcept.length ? { except: openExcept } : {}) } }] }]
        : [];
  return {
    metadata: { name: sandboxPolicyName(plan.id), labels: unitLabels(plan, ROLE.policy), ownerReferences: [owner] },
    spec: { podSelector: selectorOf(plan, ROLE.sandbox), policyTypes: ['Ingress', 'Egress'], ingress: [], egress },
  };
}

/** The proxy's policy: in only from its own sandbox, on its port; out anywhere (its allowlist decides). */
export function proxyPolicy(plan: SandboxPlan, owner: V1OwnerReference): V1NetworkPolicy {
  return {
    metadata: { name: proxyPolicyName(plan.id), labels: unitLabels(plan, ROLE.policy), ownerReferences: [owner] },
    spec: {
      podSelector: selectorOf(plan, ROLE.proxy),
      policyTypes: ['Ingress'],
      ingress: [{ _from: [{ podSelector: selectorOf(plan, ROLE.sandbox) }], ports: [{ protocol: 'TCP', port: PROXY_PORT }] }],
    },
  };
}

/** A Lease that holds a name or a key for one unit: its creation is the lock (the API server refuses a second). */
export function lockLease(name: string, plan: { id: string; instance: string }, role: string, value: string, owner: V1OwnerReference): V1Lease {
  // the id label selects every object of the unit (remove, panic)
  return {
    metadata: {
      name,
      labels: { [KLABEL.managed]: 'true', [KLABEL.id]: labelValue(plan.id), [KLABEL.instance]: labelValue(plan.instance), [KLABEL.role]: role },
      annotations: { [role === ROLE.keyLock ? KANNOTATION.key : KANNOTATION.name]: value },
      ownerReferences: [owner],
    },
    spec: { holderIdentity: plan.id },
  };
}

/**
 * The owner link of one Warden process: a Job whose one pod runs the guard's init tied to its stdin,
 * which the owner holds attached (stdinOnce: the stream closes for good when the owner's connection
 * ends). EOF (or nothing within `linkTimeoutSeconds`: an owner that died before attaching) ends the pod,
 * the Job finishes (backoffLimit 0: also when its pod is killed from outside), the TTL controller
 * deletes it at once, and the garbage collector deletes everything it owns. No Warden code runs in the
 * cluster and it needs no rights: Kubernetes' own controllers do the removal.
 */
export function linkJob(ctx: ManifestContext, o: { name: string; link: string; owner: string; linkTimeoutSeconds: number }): V1Job {
  const labels = {
    [KLABEL.managed]: 'true',
    [KLABEL.instance]: labelValue(ctx.instance),
    [KLABEL.role]: ROLE.link,
    [KLABEL.ownerLink]: labelValue(o.link),
    [KLABEL.owner]: labelValue(o.owner),
  };
  return {
    metadata: { name: o.name, labels, annotations: { [KANNOTATION.name]: o.owner } },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 0,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 0,
          securityContext: podSecurity(ctx, 65534, 65534),
          containers: [
            {
              name: 'link',
              image: ctx.images.guest,
              imagePullPolicy: ctx.imagePullPolicy,
              command: [GUARD, 'init', '--tied', '--link-timeout', String(o.linkTimeoutSeconds)],
              stdin: true,
              stdinOnce: true,
              securityContext: restrictedContainer(),
              resources: { requests: { cpu: '5m', memory: '8Mi' }, limits: { cpu: '50m', memory: '16Mi', 'ephemeral-storage': '4Mi' } },
            },
          ],
        },
      },
    },
  };
}

/**
 * The namespace's network policy canary: a pod that listens (the egress image with an empty
 * allowlist) and that no policy protects, so a sandbox that still reaches it is not confined yet.
 */
export function canaryPod(ctx: ManifestContext): V1Pod {
  return {
    metadata: { name: CANARY_NAME, labels: { [KLABEL.managed]: 'true', [KLABEL.role]: ROLE.canary } },
    spec: {
      restartPolicy: 'Always',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      securityContext: podSecurity(ctx, 65534, 65534),
      containers: [
        {
          name: 'canary',
          image: ctx.images.egress,
          imagePullPolicy: ctx.imagePullPolicy,
          command: ['node', '/app/main.js'],
          env: [{ name: 'WARDEN_EGRESS_CONFIG', value: JSON.stringify({ presets: [], allow: [], port: PROXY_PORT }) }],
          ports: [{ containerPort: PROXY_PORT, protocol: 'TCP' }],
          readinessProbe: { tcpSocket: { port: PROXY_PORT }, periodSeconds: 5 },
          securityContext: restrictedContainer(),
          resources: { requests: { cpu: '5m', memory: '32Mi' }, limits: { cpu: '200m', memory: '96Mi', 'ephemeral-storage': '16Mi' } },
        },
      ],
    },
  };
}

/** The file name of Warden's seccomp profile under the kubelet's seccomp directory (named by content). */
export function seccompProfilePath(profile: unknown): string {
  return `warden/seccomp-${sha256(canonicalJson(profile)).slice(0, 16)}.json`;
}

/**
 * The unit's max runtime: `plan.maxRuntimeMs`, else the `--max-runtime` seconds of the plan's init for
 * the guard (a plan made by hand may carry only that), so the pod's deadline never goes missing.
 */
export function maxRuntimeMs(plan: Pick<SandboxPlan, 'maxRuntimeMs' | 'init'>): number | undefined {
  if (plan.maxRuntimeMs !== undefined) return plan.maxRuntimeMs;
  const i = plan.init?.indexOf('--max-runtime') ?? -1;
  const s = i >= 0 ? Number(plan.init?.[i + 1]) : NaN;
  return Number.isFinite(s) && s > 0 ? s * 1000 : undefined;
}
