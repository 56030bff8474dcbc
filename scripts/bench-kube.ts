/**
 * The Kubernetes backend against raw kubectl on the same cluster, in the same run, interleaved (load from
 * other work on the machine falls on both alike); medians and ratios:
 *   - pod create -> first output: Warden's create of a hardened unit + an exec printing a line, against
 *     `kubectl run` of a pod under the same "restricted" securityContext, `kubectl wait` until Ready and
 *     `kubectl exec` printing that line (each kubectl a process, as a user runs them);
 *   - exec round trip: `sh -c 'exit 0'` through Warden's exec (in process, and the `warden exec` CLI),
 *     against `kubectl exec` (a process, as Warden's CLI is);
 *   - stream throughput: 256 MiB of stdout through Warden's exec, against `kubectl exec`.
 * Needs a cluster (bash scripts/kube-up.sh), kubectl, and Warden's images on the node
 * (WARDEN_RUNTIME=kubernetes warden images build). Run: npm run bench:kube [-- --runs 5]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { runtimeSettingsFromEnv } from '../src/config/runtime.js';
import { wardenImage } from '../src/images/catalog.js';
import { createLogger } from '../src/log.js';
import { LOCAL_KUBECONFIG } from '../src/runtime/kubernetes/options.js';
import { createRuntime } from '../src/runtime/select.js';
import { testPlan } from '../test/kube/support/plan.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('--runs', 5);
const EXECS = arg('--execs', 15);
const STREAM_MIB = arg('--mib', 256);
const bin = fileURLToPath(new URL('../bin/warden.js', import.meta.url));

process.env.KUBECONFIG ??= LOCAL_KUBECONFIG;
const namespace = `warden-bench-${randomBytes(3).toString('hex')}`;
const instance = `bench${randomBytes(2).toString('hex')}`;
const env = { ...process.env, WARDEN_RUNTIME: 'kubernetes', WARDEN_KUBE_NAMESPACE: namespace, WARDEN_INSTANCE: instance, WARDEN_LOG_LEVEL: 'error' };
const image = wardenImage('sandbox');

/** Runs a process; resolves with the ms until its first stdout byte, until its end, and the bytes it wrote. */
function proc(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = env): Promise<{ firstMs: number; totalMs: number; bytes: number; code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
    const child = spawn(cmd, args, { env: extraEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstMs = -1;
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (firstMs < 0) firstMs = ms();
      bytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ firstMs, totalMs: ms(), bytes, code: code ?? -1, stderr }));
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** The securityContext the "restricted" profile asks for, as Warden's pods carry it. */
const restricted = (name: string, command: string[]) =>
  JSON.stringify({
    apiVersion: 'v1',
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name,
          image,
          imagePullPolicy: 'Never',
          command,
          stdin: true,
          stdinOnce: true,
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '64Mi' } },
        },
      ],
    },
  });

