/**
 * How Warden calls its guest code (guest/ in the repository, built into the `warden-guest` image and
 * mounted read-only at /.warden in every sandbox from an engine volume named by its content hash).
 * Only argv builders live here: the programs themselves are real files, linted and tested.
 */
export const GUEST_DIR = '/.warden';
export const GUARD = `${GUEST_DIR}/warden-guard`;
/** The environment mark every exec still carries (the tree kill also finds processes that kept it after their holder ended). */
export const EXEC_MARK = 'WARDEN_EXEC_ID';

export interface GuardExecOptions {
  uid: number;
  gid: number;
  cwd?: string;
  /** The guard kills the command's whole tree at this deadline, Warden alive or not. */
  timeoutMs?: number;
  /** The exec's id: `kill` finds its holder by it. */
  id?: string;
  /** The command gets the exec's pty as its controlling terminal (a Tty exec). */
  tty?: boolean;
}

/** argv of an exec run through the guard (the exec's own user must be 0). */
export function guardExec(argv: string[], o: GuardExecOptions): string[] {
  return [
    GUARD,
    'exec',
    '--uid', String(o.uid),
    '--gid', String(o.gid),
    ...(o.cwd ? ['--cwd', o.cwd] : []),
    ...(o.timeoutMs !== undefined ? ['--timeout-ms', String(Math.max(0, Math.round(o.timeoutMs)))] : []),
    ...(o.id ? ['--id', o.id] : []),
    ...(o.tty ? ['--tty'] : []),
    '--',
    ...argv,
  ];
}

/** argv (run as root) that signals the whole tree of one exec (run as `uid`); prints how many processes. */
export function guardKill(execId: string, signal: string, user: { uid: number; gid: number }): string[] {
  return [GUARD, 'kill', '--id', execId, '--signal', signal.replace(/^SIG/, ''), '--uid', String(user.uid), '--gid', String(user.gid)];
}

/** argv (run as root) that signals every workload process; prints how many. */
export function guardSignalAll(signal: string): string[] {
  return [GUARD, 'signal', '--signal', signal.replace(/^SIG/, '')];
}

/** argv (run as root) that sends `signal` to the guard's init (PID 1): a graceful stop from inside. */
export function guardSignalInit(signal: string): string[] {
  return [GUARD, 'signal', '--signal', signal.replace(/^SIG/, ''), '--init'];
}

/** argv (run as root, ACI) that holds the owner tie init --tie made at `fifo` (guest/tie.c). */
export function guardTie(fifo: string): string[] {
  return [GUARD, 'tie', '--fifo', fifo];
}

/** The PID 1 command of a sandbox. */
export function guardInit(o: { maxRuntimeMs?: number; tied: boolean; diskQuotaBytes?: number; diskIntervalS: number; workspace: string }): string[] {
  return [
    GUARD,
    'init',
    ...(o.maxRuntimeMs !== undefined ? ['--max-runtime', String(Math.max(1, Math.ceil(o.maxRuntimeMs / 1000)))] : []),
    ...(o.tied ? ['--tied'] : []),
    ...(o.diskQuotaBytes ? ['--disk-quota', String(Math.floor(o.diskQuotaBytes / 1024)), '--disk-interval', String(o.diskIntervalS), '--workspace', o.workspace] : []),
  ];
}

/** Guest shell scripts (need /bin/sh in the image; never needed for enforcement). */
export const GUEST_SCRIPTS = { files: `${GUEST_DIR}/files.sh`, stats: `${GUEST_DIR}/stats.sh` } as const;

/** The guest volume's name for an image content hash. */
export function guestVolumeName(hash: string): string {
  return `warden-guest-${hash.slice(0, 16)}`;
}
