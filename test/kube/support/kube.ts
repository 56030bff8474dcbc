import { BatchV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, NetworkingV1Api, Watch, type V1Container, type V1Pod, type V1Volume } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { openExec, type ExecExit } from '../../../src/runtime/kubernetes/exec-stream.js';
import { KUBE_TEST_RUN_LABEL } from './labels.js';

/** Empty when a cluster answers; else the reason every Kubernetes test is skipped. */
export const kubeSkipReason = (): string => inject('kubeSkip');
export const kubeRunId = (): string => inject('kubeRunId');
export const sandboxImage = (): string => inject('kubeSandboxImage');

export function kubeClient(): { kc: KubeConfig; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/**
 * A namespace for one test file, labelled with the run id (deleted by the global teardown), enforcing
 * the "restricted" Pod Security Standard, with its default service account in place (pods are
 * refused until the controller-manager made it).
 */
/** The kinds of object Warden makes for a unit in a namespace that match `labelSelector`, as "kind name". */
export async function listUnitObjects(namespace: string, labelSelector: string): Promise<string[]> {
  const { kc } = kubeClient();
  const [pods, secrets, policies, leases, jobs] = await Promise.all([
    kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector }),
    kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace, labelSelector }),
    kc.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace, labelSelector }),
    kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace, labelSelector }),
    kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace, labelSelector }),
  ]);
  const name = (kind: string) => (o: { metadata?: { name?: string } }) => `${kind} ${o.metadata?.name ?? '?'}`;
  return [...pods.items.map(name('pod')), ...secrets.items.map(name('secret')), ...policies.items.map(name('networkpolicy')), ...leases.items.map(name('lease')), ...jobs.items.map(name('job'))];
}

export function testNamespaceName(suffix: string): string {
  // the instance (a helper's own, e.g. h17) names the namespace too: who made it shows on the shared cluster
  const tag = process.env.WARDEN_INSTANCE && /^[a-z0-9]{1,8}$/.test(process.env.WARDEN_INSTANCE) ? `${process.env.WARDEN_INSTANCE}-` : '';
  return `wt-${tag}${kubeRunId()}-${suffix}`;
}

export async function testNamespace(kc: KubeConfig, suffix: string): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = testNamespaceName(suffix);
  await core.createNamespace({
    body: {
      metadata: {
        name,
        labels: {
          [KUBE_TEST_RUN_LABEL]: kubeRunId(),
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    },
  });
  await waitFor(
    kc,
    `/api/v1/namespaces/${name}/serviceaccounts`,
    'default',
    (fieldSelector) => core.listNamespacedServiceAccount({ namespace: name, fieldSelector }),
    (sa) => sa !== undefined,
  );
  return name;
}

export interface PodOptions {
  command?: string[];
  image?: string;
  limits?: Record<string, string>;
  activeDeadlineSeconds?: number;
  ownerReferences?: NonNullable<V1Pod['metadata']>['ownerReferences'];
  /** extra volumes mounted at `mountPath` (name -> volume, path) */
  volumes?: Array<{ volume: V1Volume; mountPath: string }>;
  labels?: Record<string, string>;
  container?: Partial<V1Container>;
}

/**
 * A pod hardened as a Warden sandbox would be: the "restricted" profile (non-root, no privilege
 * escalation, all capabilities dropped, RuntimeDefault seccomp), a read-only root with a memory-backed
 * /tmp of bounded size, no service account token, no service links, limits on cpu, memory and
 * ephemeral storage, and images only from the node (imagePullPolicy Never).
 */
export function hardenedPod(name: string, opts: PodOptions = {}): V1Pod {
  return {
    metadata: { name, labels: { app: name, ...opts.labels }, ...(opts.ownerReferences ? { ownerReferences: opts.ownerReferences } : {}) },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      ...(opts.activeDeadlineSeconds ? { activeDeadlineSeconds: opts.activeDeadlineSeconds } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'main',
          image: opts.image ?? sandboxImage(),
          imagePullPolicy: 'Never',
          command: opts.command ?? ['sleep', 'infinity'],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          // requests below the limits: the test files' pods share one 2-core node
          resources: { requests: { cpu: '50m' }, limits: { cpu: '500m', memory: '128Mi', 'ephemeral-storage': '64Mi', ...opts.limits } },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...(opts.volumes ?? []).map((v) => ({ name: v.volume.name, mountPath: v.mountPath }))],
          ...opts.container,
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }, ...(opts.volumes ?? []).map((v) => v.volume)],
    },
  };
}

