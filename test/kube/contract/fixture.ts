import type { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { extract } from 'tar-stream';
import { GUEST_SCRIPTS, guardExec, guardKill } from '../../../src/guest/argv.js';
import type { Capability, SandboxPlan, SandboxRuntime, Unit } from '../../../src/runtime/sandbox-runtime.js';
import type { PlanOverrides } from '../support/plan.js';

/**
 * What the contract suites need from a backend: a factory and a few facts. The suites (suites.ts)
 * speak only the SandboxRuntime contract and the guest's argv (as the SDK does above the line), so
 * any backend runs them: Kubernetes here (contract.kube.test.ts); the shared conformance suite of
 * issue 16 can call the same functions with its own fixture.
 */
export interface ContractFixture {
  /** The backend under test, made in the suite's beforeAll. */
  runtime: () => SandboxRuntime;
  /** A plan with the SDK's defaults on this backend (image, instance, this runtime's owner link). */
  plan: (o?: Partial<PlanOverrides>) => SandboxPlan;
  /** Another runtime on the same backend: what a second Warden process sees (its own owner link). */
  second: () => Promise<SandboxRuntime & { close(): Promise<void> }>;
  /** An HTTP server (answering "hello from upstream") that units may be allowed to reach through their proxy. */
  upstream: () => Promise<{ ip: string; port: number }>;
  /** Whatever of a unit still exists in the backend (empty: nothing is left). */
  leftovers: (id: string) => Promise<string[]>;
  /** Waits until `check` holds, awaiting the backend's events where it can (a guard timeout, never a sleep). */
  eventually: <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number) => Promise<T>;
}

export const has = (rt: SandboxRuntime, cap: Capability): boolean => rt.capabilities.has(cap);

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/**
 * Runs argv in a unit as the SDK does: through the guard's exec holder as the unit's workload user,
 * with an exec id (its mark) and an optional deadline; stdin is written and closed when given.
 */
export async function run(
  rt: SandboxRuntime,
  unit: Unit,
  argv: string[],
  o: { stdin?: string | Buffer; timeoutMs?: number; execId?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const { uid, gid } = unit.record.user;
  const execId = o.execId ?? `x${Math.random().toString(16).slice(2, 10)}`;
  const h = await rt.exec(unit.id, {
    cmd: guardExec(argv, { uid, gid, id: execId, ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) }),
    env: { WARDEN_EXEC_ID: execId, ...o.env },
    user: '0:0',
    stdin: o.stdin !== undefined,
  });
  if (o.stdin !== undefined) h.stdin?.end(o.stdin);
  const [stdout, stderr] = await Promise.all([collect(h.stdout), collect(h.stderr)]);
  return { stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), code: await h.wait() };
}

/** `sh -c script` in a unit (see run). */
export const sh = (rt: SandboxRuntime, unit: Unit, script: string, o: Parameters<typeof run>[3] = {}): Promise<RunResult> => run(rt, unit, ['sh', '-c', script], o);

/** Signals one exec's whole tree as the SDK's kill does (guard `kill --id`). */
export async function killExec(rt: SandboxRuntime, unit: Unit, execId: string, signal = 'KILL'): Promise<number> {
  const h = await rt.exec(unit.id, { cmd: guardKill(execId, signal, unit.record.user), env: {}, user: '0:0', stdin: false });
  const out = (await collect(h.stdout)).toString('utf8');
  await collect(h.stderr);
  await h.wait();
  return Number(out.trim() || '0');
}

/** Uploads files (name -> content) into `dir` through the guest's files.sh as the workload user. */
export async function upload(rt: SandboxRuntime, unit: Unit, dir: string, files: Record<string, string>, checks: string[] = []): Promise<RunResult> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o644 }, content);
  p.finalize();
  const tar = await collect(p as unknown as Readable);
  return run(rt, unit, ['sh', GUEST_SCRIPTS.files, 'x', dir, ...checks], { stdin: tar });
}

/** Downloads `dir/target` as a tar through files.sh; returns its entries (name -> content). */
export async function download(rt: SandboxRuntime, unit: Unit, dir: string, target: string, checks: string[] = []): Promise<{ code: number; stderr: string; files: Record<string, string> }> {
  const { uid, gid } = unit.record.user;
  const h = await rt.exec(unit.id, { cmd: guardExec(['sh', GUEST_SCRIPTS.files, 'c', dir, target, ...checks], { uid, gid }), env: {}, user: '0:0', stdin: false });
  const files: Record<string, string> = {};
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: unknown) => void parts.push(d as Buffer));
    stream.on('end', () => {
      if (header.type === 'file') files[header.name] = Buffer.concat(parts).toString('utf8');
      next();
    });
  });
  const done = new Promise<void>((resolve) => ex.on('finish', resolve));
  h.stdout.pipe(ex);
  const stderr = (await collect(h.stderr)).toString('utf8');
  const code = await h.wait();
  if (code === 0) await done;
  return { code, stderr, files };
}
