import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { AuthenticationV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import Docker from 'dockerode';
import { inject, describe, expect, it } from 'vitest';
import { kubeClient, kubeRunId, kubeSkipReason, testNamespace } from './support/kube.js';
import { KUBE_TEST_RUN_LABEL } from './support/labels.js';

/**
 * The local cluster's own exposure (scripts/kube-up.sh): the API on loopback only, no anonymous
 * access to the API or the kubelet, and a kubeconfig that is private and not a superuser.
 */
const LOCAL = '/var/lib/warden-kube/kubeconfig';
const skip = kubeSkipReason() || (inject('kubeconfig') !== LOCAL ? 'not the local cluster of scripts/kube-up.sh' : '');

/** Local addresses listening on a TCP port (from /proc/net/tcp and tcp6, state 0A = LISTEN). */
function listeners(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[1]?.endsWith(`:${hexPort}`)) out.push(f[1].split(':')[0] ?? '');
    }
  }
  return out;
}

/** Status code of an HTTPS GET that presents no client certificate. */
function anonymousStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skip)(`the local cluster's exposure${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('serves the API on 127.0.0.1 only, and refuses anonymous requests to the API and the kubelet', async () => {
    expect(listeners(6443)).toEqual(['0100007F']);
    expect(await anonymousStatus('https://127.0.0.1:6443/api/v1/namespaces')).toBe(401);
    const { kc, core } = kubeClient();
    const node = (await core.readNode({ name: 'warden-kube' })).status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    expect(await anonymousStatus(`https://${node}:10250/pods`)).toBe(401);
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
  });

  it('hands out a private kubeconfig whose user has its rights from RBAC, not from system:masters', async () => {
    expect(statSync(LOCAL).mode & 0o777).toBe(0o600);
    const { kc } = kubeClient();
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe('warden');
    expect(review.status?.userInfo?.groups).toContain('warden:cluster-admins');
    expect(review.status?.userInfo?.groups).not.toContain('system:masters');
  });

  // kube-router's policy controller rewrites the whole filter table on each sync (save, edit, restore
  // without --noflush); the engine beside the cluster adds rules for every network it makes. Run on one
  // backend, a network made during a sync lost its rules and its containers could not be reached (seen
  // as a preview that never answered while the Kubernetes tier ran beside the engine's). kube-up gives
  // kube-router the legacy backend; this makes networks while policies change and looks for each
  // network's rules.
  it("leaves the engine's firewall rules alone while its policy enforcer syncs (networks made meanwhile keep their rules)", async () => {
    const docker = new Docker();
    expect(await docker.ping().then(() => true, () => false), 'a Docker engine on this host (what the cluster must coexist with)').toBe(true);
    expect(execFileSync('iptables', ['-w', '-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).not.toContain('KUBE-ROUTER');
    const { kc } = kubeClient();
    const namespace = await testNamespace(kc, 'fw');
    const net = kc.makeApiClient(NetworkingV1Api);
    const made: string[] = [];
    let churn = true;
    // each policy change asks kube-router for a full sync; back to back, one is nearly always under way
    const churner = (async () => {
      for (let i = 0; churn; i++) {
        const name = `churn-${i % 4}`;
        await net.deleteNamespacedNetworkPolicy({ name, namespace }).catch(() => undefined);
        await net.createNamespacedNetworkPolicy({ namespace, body: { metadata: { name }, spec: { podSelector: { matchLabels: { app: `a${i}` } }, policyTypes: ['Ingress', 'Egress'] } } });
      }
    })();
    try {
      for (let i = 0; i < 24; i++) {
        const n = await docker.createNetwork({ Name: `wkt-fw-${kubeRunId()}-${i}`, Labels: { [KUBE_TEST_RUN_LABEL]: kubeRunId() } });
        made.push(n.id);
      }
      // (a sync still under way at the check below can only hide a loss, never make one up)
    } finally {
      churn = false;
      await churner;
    }
    try {
      const rules = execFileSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const lost = made.filter((id) => !rules.includes(`-A FORWARD -i br-${id.slice(0, 12)} -o br-${id.slice(0, 12)} -j ACCEPT`));
      expect(lost, `networks whose FORWARD rules are gone (of ${made.length})`).toEqual([]);
    } finally {
      for (const id of made) await docker.getNetwork(id).remove().catch(() => undefined);
    }
  }, 120_000);
});
