import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KLABEL } from '../../src/runtime/kubernetes/names.js';
import { kubeClient, kubeSkipReason, listUnitObjects, testNamespace, testNamespaceName } from './support/kube.js';
import { eventually, unitLeftovers } from './support/runtime.js';

/**
 * The real `warden` CLI (bin/warden.js, the built dist) with WARDEN_RUNTIME=kubernetes, as a user runs
 * it after `bash scripts/kube-up.sh`: exit codes, output, streaming, stdin, files in and out, the
 * hardened pod, and nothing left behind. Only the environment says "Kubernetes"; the commands are the
 * ones the Docker tests run.
 */
const skip = kubeSkipReason();
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** When each stdout chunk arrived (ms since the start), with its text. */
  chunks: Array<{ at: number; text: string }>;
}

describe.skipIf(skip)(`the warden CLI on Kubernetes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const namespace = skip ? '' : testNamespaceName('cli');
  const instance = `cli${Date.now().toString(36)}`;
  const env = (): Record<string, string> => ({
    ...(process.env as Record<string, string>),
    WARDEN_RUNTIME: 'kubernetes',
    KUBECONFIG: inject('kubeconfig'),
    WARDEN_KUBE_NAMESPACE: namespace,
    WARDEN_KUBE_CREATE_NAMESPACE: '0',
    WARDEN_INSTANCE: instance,
    WARDEN_IMAGE_TAG: inject('kubeImageTag'),
    WARDEN_LOG_LEVEL: 'error',
  });
  const warden = (args: string[], input?: string): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const child = spawn(process.execPath, ['bin/warden.js', ...args], { cwd: ROOT, env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
      const chunks: Ran['chunks'] = [];
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => chunks.push({ at: Date.now() - t0, text: d.toString() }));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: chunks.map((c) => c.text).join(''), stderr, chunks }));
      child.stdin.end(input ?? '');
    });
  /** Everything of this instance in the namespace, sandboxes' companions and owner links included. */
  const everything = (): Promise<string[]> => listUnitObjects(namespace, `${KLABEL.instance}=${instance}`);

  beforeAll(async () => {
    await testNamespace(kubeClient().kc, 'cli');
  }, 120_000);
  afterAll(async () => {
    await kubeClient().core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }, 120_000);

  it("`warden run -- sh -c 'echo hi; exit 3'` prints the output and exits 3, and leaves nothing", async () => {
    const r = await warden(['run', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toContain('oops\n');
    expect(r.code).toBe(3);
    // the sandbox and its owner link (a Job, removed by the TTL controller once the CLI let go of it)
    await eventually('nothing of the run is left', async () => (await everything()).length === 0, 60_000);
  });

  it('create, ps, exec with streaming and stdin, cp in and out, the pod hardened, rm leaves nothing', async () => {
    const created = await warden(['create', '--memory', '256m']);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^sbx-[0-9a-f]{12}$/);
    try {
      const ps = await warden(['ps']);
      expect(ps.stdout).toContain(id);
      expect(ps.stdout).toContain('running');

      // the pod as Kubernetes holds it: the "restricted" profile, read-only root, limits
      const pod = await kubeClient().core.readNamespacedPod({ name: id, namespace });
      const c = pod.spec!.containers.find((x) => x.name === 'sandbox') ?? pod.spec!.containers[0]!;
      expect(pod.spec?.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.spec?.automountServiceAccountToken).toBe(false);
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(pod.spec?.securityContext?.seccompProfile?.type ?? c.securityContext?.seccompProfile?.type).toMatch(/Localhost|RuntimeDefault/);
      expect(c.resources?.limits).toMatchObject({ memory: expect.any(String), cpu: expect.any(String), 'ephemeral-storage': expect.any(String) });

      // seen from inside: no capabilities, no new privileges, seccomp filtering, read-only root, not root
      const inside = await warden(['exec', id, '--', 'sh', '-c', 'id -u; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; touch /x 2>/dev/null || echo ro']);
      expect(inside.code).toBe(0);
      expect(inside.stdout).toMatch(/^1000\nCapEff:\s+0000000000000000\nNoNewPrivs:\s+1\nSeccomp:\s+2\nro\n$/);

      // streaming: the first line arrives while the command still runs
      const streamed = await warden(['exec', id, '--', 'sh', '-c', 'echo first; sleep 2; echo second; exit 7']);
      expect(streamed.code).toBe(7);
      expect(streamed.stdout).toBe('first\nsecond\n');
      const first = streamed.chunks.find((ch) => ch.text.includes('first'))!;
      const last = streamed.chunks.at(-1)!;
      expect(last.at - first.at).toBeGreaterThan(1500);

      // stdin through, to its end
      const piped = await warden(['exec', '-i', id, '--', 'sh', '-c', 'wc -c; echo done'], 'x'.repeat(100_000));
      expect(piped.stdout).toBe('100000\ndone\n');

      // files in and out (tar through exec, as the sandbox user)
      const dir = mkdtempSync(join(tmpdir(), 'warden-kube-cli-'));
      writeFileSync(join(dir, 'in.txt'), 'data in\n');
      expect((await warden(['cp', join(dir, 'in.txt'), `${id}:/workspace/in.txt`])).code).toBe(0);
      expect((await warden(['exec', id, '--', 'sh', '-c', 'tr a-z A-Z < /workspace/in.txt > /workspace/out.txt; stat -c %u /workspace/out.txt'])).stdout).toBe('1000\n');
      const out = await warden(['cp', `${id}:/workspace/out.txt`, join(dir, 'out.txt')]);
      expect(out.code, out.stderr).toBe(0);
      expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('DATA IN\n');
      // outside the sandbox's roots: refused with a coded error, as on Docker
      const refused = await warden(['cp', join(dir, 'in.txt'), `${id}:/etc/in.txt`]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/PATH_REFUSED|refused|outside/i);
    } finally {
      const rm = await warden(['rm', '--force', id]);
      expect(rm.code, rm.stderr).toBe(0);
    }
    expect(await unitLeftovers(kubeClient().kc, namespace, id)).toEqual([]);
    await eventually('nothing of the instance is left', async () => (await everything()).length === 0, 60_000);
  });

  it('an unknown sandbox is a coded error with exit code and message, not a crash', async () => {
    const r = await warden(['exec', 'sbx-000000000000', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SANDBOX_NOT_FOUND|not found/i);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });
});