/** Lists one collection, filtered by a field selector (a client-node list call). */
export type Lister<T> = (fieldSelector: string) => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;

/**
 * Resolves with the object named `name` under the collection `path` once `done` holds for it
 * (`undefined`: it does not exist, or was deleted). Lists, then watches from that list's version, so
 * no change between the two is missed; a watch that ends (client-node drops one after 30 s without
 * events) is started again the same way. `timeoutMs` is a guard, not a wait.
 */
export async function waitFor<T>(
  kc: KubeConfig,
  path: string,
  name: string,
  list: Lister<T>,
  done: (obj: T | undefined) => boolean,
  timeoutMs = 60_000,
): Promise<T | undefined> {
  const fieldSelector = `metadata.name=${name}`;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    const initial = await list(fieldSelector);
    last = initial.items[0];
    if (done(last)) return last;
    if (Date.now() > deadline) break;
    const outcome = await new Promise<{ matched: boolean }>((resolve, reject) => {
      let settled = false;
      let ctrl: AbortController | undefined;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ctrl?.abort();
        fn();
      };
      const timer = setTimeout(() => finish(() => resolve({ matched: false })), Math.max(0, deadline - Date.now()));
      void new Watch(kc)
        .watch(
          path,
          { fieldSelector, resourceVersion: initial.metadata?.resourceVersion },
          (type: string, obj: T) => {
            last = type === 'DELETED' ? undefined : obj;
            try {
              if (done(last)) finish(() => resolve({ matched: true }));
            } catch (err) {
              finish(() => reject(err as Error));
            }
          },
          () => finish(() => resolve({ matched: false })), // ended: list and watch again
        )
        .then((c) => {
          ctrl = c;
          if (settled) c.abort();
        });
    });
    if (outcome.matched) return last;
    if (Date.now() > deadline) break;
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting on ${path} ${name}; last seen: ${JSON.stringify(last)?.slice(0, 3000)}`);
}

/** Waits on one pod (see {@link waitFor}). */
export function waitForPod(kc: KubeConfig, namespace: string, name: string, done: (p: V1Pod | undefined) => boolean, timeoutMs = 60_000): Promise<V1Pod | undefined> {
  const core = kc.makeApiClient(CoreV1Api);
  return waitFor<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`, name, (fieldSelector) => core.listNamespacedPod({ namespace, fieldSelector }), done, timeoutMs);
}

/** Creates a pod and waits until it runs and is ready. */
export async function runPod(kc: KubeConfig, namespace: string, pod: V1Pod, timeoutMs = 90_000): Promise<V1Pod> {
  await kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace, body: pod });
  const name = pod.metadata?.name ?? '';
  const ready = await waitForPod(
    kc,
    namespace,
    name,
    (p) => {
      if (p?.status?.phase === 'Failed' || p?.status?.phase === 'Succeeded') throw new Error(`pod ${name} ended: ${JSON.stringify(p.status)}`);
      const unschedulable = p?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
      if (unschedulable) throw new Error(`pod ${name} cannot be scheduled: ${unschedulable.message}`);
      return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    },
    timeoutMs,
  );
  return ready as V1Pod;
}

/** Runs a command to its end, with optional stdin; output as text. */
export async function execText(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  command: string[],
  stdin?: string | Buffer,
): Promise<{ stdout: string; stderr: string; exit: ExecExit }> {
  const ex = await openExec(kc, { namespace, pod, command, stdin: stdin !== undefined });
  if (stdin !== undefined) ex.stdin?.end(stdin);
  const [stdout, stderr, exit] = await Promise.all([streamText(ex.stdout), streamText(ex.stderr), ex.exit]);
  return { stdout, stderr, exit };
}

export function streamText(s: NodeJS.ReadableStream | null): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!s) return resolve('');
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    s.on('error', reject);
  });
}

/**
 * A pod answering HTTP on port 8080 with "hello from <name>" (perl from the sandbox image: git needs
 * perl-base), on IPv4 and IPv6.
 */
export function httpServerPod(name: string, labels: Record<string, string> = {}): V1Pod {
  return hardenedPod(name, {
    labels,
    command: [
      'perl',
      '-MIO::Socket::IP',
      '-e',
      `my $s = IO::Socket::IP->new(LocalAddr => "::", LocalPort => 8080, Listen => 16, ReuseAddr => 1, V6Only => 0) or die "$!"; while (my $c = $s->accept) { my $l = <$c>; print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from ${name}\n"; close $c }`,
    ],
  });
}
