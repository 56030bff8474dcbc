import type { Readable } from 'node:stream';
import { WardenError } from '../errors.js';
import { recordSpec } from '../policy/record.js';
import { runInternal } from './internal-exec.js';
import { GUARD, GUEST_SCRIPTS, guardExec } from '../guest/argv.js';
import type { SandboxRuntime, Unit } from '../runtime/sandbox-runtime.js';
import { toSandboxInfo } from './info.js';

/** A sandbox's resource use, read from its own cgroup (fast: one exec, no engine stats round of ~1 s). */
export interface SandboxStats {
  state: string;
  ageMs: number;
  cpuPercent?: number;
  cpuLimitCores?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  memoryPercent?: number;
  /** Processes killed by the OOM killer inside this sandbox so far. */
  oomKills?: number;
  pids?: number;
  pidsLimit?: number;
  processes?: number;
  networkRxBytes?: number;
  networkTxBytes?: number;
  /** Used bytes, size and % of each writable area (tmpfs sizes are the caps; the workspace is its filesystem unless a quota applies). */
  disk: Array<{ path: string; usedBytes: number; sizeBytes: number; percent: number }>;
  /** Bytes under /workspace (du), when it could be counted within 5 s. */
  workspaceBytes?: number;
}

export interface SandboxProcessRow {
  pid: number;
  ppid: number;
  user: string;
  state: string;
  cpuPercent: number;
  rssBytes: number;
  elapsedSeconds: number;
  command: string;
  /** init (pid 1, Warden's guard), keeper (the guard's exec holders) or workload (what commands started). */
  role: 'init' | 'keeper' | 'workload';
}


const num = (s: string | undefined): number | undefined => {
  if (s === undefined || s === '' || s === 'max') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
};

/** Parse the stats script's lines. Pure, unit-tested. */
export function parseStats(out: string, base: Pick<SandboxStats, 'state' | 'ageMs'>): SandboxStats {
  const s: SandboxStats = { ...base, disk: [] };
  for (const line of out.split('\n')) {
    const [k, ...f] = line.trim().split(/\s+/);
    switch (k) {
      case 'cpu': {
        const [u0, t0, u1, t1] = f.map(Number);
        if ([u0, t0, u1, t1].every((x) => Number.isFinite(x)) && t1! > t0!) s.cpuPercent = Math.round(((u1! - u0!) / (t1! - t0!)) * 1000) / 10;
        break;
      }
      case 'quota': {
        const [q, p, max, period2] = f;
        const quota = num(q) ?? num(max);
        const period = num(p) ?? num(period2);
        if (quota && quota > 0 && period) s.cpuLimitCores = quota / period;
        break;
      }
      case 'mem': {
        const [usage, limit, inactive] = f.map(num);
        if (usage !== undefined) s.memoryBytes = Math.max(0, usage - (inactive ?? 0));
        if (limit !== undefined && limit < 2 ** 60) s.memoryLimitBytes = limit;
        if (s.memoryBytes !== undefined && s.memoryLimitBytes) s.memoryPercent = Math.round((s.memoryBytes / s.memoryLimitBytes) * 1000) / 10;
        break;
      }
      case 'oom': {
        const n = num(f[0]);
        if (n !== undefined) s.oomKills = n;
        break;
      }
      case 'pids': {
        const [cur, max] = f.map(num);
        if (cur !== undefined) s.pids = cur;
        if (max !== undefined) s.pidsLimit = max;
        break;
      }
      case 'procs':
        s.processes = num(f[0]);
        break;
      case 'net':
        s.networkRxBytes = num(f[0]);
        s.networkTxBytes = num(f[1]);
        break;
      case 'df': {
        const [path, used, size] = f;
        const u = num(used);
        const z = num(size);
        if (path && u !== undefined && z) s.disk.push({ path, usedBytes: u * 1024, sizeBytes: z * 1024, percent: Math.round((u / z) * 1000) / 10 });
        break;
      }
      case 'du': {
        const n = num(f[0]);
        if (n !== undefined) s.workspaceBytes = n * 1024;
        break;
      }
      default:
    }
  }
  return s;
}

/**
 * Run a reading command through the guard (guest/exec.c) as root, the guard's identity: it only reads
 * (the cgroup, /proc, the workspace's size), and as root it sees into directories the workload made
 * unreadable (the guard's DAC_READ_SEARCH).
 */
async function run(runtime: SandboxRuntime, u: Unit, cmd: string[]): Promise<string> {
  return (await runInternal(runtime, u.id, guardExec(cmd, { uid: 0, gid: 0 }), '0:0', 20_000)).stdout;
}

export async function readStats(runtime: SandboxRuntime, u: Unit): Promise<SandboxStats> {
  const base = { state: toSandboxInfo(u).state, ageMs: Math.max(0, Date.now() - Date.parse(u.record.createdAt)) };
  if (u.state !== 'running') return { ...base, disk: [] };
  return parseStats(await run(runtime, u, ['/bin/sh', GUEST_SCRIPTS.stats]), base);
}

