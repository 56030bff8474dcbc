import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { AuthenticationV1Api } from '@kubernetes/client-node';
import { inject, describe, expect, it } from 'vitest';
import { kubeClient, kubeSkipReason } from './support/kube.js';

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
});
