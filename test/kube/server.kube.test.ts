import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { KLABEL } from '../../src/runtime/kubernetes/names.js';
import { kubeClient, kubeRunId, kubeSkipReason, testNamespace, testNamespaceName } from './support/kube.js';
import { eventually } from './support/runtime.js';
import { wardenObjects } from './faults/support.js';

/**
 * The real server process (`warden up`, the built CLI) with WARDEN_RUNTIME=kubernetes: the HTTP API
 * unchanged on pods. Create, exec (exit code, stdout and stderr apart, stdin, a timeout), files in and
 * out with the path rules, list, stop and remove, through the server's socket; nothing left after.
 */
const skip = kubeSkipReason();

describe.skipIf(skip)(`the HTTP API server on Kubernetes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const namespace = skip ? '' : testNamespaceName('server');
  const instance = `srv${Date.now().toString(36)}`;
  let srv: ServerProcess;
  beforeAll(async () => {
    await testNamespace(kubeClient().kc, 'server');
    srv = await startServerProcess({
      instance,
      run: kubeRunId(),
      env: { WARDEN_RUNTIME: 'kubernetes', KUBECONFIG: inject('kubeconfig'), WARDEN_KUBE_NAMESPACE: namespace, WARDEN_KUBE_CREATE_NAMESPACE: '0', WARDEN_IMAGE_TAG: inject('kubeImageTag') },
    });
  }, 120_000);
  afterAll(async () => {
    await srv?.stop();
    await kubeClient().core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }, 120_000);

  it('creates a sandbox, runs commands, moves files, lists, stops and removes it, and leaves nothing', async () => {
    const c = await srv.call('POST', '/api/v1/sandboxes', { lifetime: 'persistent', resources: { memory: '256m', cpus: 0.5 }, env: { TOKEN_X: 'secret-value' } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id: string = c.body.sandbox.id;
    try {
      expect(c.body.sandbox.state).toBe('running');
      // the pod is there, in the server's namespace, of its instance
      expect((await kubeClient().core.readNamespacedPod({ name: id, namespace })).metadata?.labels?.[KLABEL.instance]).toBe(instance);

      const r = await srv.call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'echo out; echo err >&2; read x; echo "got $x $TOKEN_X $(id -u)"; exit 7'], stdin: 'hello\n' });
      expect(r.body).toMatchObject({ exitCode: 7, stdout: 'out\ngot hello secret-value 1000\n', stderr: 'err\n' });
      const t0 = Date.now();
      const t = await srv.call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['sh', '-c', 'sleep 30; echo never'], timeoutMs: 1000 });
      expect(t.body).toMatchObject({ killedBy: 'timeout' });
      expect(Date.now() - t0).toBeLessThan(20_000);

      expect((await srv.call('PUT', `/api/v1/sandboxes/${id}/files`, { files: [{ path: 'src/a.txt', content: 'one\n' }, { path: '/tmp/bin.dat', base64: Buffer.from([0, 1, 2, 255]).toString('base64') }] })).body).toEqual({ written: 2 });
      expect((await srv.call('GET', `/api/v1/sandboxes/${id}/files?path=src/a.txt`)).body.content).toBe('one\n');
      expect((await srv.call('GET', `/api/v1/sandboxes/${id}/files?path=/tmp/bin.dat&encoding=base64`)).body.content).toBe('AAEC/w==');
      expect((await srv.call('GET', `/api/v1/sandboxes/${id}/files?path=/etc/shadow`)).body.error?.code).toBe('PATH_REFUSED');
      expect((await srv.call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['cat', 'src/a.txt'] })).body).toMatchObject({ exitCode: 0, stdout: 'one\n' });

      // the server lists it (it shows its own instance's sandboxes: the pod's labels say which)
      const listed = await srv.call('GET', '/api/v1/sandboxes');
      expect(listed.body.sandboxes.map((s: { id: string }) => s.id), JSON.stringify(listed.body).slice(0, 600)).toContain(id);
      expect((await srv.call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('running');

      const stopped = await srv.call('POST', `/api/v1/sandboxes/${id}/stop`, { timeoutMs: 3000 });
      expect(stopped.body.sandbox?.state, JSON.stringify(stopped.body)).toBe('exited');
      const afterStop = await srv.call('POST', `/api/v1/sandboxes/${id}/exec`, { cmd: ['true'] });
      expect(afterStop.body.error?.code, JSON.stringify(afterStop.body)).toBe('SANDBOX_NOT_RUNNING');
    } finally {
      const removed = await srv.call('DELETE', `/api/v1/sandboxes/${id}`);
      expect(removed.body, JSON.stringify(removed.body)).toMatchObject({ removed: true, sandbox: { state: 'removed' } });
    }
    // the server's record stays (its history), as on Docker; the pod and all it owned are gone
    expect((await srv.call('GET', `/api/v1/sandboxes/${id}`)).body.sandbox.state).toBe('removed');
    await eventually('nothing of the sandbox is left', async () => (await wardenObjects(namespace, `${KLABEL.id}=${id}`)).length === 0, 60_000);
    expect(srv.alive()).toBe(true);
  });

  it('an unknown sandbox and a hostile body are coded errors, and the server lives on', async () => {
    const nf = await srv.call('POST', '/api/v1/sandboxes/sbx-000000000000/exec', { cmd: ['true'] });
    expect(nf.status).toBe(404);
    expect(nf.body.error?.code).toBe('SANDBOX_NOT_FOUND');
    const bad = await srv.call('POST', '/api/v1/sandboxes', { resources: { memory: 'lots' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBeTruthy();
    expect(srv.alive()).toBe(true);
  });
});
