/**
 * Says what is left in a Kubernetes cluster after Warden's tests (the CI tier, scripts/test-kube.sh):
 * every namespace beyond the cluster's own four, and in every namespace each pod, Job, Secret,
 * NetworkPolicy, Lease and Service that the cluster did not make itself. Waits (up to --wait seconds,
 * default 180) while something is still going away (namespaces terminating, pods being deleted, owned
 * objects the garbage collector has yet to reach); exits 0 when the cluster is empty, 1 with the list
 * otherwise.
 *   KUBECONFIG=/var/lib/warden-kube/kubeconfig npx tsx scripts/kube-leftovers.ts [--wait 180]
 */
import { BatchV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';

const SYSTEM = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const waitArg = process.argv.indexOf('--wait');
const waitS = waitArg >= 0 ? Number(process.argv[waitArg + 1]) : 180;

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const coord = kc.makeApiClient(CoordinationV1Api);

interface Meta {
  metadata?: { name?: string; namespace?: string; ownerReferences?: unknown[]; deletionTimestamp?: Date; labels?: Record<string, string> };
}

/** What is left, one line each ("kind namespace/name"). */
async function leftovers(): Promise<string[]> {
  const [ns, pods, jobs, secrets, policies, leases, services] = await Promise.all([
    core.listNamespace(),
    core.listPodForAllNamespaces(),
    batch.listJobForAllNamespaces(),
    core.listSecretForAllNamespaces(),
    net.listNetworkPolicyForAllNamespaces(),
    coord.listLeaseForAllNamespaces(),
    core.listServiceForAllNamespaces(),
  ]);
  const name = (o: Meta): string => `${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'}${o.metadata?.deletionTimestamp ? ' (being deleted)' : ''}`;
  const out: string[] = [];
  for (const n of ns.items) if (!SYSTEM.has(n.metadata?.name ?? '')) out.push(`namespace ${name(n)} ${n.status?.phase ?? ''}`.trim());
  for (const p of pods.items) out.push(`pod ${name(p)} ${p.status?.phase ?? ''}`.trim());
  for (const j of jobs.items) out.push(`job ${name(j)}`);
  // service account tokens are the cluster's (none by default since 1.24, but a legacy one is not ours)
  for (const s of secrets.items) if (s.type !== 'kubernetes.io/service-account-token') out.push(`secret ${name(s)}`);
  for (const p of policies.items) out.push(`networkpolicy ${name(p)}`);
  // the control plane's own leases: node heartbeats, leader election, apiserver identity
  for (const l of leases.items) if (!['kube-node-lease', 'kube-system'].includes(l.metadata?.namespace ?? '')) out.push(`lease ${name(l)}`);
  for (const s of services.items) if (!(s.metadata?.namespace === 'default' && s.metadata?.name === 'kubernetes')) out.push(`service ${name(s)}`);
  return out;
}

const deadline = Date.now() + waitS * 1000;
let left = await leftovers();
while (left.length && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 2000));
  left = await leftovers();
}
if (left.length) {
  console.error(`[kube-leftovers] ${left.length} objects left in the cluster after ${waitS} s:\n  ${left.join('\n  ')}`);
  process.exit(1);
}
console.log('[kube-leftovers] nothing left in the cluster');
