import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execText, hardenedPod, httpServerPod, kubeClient, kubeSkipReason, runPod, testNamespace, waitFor, waitForPod } from './support/kube.js';

/**
 * The confinement Warden will rely on for sandbox pods, checked on the local cluster from inside the
 * pods (each test attacks and asserts the attack failed): the "restricted" profile enforced by the
 * API, a read-only root with bounded memory-backed scratch space, no credentials, limits that hold
 * (memory, pids, ephemeral storage), a max runtime the pod cannot switch off, cascade deletion
 * through ownerReferences, and pod networking with the node itself out of reach.
 */
const skip = kubeSkipReason();

describe.skipIf(skip)(`sandbox pods on a real cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  const sh = (script: string): string[] => ['bash', '-c', script];
  const run = (pod: string, script: string) => execText(kc, ns, pod, sh(script));

  beforeAll(async () => {
    ({ kc, core } = kubeClient());
    ns = await testNamespace(kc, 'pods');
    await runPod(kc, ns, hardenedPod('sb'));
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('refuses pods that break the restricted profile (PodSecurity admission), naming the violations', async () => {
    const loose = hardenedPod('loose');
    const c = loose.spec!.containers[0]!;
    delete loose.spec!.securityContext;
    c.securityContext = { allowPrivilegeEscalation: true, capabilities: { add: ['NET_ADMIN'] }, runAsUser: 0 };
    const err = await core.createNamespacedPod({ namespace: ns, body: loose }).then(
      () => undefined,
      (e: { code?: number; body?: string }) => e,
    );
    expect(err?.code).toBe(403);
    const message = String((JSON.parse(String(err?.body)) as { message?: string }).message);
    expect(message).toMatch(/violates PodSecurity "restricted:latest"/);
    for (const v of ['allowPrivilegeEscalation != false', 'NET_ADMIN', 'runAsNonRoot != true', 'runAsUser=0', 'seccompProfile']) expect(message).toContain(v);
  });

  it('runs as uid 1000 with no capabilities, no_new_privs and a seccomp filter; setuid binaries give nothing', async () => {
    const r = await run('sb', 'id -u; id -g; grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status; su -c id root </dev/null; echo su=$?');
    expect(r.stdout).toMatch(/^1000\n1000\n/);
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(r.stdout).toMatch(new RegExp(`${cap}:\\s+0000000000000000`));
    expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(r.stdout).toMatch(/Seccomp:\s+2/);
    expect(r.stdout).toMatch(/su=1/);
  });

  it('has a read-only root and a memory-backed /tmp capped at its sizeLimit', async () => {
    const r = await run(
      'sb',
      'for p in / /etc/passwd /usr/local/bin/x /workspace/x; do (echo x > "$p") 2>/dev/null && echo "wrote $p"; done; ' +
        'grep " /tmp " /proc/mounts; head -c 20M /dev/zero > /tmp/fill; echo fill=$?; du -k /tmp/fill | cut -f1',
    );
    expect(r.stdout).not.toContain('wrote');
    expect(r.stdout).toMatch(/^tmpfs \/tmp tmpfs .*size=16384k/m);
    expect(r.stdout).toMatch(/fill=1/); // ENOSPC at 16 MiB
    expect(Number(r.stdout.trim().split('\n').at(-1))).toBeLessThanOrEqual(16 * 1024);
  });

  it('carries no service account token and no service links', async () => {
    const r = await run('sb', 'ls /var/run/secrets/kubernetes.io 2>&1; env | cut -d= -f1 | sort');
    expect(r.stdout).toContain('No such file or directory');
    // enableServiceLinks: false drops every service's variables but the API server's own
    // (KUBERNETES_SERVICE_HOST/PORT are always set); without a token they grant nothing
    const serviceVars = r.stdout.split('\n').filter((l) => /_SERVICE_HOST$|_PORT$/.test(l) && !l.startsWith('KUBERNETES_'));
    expect(serviceVars).toEqual([]);
  });

  it('holds the memory limit (OOM kill) and the per-pod pids limit against a fork flood', async () => {
    const mem = await run('sb', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo survived');
    expect(mem.stdout.split('\n')[0]).toBe(String(128 * 1024 * 1024));
    expect(mem.stdout).not.toContain('survived');
    // kubelet podPidsLimit (512, scripts/kube-up.sh): the pod cannot hold 600 processes. perl forks
    // without bash's minute of retries; the pod has memory enough that pids, not memory, run out.
    await runPod(kc, ns, hardenedPod('forks', { limits: { memory: '512Mi' } }));
    const pids = await execText(kc, ns, 'forks', [
      'perl',
      '-e',
      'my @k; for (1..600) { my $p = fork; last unless defined $p; if (!$p) { sleep 120; exit 0 } push @k, $p } print "started=", scalar(@k), "\n"; kill 9, @k; 1 while wait != -1',
    ]);
    const started = Number(/started=(\d+)/.exec(pids.stdout)?.[1] ?? 'NaN');
    expect(started).toBeGreaterThan(100);
    expect(started).toBeLessThan(512);
  });

  it('evicts a pod that writes past its ephemeral-storage limit', async () => {
    const hog = hardenedPod('disk-hog', {
      limits: { 'ephemeral-storage': '20Mi' },
      volumes: [{ volume: { name: 'scratch', emptyDir: {} }, mountPath: '/scratch' }],
      command: sh('head -c 60M /dev/zero > /scratch/fill; sleep infinity'),
    });
    await core.createNamespacedPod({ namespace: ns, body: hog });
    const end = await waitForPod(kc, ns, 'disk-hog', (p) => p?.status?.phase === 'Failed', 120_000);
    expect(end?.status?.reason).toBe('Evicted');
    expect(end?.status?.message).toMatch(/ephemeral|exceeds|usage/i);
  });

  it('ends a pod at activeDeadlineSeconds, whatever its processes do', async () => {
    const t0 = Date.now();
    await core.createNamespacedPod({ namespace: ns, body: hardenedPod('deadline', { activeDeadlineSeconds: 3, command: sh('trap "" TERM INT HUP; while :; do sleep 1; done') }) });
    const end = await waitForPod(kc, ns, 'deadline', (p) => p?.status?.phase === 'Failed', 60_000);
    expect(end?.status?.reason).toBe('DeadlineExceeded');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    const state = end?.status?.containerStatuses?.[0]?.state;
    expect(state?.terminated ?? state?.waiting).toBeDefined();
  });

  it('deletes dependents with their owner (ownerReferences, garbage collector), in the background and in the foreground', async () => {
    for (const propagationPolicy of ['Background', 'Foreground'] as const) {
      const owner = `owner-${propagationPolicy.toLowerCase()}`;
      const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: owner }, data: { role: 'sandbox unit' } } });
      const ref = [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner, uid: cm.metadata?.uid ?? '', blockOwnerDeletion: true }];
      const deps = [`${owner}-a`, `${owner}-b`];
      for (const d of deps) await core.createNamespacedPod({ namespace: ns, body: hardenedPod(d, { ownerReferences: ref }) });
      await core.deleteNamespacedConfigMap({ name: owner, namespace: ns, propagationPolicy });
      for (const d of deps) await waitForPod(kc, ns, d, (p) => p === undefined, 90_000);
      // the owner goes too: at once in the background; in the foreground once the collector has seen its
      // dependents gone and lifted its finalizer (a moment after the last pod: watched, not read once)
      await waitFor(kc, `/api/v1/namespaces/${ns}/configmaps`, owner, (fieldSelector) => core.listNamespacedConfigMap({ namespace: ns, fieldSelector }), (o) => o === undefined, 30_000);
      await expect(core.readNamespacedConfigMap({ name: owner, namespace: ns })).rejects.toMatchObject({ code: 404 });
    }
  });

  it('connects pod to pod, and keeps pods away from the node and from IPv6 link-local neighbours', async () => {
    const server = await runPod(kc, ns, httpServerPod('web'));
    const ip = server.status?.podIP ?? '';
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const ok = await run('sb', `curl -sS --max-time 10 http://${ip}:8080/`);
    expect(ok.stdout).toBe('hello from web\n');
    // The node (the pods' gateway: kubelet, host services) drops everything from pods.
    const node = (await core.readNode({ name: server.spec?.nodeName ?? '' })).status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    const toNode = await run('sb', `curl -sS --max-time 3 -o /dev/null https://${node}:10250/healthz; echo rc=$?`);
    expect(toNode.stdout).toMatch(/rc=28/); // timed out: dropped, not even refused
    // IPv6 link-local between pods on the bridge is dropped too (the IPv4 rules would not see it)
    const ll = await run('web', "awk '$6 == \"eth0\" && substr($1,1,4) == \"fe80\" {print $1}' /proc/net/if_inet6");
    const hex = ll.stdout.trim();
    expect(hex).toMatch(/^fe80[0-9a-f]{28}$/);
    const addr = (hex.match(/.{4}/g) ?? []).join(':');
    const v6 = await run('sb', `curl -sS --max-time 3 -g "http://[${addr}%25eth0]:8080/"; echo rc=$?`);
    expect(v6.stdout).toMatch(/rc=28/);
  });
});