/** Parse `ps -eo pid,ppid,sess,user:32,stat,pcpu,rss,etimes,args`. Pure, unit-tested. */
export function parseProcesses(out: string): SandboxProcessRow[] {
  const rows: SandboxProcessRow[] = [];
  for (const line of out.split('\n').slice(1)) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const session = Number(m[3]);
    const command = m[9]!;
    if (command.startsWith('ps -eo pid,ppid,sess') || (command.startsWith(GUARD) && command.includes(' -- ps -eo pid,ppid,sess'))) continue; // ourselves
    rows.push({
      pid,
      ppid: Number(m[2]),
      user: m[4]!,
      state: m[5]!,
      cpuPercent: Number(m[6]),
      rssBytes: Number(m[7]) * 1024,
      elapsedSeconds: Number(m[8]),
      command,
      // the guard: PID 1 and the holders of execs (root, /.warden/warden-guard); everything else is the workload's
      role: pid === 1 ? 'init' : command.startsWith(`${GUARD} `) || (session === 1 && m[4] === 'root') ? 'keeper' : 'workload',
    });
  }
  return rows;
}

export async function readProcesses(runtime: SandboxRuntime, u: Unit): Promise<SandboxProcessRow[]> {
  if (u.state !== 'running') return [];
  const out = await run(runtime, u, ['ps', '-eo', 'pid,ppid,sess,user:32,stat,pcpu,rss,etimes,args']).catch((err: unknown) => {
    throw new WardenError('EXEC_FAILED', `listing processes needs ps (procps) in the image: ${(err as Error).message}`);
  });
  return parseProcesses(out);
}

export interface HealthThresholds { memoryPercent: number; diskPercent: number; pidsPercent: number }
export const DEFAULT_THRESHOLDS: HealthThresholds = { memoryPercent: 90, diskPercent: 80, pidsPercent: 90 };

export interface SandboxHealth {
  status: 'healthy' | 'unhealthy' | 'starting' | 'stopped';
  reasons: string[];
  /** The image HEALTHCHECK's status and last output, when the image has one. */
  check?: { status: string; failingStreak: number; lastOutput?: string };
  /** Why it stopped, when it did: exited, OOM-killed, max runtime, owner gone... */
  exit?: { code?: number; reason: string };
  stats: SandboxStats;
}

/** Why a stopped sandbox stopped, told apart as far as the engine lets us (OOMKilled is set for any OOM kill). */
export function exitReason(c: Pick<Unit, 'exitCode' | 'oomKilled' | 'startedAt' | 'finishedAt' | 'record'>, log = ''): { code?: number; reason: string } {
  const code = c.exitCode;
  const told = log.split('\n').reverse().find((l) => l.startsWith('warden: stopped: '));
  if (told) return { ...(code === undefined ? {} : { code }), reason: told.slice('warden: stopped: '.length) };
  const spec = recordSpec(c.record);
  const ran = c.startedAt && c.finishedAt ? Date.parse(c.finishedAt) - Date.parse(c.startedAt) : undefined;
  let reason = `exited with code ${code}`;
  if (code === 137 && c.oomKilled) reason = 'the sandbox was OOM-killed (memory cap reached by its main process)';
  else if (c.oomKilled) reason = `stopped (code ${code}); a process in it had been OOM-killed earlier`;
  else if (code === 0 && spec.maxRuntime && ran !== undefined && ran >= spec.maxRuntime - 1500) reason = `reached its maxRuntime of ${Math.round(spec.maxRuntime / 1000)} s`;
  else if (code === 137) reason = 'killed (SIGKILL): stopped, killed, or its owner process died (dead-man switch)';
  return code === undefined ? { reason } : { code, reason };
}

export async function readHealth(runtime: SandboxRuntime, c: Unit, t: HealthThresholds = DEFAULT_THRESHOLDS): Promise<SandboxHealth> {
  const stats = await readStats(runtime, c);
  const check = c.healthCheck;
  if (c.state !== 'running') {
    const exit = exitReason(c, await readAll(await runtime.logs(c.id, { tail: 20 }).catch(() => undefined)));
    return { status: 'stopped', reasons: [exit.reason], exit, stats, ...(check ? { check } : {}) };
  }
  const reasons: string[] = [];
  if (stats.memoryPercent !== undefined && stats.memoryPercent > t.memoryPercent) reasons.push(`memory at ${stats.memoryPercent}% of its cap (threshold ${t.memoryPercent}%)`);
  for (const d of stats.disk) if (d.percent > t.diskPercent) reasons.push(`${d.path} at ${d.percent}% (threshold ${t.diskPercent}%)`);
  if (stats.pids !== undefined && stats.pidsLimit && (stats.pids / stats.pidsLimit) * 100 > t.pidsPercent) reasons.push(`${stats.pids} of ${stats.pidsLimit} pids in use`);
  if (stats.oomKills) reasons.push(`a process was OOM-killed (${stats.oomKills} so far); the sandbox itself is still running`);
  if (check && check.status === 'unhealthy') reasons.push(`image health check failing ${check.failingStreak} times: ${check.lastOutput ?? ''}`.trim());
  const status = reasons.length > 0 ? 'unhealthy' : check?.status === 'starting' ? 'starting' : 'healthy';
  return { status, reasons, stats, ...(check ? { check } : {}) };
}

/** A finite stream's text (a log tail), at most 4000 characters from its end. */
async function readAll(s: Readable | undefined): Promise<string> {
  if (!s) return '';
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8').trim().slice(-4000);
}