async function main(): Promise<void> {
  const rt = createRuntime({ ...runtimeSettingsFromEnv(env), logger: createLogger('warn'), labels: { 'warden.instance': instance }, owner: 'bench@local' });
  const plan = () => testPlan({ instance, owner: rt.owner.link, image, lifetime: 'ephemeral' });
  const kubectl = (...args: string[]) => proc('kubectl', ['-n', namespace, ...args]);
  try {
    // warm up: the namespace, its canary and this process's owner link exist before any timing
    const warm = await rt.create(plan());
    await rt.remove(warm.id);

    // 1. pod create -> first output
    const createW: number[] = [];
    const createK: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint();
      const u = await rt.create(plan());
      const h = await rt.exec(u.id, { cmd: ['echo', 'hi'], env: {}, user: '0:0', stdin: false });
      await new Promise<void>((res) => h.stdout.once('data', () => res()));
      createW.push(Number(process.hrtime.bigint() - t0) / 1e6);
      h.stdout.resume();
      h.stderr.resume();
      await h.wait();
      await rt.remove(u.id);
      // raw: the same steps by hand: kubectl run (a hardened pod), wait until Ready, kubectl exec echo
      const name = `raw-${randomBytes(3).toString('hex')}`;
      const k0 = process.hrtime.bigint();
      const r = await kubectl('run', name, '--restart=Never', `--image=${image}`, `--overrides=${restricted('c', ['sleep', '3600'])}`);
      if (r.code !== 0) throw new Error(`kubectl run failed: ${r.stderr}`);
      await kubectl('wait', '--for=condition=Ready', `pod/${name}`, '--timeout=120s');
      const e = await kubectl('exec', name, '--', 'echo', 'hi');
      createK.push(Number(process.hrtime.bigint() - k0) / 1e6 - e.totalMs + e.firstMs);
      await kubectl('delete', 'pod', name, '--grace-period=0', '--wait=false');
    }

    // 2. exec round trip, 3. stream throughput: one unit and one raw pod
    const u = await rt.create({ ...plan(), lifetime: 'persistent' });
    const raw = `raw-${randomBytes(3).toString('hex')}`;
    const made = await kubectl('run', raw, '--restart=Never', `--image=${image}`, `--overrides=${restricted('c', ['sleep', '3600'])}`);
    if (made.code !== 0) throw new Error(`kubectl run failed: ${made.stderr}`);
    await kubectl('wait', '--for=condition=Ready', `pod/${raw}`, '--timeout=120s');
    const execW: number[] = [];
    const execCli: number[] = [];
    const execK: number[] = [];
    for (let i = 0; i < EXECS; i++) {
      const t0 = process.hrtime.bigint();
      const h = await rt.exec(u.id, { cmd: ['sh', '-c', 'exit 0'], env: {}, user: '0:0', stdin: false });
      h.stdout.resume();
      h.stderr.resume();
      await h.wait();
      execW.push(Number(process.hrtime.bigint() - t0) / 1e6);
      execCli.push((await proc(process.execPath, [bin, 'exec', u.id, '--', 'sh', '-c', 'exit 0'])).totalMs);
      execK.push((await kubectl('exec', raw, '--', 'sh', '-c', 'exit 0')).totalMs);
    }
    const bytes = STREAM_MIB * 1024 * 1024;
    const streamW: number[] = [];
    const streamK: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      const h = await rt.exec(u.id, { cmd: ['head', '-c', String(bytes), '/dev/zero'], env: {}, user: '0:0', stdin: false });
      let got = 0;
      h.stdout.on('data', (d: Buffer) => (got += d.length));
      h.stderr.resume();
      await h.wait();
      if (got !== bytes) throw new Error(`warden exec carried ${got} of ${bytes} bytes`);
      streamW.push(bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
      const k = await kubectl('exec', raw, '--', 'head', '-c', String(bytes), '/dev/zero');
      if (k.bytes !== bytes) throw new Error(`kubectl exec carried ${k.bytes} of ${bytes} bytes`);
      streamK.push(bytes / 1e6 / (k.totalMs / 1000));
    }
    await rt.remove(u.id);
    await kubectl('delete', 'pod', raw, '--grace-period=0', '--wait=false');

    const row = (name: string, w: number, k: number, unit: string, higherIsBetter = false): void =>
      console.log(`${name.padEnd(44)}${w.toFixed(0).padStart(10)}${k.toFixed(0).padStart(10)}  ${unit.padEnd(5)}${(higherIsBetter ? w / k : w / k).toFixed(2).padStart(8)}x`);
    console.log(`\nKubernetes backend vs raw kubectl, same cluster, interleaved; medians (create ${RUNS}, exec ${EXECS}, stream 3 x ${STREAM_MIB} MiB)`);
    console.log(`${'case'.padEnd(44)}${'warden'.padStart(10)}${'kubectl'.padStart(10)}  ${'unit'.padEnd(5)}${'ratio'.padStart(9)}`);
    row('pod create -> first output', median(createW), median(createK), 'ms');
    row('exec round trip (SDK, in process)', median(execW), median(execK), 'ms');
    row('exec round trip (warden exec CLI process)', median(execCli), median(execK), 'ms');
    row('stream throughput (stdout)', median(streamW), median(streamK), 'MB/s', true);
    console.log('ratio: warden / kubectl (time: lower is better; MB/s: higher is better)');
  } finally {
    await rt.panic({ instance }).catch(() => undefined);
    await (rt as { close?(): Promise<void> }).close?.();
    await proc('kubectl', ['delete', 'namespace', namespace, '--wait=false']);
  }
}

await main();
process.exit(0);
