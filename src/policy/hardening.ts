import { wardenSeccompProfile, type SeccompProfile } from './seccomp.js';

/**
 * Everything that confines a container, as data: compiled once from the spec (compile.ts), mapped by
 * each backend (runtime/docker/mapping.ts; its golden tests show every field of the engine's create
 * body, so a change here is always a visible diff).
 *
 * Two identities live in a sandbox. The **guard** (PID 1 and every exec holder, `warden-guard`, root)
 * enforces: it holds the few capabilities below and nothing else. The **workload** (everything the
 * user's commands start) runs as `workloadUser`, a non-root uid with no capabilities at all: the guard
 * drops to it before execve, and under no-new-privileges with empty inheritable and ambient sets the
 * kernel leaves it none. A uid cannot signal or trace processes of another uid without CAP_KILL /
 * CAP_SYS_PTRACE, which is why the workload cannot reach the guard.
 */
export interface HardeningProfile {
  /** uid:gid of the container's main process (and of the engine's exec default). */
  containerUser: string;
  /** The workload's identity, passed explicitly to the guard for every exec; undefined for companions. */
  workloadUser?: { uid: number; gid: number };
  /** Capabilities added to an empty set (all others dropped). */
  capabilities: string[];
  noNewPrivileges: true;
  readOnlyRoot: true;
  /** Warden's own profile (policy/seccomp.ts), inline. */
  seccomp: SeccompProfile;
  /** 'guard': Warden's guard is PID 1 (sandboxes); 'engine': the engine's init runs the main process (companions). */
  init: 'guard' | 'engine';
  /** Hard and soft limits, all 0:0 here (no core dumps: they would land in the workspace with secrets from memory). */
  rlimits: { core: 0 };
  ipc: 'private';
}

/** What the guard needs, and why (docs/ARCHITECTURE.md, security model). */
export const GUARD_CAPABILITIES = [
  'KILL', // signal the workload's processes (another uid): max runtime, exec timeouts, tree kill, drain
  'SETUID', // drop to the workload's uid before execve
  'SETGID', // and to its gid and groups
  'DAC_READ_SEARCH', // walk the workspace for the disk quota although the workload chmods directories away (open_by_handle_at stays blocked by seccomp)
] as const;

/** The profile of a sandbox whose workload runs as `user` (uid 0 only when the spec allows it). */
export function sandboxHardening(user: { uid: number; gid: number }): HardeningProfile {
  return {
    containerUser: '0:0',
    workloadUser: user,
    capabilities: [...GUARD_CAPABILITIES],
    noNewPrivileges: true,
    readOnlyRoot: true,
    seccomp: wardenSeccompProfile(),
    init: 'guard',
    rlimits: { core: 0 },
    ipc: 'private',
  };
}

/** Warden's companion containers (egress proxy, preview forwarder): one non-root uid, no capabilities. */
export function companionHardening(user: string): HardeningProfile {
  return {
    containerUser: user,
    capabilities: [],
    noNewPrivileges: true,
    readOnlyRoot: true,
    seccomp: wardenSeccompProfile(),
    init: 'engine',
    rlimits: { core: 0 },
    ipc: 'private',
  };
}
