import { NetworkingV1Api, type CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execText, hardenedPod, httpServerPod, kubeClient, kubeSkipReason, runPod, testNamespace } from './support/kube.js';

/**
 * Egress confinement for sandbox pods by NetworkPolicy, as the Kubernetes backend will use it: the
 * sandbox may open connections to its own egress proxy and nowhere else, and nothing may connect to
 * it. The local cluster enforces policies with kube-router's network policy controller
 * (scripts/kube-up.sh, WARDEN_KUBE_NETPOL=kube-router); every check attacks from inside the sandbox.
 * Destinations beyond the node are not tried (tests aim only at what they made); the rules do not
 * look at the destination beyond "is it the proxy", so the other pod stands for any address.
 */
const skip = kubeSkipReason();

describe.skipIf(skip)(`sandbox egress by NetworkPolicy on a real cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let node: string;
  const ips: Record<string, string> = {};
  const curl = (from: string, url: string) => execText(kc, ns, from, ['bash', '-c', `curl -sS --max-time 3 ${url}; echo " rc=$?"`]);

  beforeAll(async () => {
    ({ kc, core } = kubeClient());
    ns = await testNamespace(kc, 'egress');
    const pods = await Promise.all([
      runPod(kc, ns, hardenedPod('sandbox', { labels: { 'warden.sandbox': 'sb1', 'warden.role': 'sandbox' } })),
      runPod(kc, ns, httpServerPod('proxy', { 'warden.sandbox': 'sb1', 'warden.role': 'proxy' })),
      runPod(kc, ns, httpServerPod('other-proxy', { 'warden.sandbox': 'sb2', 'warden.role': 'proxy' })),
      runPod(kc, ns, httpServerPod('bystander', { 'warden.role': 'bystander' })),
    ]);
    for (const p of pods) ips[p.metadata?.name ?? ''] = p.status?.podIP ?? '';
    const nodeName = pods[0]?.spec?.nodeName ?? '';
    node = (await core.readNode({ name: nodeName })).status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('keeps pods off the node even where no policy applies (the enforcer accepts unpoliced traffic; the node drops it first)', async () => {
    expect(node).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect((await curl('bystander', `-o /dev/null http://${node}:10250/`)).stdout).toMatch(/rc=28/);
  });

  it('lets a sandbox reach only its own proxy, and nobody reach the sandbox', async () => {
    // before any policy every pod reaches every pod
    expect((await curl('sandbox', `http://${ips.bystander}:8080/`)).stdout).toContain('hello from bystander');
    const net = kc.makeApiClient(NetworkingV1Api);
    await net.createNamespacedNetworkPolicy({
      namespace: ns,
      body: {
        metadata: { name: 'sandbox-sb1' },
        spec: {
          podSelector: { matchLabels: { 'warden.sandbox': 'sb1', 'warden.role': 'sandbox' } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [],
          egress: [{ to: [{ podSelector: { matchLabels: { 'warden.sandbox': 'sb1', 'warden.role': 'proxy' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
        },
      },
    });
    // enforcement follows the policy's watch event; the first refused connection shows it is in place
    await vi.waitFor(async () => expect((await curl('sandbox', `http://${ips.bystander}:8080/`)).stdout).toMatch(/rc=7$/m), { timeout: 60_000, interval: 250 });
    expect((await curl('sandbox', `http://${ips.proxy}:8080/`)).stdout).toContain('hello from proxy');
    // another sandbox's proxy is not this sandbox's way out
    expect((await curl('sandbox', `http://${ips['other-proxy']}:8080/`)).stdout).toMatch(/rc=7$/m);
    // nor the node, on any port
    expect((await curl('sandbox', `http://${node}:10250/`)).stdout).toMatch(/rc=(7|28)$/m);
    // nothing connects to the sandbox (it runs a server for the attempt)
    await execText(kc, ns, 'sandbox', ['bash', '-c', 'nohup perl -MIO::Socket::INET -e \'my $s=IO::Socket::INET->new(LocalPort=>9090,Listen=>4,ReuseAddr=>1) or die; while(my $c=$s->accept){print $c "HTTP/1.0 200 OK\\r\\n\\r\\nin\\n"; close $c}\' >/dev/null 2>&1 &']);
    expect((await curl('sandbox', 'http://127.0.0.1:9090/')).stdout).toContain('in');
    expect((await curl('bystander', `http://${ips.sandbox}:9090/`)).stdout).toMatch(/rc=(7|28)$/m);
    expect((await curl('proxy', `http://${ips.sandbox}:9090/`)).stdout).toMatch(/rc=(7|28)$/m);
  });
});
