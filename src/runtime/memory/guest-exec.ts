import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GUARD, GUEST_DIR } from '../../guest/argv.js';

/** Where the repository's guest scripts are (files.sh, stats.sh), from src/ or dist/ alike. */
const GUEST_SRC = fileURLToPath(new URL('../../../guest/', import.meta.url));

/** A guard call taken apart (see guest/argv.ts for how Warden builds them). */
export type GuardCall =
  | { op: 'exec'; argv: string[]; uid?: number; gid?: number; cwd?: string; timeoutMs?: number; id?: string }
  | { op: 'kill'; id: string; signal: string }
  | { op: 'signal'; signal: string }
  | { op: 'other'; argv: string[] };

/** Read a guard argv (`/.warden/warden-guard exec --uid 1000 ... -- argv`); anything else is run as it is. */
export function parseGuardCall(cmd: string[]): GuardCall {
  if (cmd[0] !== GUARD) return { op: 'other', argv: cmd };
  const [, sub, ...rest] = cmd;
  const opts = new Map<string, string>();
  let i = 0;
  for (; i < rest.length && rest[i] !== '--'; i++) {
    const a = rest[i]!;
    if (a === '--tty') opts.set('tty', '1');
    else if (a.startsWith('--')) opts.set(a.slice(2), rest[++i] ?? '');
  }
  const num = (k: string): number | undefined => (opts.has(k) ? Number(opts.get(k)) : undefined);
  switch (sub) {
    case 'exec': {
      const uid = num('uid');
      const gid = num('gid');
      const timeoutMs = num('timeout-ms');
      return {
        op: 'exec',
        argv: rest.slice(i + 1),
        ...(uid !== undefined ? { uid } : {}),
        ...(gid !== undefined ? { gid } : {}),
        ...(opts.get('cwd') ? { cwd: opts.get('cwd')! } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(opts.get('id') ? { id: opts.get('id')! } : {}),
      };
    }
    case 'kill':
      return { op: 'kill', id: opts.get('id') ?? '', signal: `SIG${opts.get('signal') ?? 'KILL'}` };
    case 'signal':
      return { op: 'signal', signal: `SIG${opts.get('signal') ?? 'TERM'}` };
    default:
      return { op: 'other', argv: cmd };
  }
}

/** The sandbox paths a memory unit keeps under its directory on the host. */
export const SANDBOX_ROOTS = ['/workspace', '/tmp', '/home/agent', '/app/config'];

/**
 * A sandbox path as the memory unit keeps it on the host (`/workspace/x` -> `<dir>/workspace/x`);
 * anything else is left alone (a host path: the memory runtime confines nothing).
 */
export function hostPathOf(dir: string, p: string): string {
  for (const root of SANDBOX_ROOTS) if (p === root || p.startsWith(`${root}/`)) return `${dir}${p}`;
  return p;
}

/**
 * argv as the host runs it: Warden's guest scripts from the repository (their root argument mapped
 * into the unit's directory), everything else as given.
 */
export function hostArgv(dir: string, argv: string[]): string[] {
  const script = argv[0] === '/bin/sh' && argv[1]?.startsWith(`${GUEST_DIR}/`) ? argv[1].slice(GUEST_DIR.length + 1) : undefined;
  if (script === 'files.sh') {
    const [sh, , op, root, ...rest] = argv;
    return [sh!, `${GUEST_SRC}files.sh`, op ?? '', hostPathOf(dir, root ?? ''), ...rest];
  }
  if (script) return [argv[0]!, `${GUEST_SRC}${script}`, ...argv.slice(2)];
  return argv;
}

/** Start a process in its own process group (so a tree kill reaches everything it starts). */
export function startProcess(argv: string[], o: { cwd: string; env: Record<string, string>; stdin: boolean; uid?: number; gid?: number }): ChildProcess {
  // as root, a workload runs as its own uid, as in a real sandbox; otherwise as this process's user
  const drop = process.getuid?.() === 0 && o.uid !== undefined && o.uid !== 0 ? { uid: o.uid, gid: o.gid ?? o.uid } : {};
  return spawn(argv[0]!, argv.slice(1), {
    cwd: o.cwd,
    // a sandbox's PATH, not this process's: nothing of the host's environment leaks into a workload
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...o.env },
    stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
    ...drop,
  });
}

/** Send a signal to a process group; false when it is gone. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
