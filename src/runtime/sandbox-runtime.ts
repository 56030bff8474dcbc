import type { Readable, Writable } from 'node:stream';
import type { HardeningProfile } from '../policy/hardening.js';

/**
 * The runtime contract (issue 16): what Warden needs from a backend, in Warden's intent. A backend makes
 * and controls **sandbox units**: one sandbox and everything made for it (its egress proxy, its preview
 * publisher, its workspace volume, its network), created, found, stopped and removed together. Nothing
 * here names a container, network, volume, rename, label or attached stdin: those are how the Docker
 * backend does it (runtime/docker), and Kubernetes (pods, NetworkPolicy, ownerReferences, leases) or
 * Azure Container Instances (container groups, tags) do it their own way.
 *
 * Guest-level operations (the guard's exec holder, tree kill, files through `guest/files.sh`, stats) are
 * built ABOVE this line on `exec` (the guard binary is in every unit at `GUEST_DIR`, however the backend
 * puts it there), so every backend that can exec gets them the same way.
 *
 * What a backend cannot do it does not declare in `capabilities`; the SDK refuses such a request with
 * `UNSUPPORTED_ON_RUNTIME` naming the capability, and the conformance suite skips (and lists) the tests
 * that need it.
 */
export interface SandboxRuntime {
  /** Which backend: 'docker' | 'gvisor' | 'kubernetes' | 'aci' | 'memory'. */
  readonly kind: RuntimeKind;
  readonly capabilities: ReadonlySet<Capability>;

  /** Facts about the backend; throws ENGINE_UNAVAILABLE when it does not answer. */
  info(): Promise<RuntimeInfo>;

  /**
   * Make everything the plan asks for and start it: the sandbox with its hardening, caps, mounts and
   * workspace; for `egress.mode: 'allowlist'` its egress proxy and whatever confines its traffic to it;
   * for `preview` ports the way the host reaches them. Resolves once the unit runs (and its proxy
   * listens). All or nothing: on any failure nothing it made is left. `KEY_TAKEN` when `plan.key` already
   * has a unit (one unit per key, atomically, whoever calls: the backend's own lock), `NAME_CONFLICT`
   * when `plan.name` is taken.
   */
  create(plan: SandboxPlan): Promise<Unit>;
  /** A unit by Warden id, name or key; undefined when there is none. Never throws for a missing unit. */
  find(ref: UnitRef): Promise<Unit | undefined>;
  /** Units matching every field of the selector, newest first. */
  list(sel: UnitSelector): Promise<Unit[]>;

  /**
   * Start a stopped unit again with its writable areas (capability 'resume'), relinked to `owner` (for
   * an ephemeral unit: the new owner's death ends it). Without 'resume', `ensure` recreates the unit with
   * the same id and its kept workspace instead.
   */
  resume(id: string, owner: OwnerLink): Promise<Unit>;
  /** Graceful stop: SIGTERM to every process, up to `graceMs` for them to end, then everything ends. Companions stop too. */
  stop(id: string, graceMs: number): Promise<void>;
  /** Everything of the unit ends at once (SIGKILL). Resolves when nothing of it runs. */
  kill(id: string): Promise<void>;
  /** Remove the unit and everything made for it (the workspace too unless `keepWorkspace`). Safe to call twice. */
  remove(id: string, opts?: { keepWorkspace?: boolean }): Promise<void>;

  /**
   * Hand a warm pool member to a key: afterwards `find({ key })` returns it, atomically (two claims of one
   * member or of one key: one wins, the other gets KEY_TAKEN / SANDBOX_NOT_FOUND). Docker: a rename (the
   * engine's name uniqueness); Kubernetes: an update with resourceVersion.
   */
  claim(memberId: string, key: string, owner: OwnerLink): Promise<Unit>;
  /**
   * A warm pool member is complete (its template's readiness passed): from now on `claim` may hand it
   * out and `Unit.pool.ready` is true. Until then no claim takes it, so nobody gets a half-made member.
   * Docker: a rename from `warden-prep-…` to `warden-pool-…`; Kubernetes/ACI: a label or tag update.
   */
  markPoolReady(memberId: string): Promise<void>;

  /**
   * Start a process in the unit as `user` (Warden passes '0:0' and runs the guard, which drops to the
   * workload user). A backend without 'guard' has no separate guard identity: there '0:0' means "the
   * guard's identity", which is the workload user, and the guard runs unprivileged (it cannot drop and
   * need not); any user but those two is refused with UNSUPPORTED_ON_RUNTIME. stdout and stderr apart with backpressure (one merged stream with `tty`), stdin when
   * asked (end() closes it, capability 'stdinEof'), the exit code from `wait()` (-1 when the backend
   * cannot tell, e.g. a lost connection). Closing the handle does not stop the process: the tree kill
   * above does.
   */
  exec(id: string, req: ExecRequest): Promise<ExecHandle>;
  /** Start a process with no streams and return at once. */
  execDetached(id: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void>;

  /** What the unit's main process wrote (the guard writes only why it ended a sandbox), last `tail` lines. */
  logs(id: string, opts: { tail?: number; follow?: boolean }): Promise<Readable>;
  /** What the unit's egress proxy logged: one JSON audit line each (see egress/proxy.ts). Empty without egress. */
  egressLog(id: string): Promise<string>;
  /** The last preview connection event (the idle policy's "preview activity"); undefined without preview. */
  previewActivity(id: string): Promise<{ at: number; open: number } | undefined>;

  /**
   * Ephemeral units die with their owner. `owner.link` names this process's link; the backend makes
   * sure that when the process dies (even kill -9, with no Warden left) its ephemeral units and all
   * made for them are removed within seconds (Docker: the guard's stdin link + a reaper container;
   * Kubernetes: a lease the owner renews + the pod's own deadline; ACI: a lease tag + a sweep).
   * `release` drops this process's links (a planned exit that keeps the units, or one unit).
   */
  readonly owner: OwnerSession;

  /** Leftovers of dead owners and companions whose sandbox is gone; exited units too when `stopped`. Says what. */
  prune(sel: UnitSelector & { stopped?: boolean }): Promise<PruneResult>;
  /** Emergency stop: every unit matching the selector and all made for them, removed now, in parallel. */
  panic(sel: UnitSelector): Promise<PanicResult>;

  /** Whether an image the plan names exists where the backend runs units (and Warden's guest code for it). */
  imageExists(ref: string): Promise<boolean>;

  /**
   * The backend's own checks for `warden doctor` beyond `info()` (Docker: cgroups, runtimes, whether the
   * host has an address on sandbox networks; Kubernetes: NetworkPolicy enforcement, RBAC). Optional.
   */
  diagnose?(): Promise<RuntimeCheck[]>;
}

/** One line of `warden doctor`: what was checked, whether it holds, and how to fix it. */
export interface RuntimeCheck {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
  /** Not needed for Warden to work (e.g. gVisor). */
  optional?: boolean;
}

export type RuntimeKind = 'docker' | 'gvisor' | 'kubernetes' | 'aci' | 'memory';

/**
 * What a backend can do beyond the contract every backend meets (lifecycle, exec with exit codes,
 * the record and labels, panic). Each capability names a behaviour the conformance suite checks.
 */
export type Capability =
  | 'hostMounts' //        bind host directories (workspace, config dir, mounts)
  | 'workspaceVolume' //   a workspace that outlives stop and refresh, seeded from the image
  | 'resume' //            start a stopped unit again with its writable areas
  | 'pause' //             freeze and thaw a unit
  | 'gvisor' //            a user-space kernel under the sandbox
  | 'egressNone' //        network 'none': nothing outside the unit is reachable (a backend whose units always have a way out cannot declare it)
  | 'egressAllowlist' //   traffic only through the unit's own proxy (allowlist, keyless credentials)
  | 'egressOpen' //        network 'open'
  | 'preview' //           container ports published to the host (sandbox.url)
  | 'tty' //               exec on a terminal, with resize
  | 'stdinEof' //          closing an exec's stdin is seen as EOF inside
  | 'ownerLink' //         the dead-man switch holds with Warden dead (kill -9 of the owner)
  | 'maxRuntime' //        the unit ends at its max runtime without Warden
  | 'diskQuota' //         the workspace is capped
  | 'pidsLimit' //         the process count is capped per unit
  | 'guard' //             Warden's guard is PID 1 and holds every exec (exec timeouts and tree kill inside)
  | 'hardening' //         the HardeningProfile is enforced as seen from inside (uid, caps, no-new-privs, read-only root, seccomp)
  | 'stats'; //            cgroup figures readable from inside (CPU, memory, pids)

export interface RuntimeInfo {
  kind: RuntimeKind;
  /** e.g. 'Docker Engine 20.10.24 (API 1.41)', 'Kubernetes v1.36.3', 'Azure Container Instances 2023-05-01'. */
  version: string;
  /** CPUs and memory a single unit can at most have (create refuses more before making anything). */
  cpus: number;
  memoryBytes: number;
  /** Details for `warden doctor` (kernel, cgroup version, runtimes, storage driver, namespace ...). */
  details: Record<string, string>;
}

/**
 * How a unit is found: one of its Warden id, its name, its key, or the backend's own identifier as
 * its tools show it (a Docker container id or container name, a pod name), so `warden exec <that>` works.
 */
export type UnitRef = { id: string } | { name: string } | { key: string } | { backendId: string };

export interface UnitSelector {
  /** The Warden instance (tenant scope): always given by the SDK; `'*'` for the engine's admin view. */
  instance: string;
  owner?: string;
  key?: string;
  lifetime?: 'ephemeral' | 'persistent';
  state?: UnitState;
  /** Short labels every unit must carry (the user's spec labels, a project). */
  labels?: Record<string, string>;
  /** Warm pool members of this pool id only / no pool members (undefined: both). */
  pool?: string | false;
}

/** Runtime-neutral states (Docker's created/restarting/removing/dead fold into these). */
export type UnitState = 'creating' | 'running' | 'paused' | 'stopped' | 'failed' | 'removing';

/** A unit as the backend sees it now. */
export interface Unit {
  /** Warden's id (`sbx-…`), stable across refresh and resume. */
  id: string;
  name: string;
  key?: string;
  state: UnitState;
  /** The typed record written at create (one schema, one reader: policy/record.ts). */
  record: SandboxRecord;
  /** The short labels (user's and Warden's selection keys). */
  labels: Record<string, string>;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  /** The sandbox (or one of its processes) hit its memory cap. */
  oomKilled?: boolean;
  /** Where the host reaches each preview port (none while stopped). */
  ports: Array<{ containerPort: number; url: string; hostIp: string; hostPort: number }>;
  /** The image's own health check, when it has one. */
  healthCheck?: { status: string; failingStreak: number; lastOutput?: string };
  /** The warm pool this unit is an unclaimed member of (and whether it is ready to hand out). */
  pool?: { id: string; ready: boolean };
  /** The backend's own identifier (Docker container id, pod uid, container group id), for `inspect`. */
  backendId: string;
  /** The backend's own view, opaque above this line (shown by `warden inspect`). */
  details?: Record<string, unknown>;
  /**
   * The environment the unit was made with (`find` only; list may leave it out). The record keeps env
   * names only; `refresh` recreates a unit with these values. Undefined when the backend cannot read
   * them back.
   */
  env?: Record<string, string>;
}

/**
 * Everything Warden writes about a sandbox that is longer than a label value may be (Kubernetes: 63
 * characters of [A-Za-z0-9_.-]). One typed record, stored by the backend in one place (Docker: one
 * label `warden.record`; Kubernetes: an annotation; ACI: a tag), parsed by one zod schema.
 */
export interface SandboxRecord {
  version: 1;
  id: string;
  /** The spec as given (env values left out: they live only in the unit's environment). */
  spec: Record<string, unknown>;
  owner: string;
  instance: string;
  key?: string;
  lifetime: 'ephemeral' | 'persistent';
  createdAt: string;
  policyHash: string;
  user: { uid: number; gid: number };
  refresh?: { count: number; last: string; reason: string };
  /** A warm pool's spec signature (members only). */
  poolSignature?: string;
}

/** Link between a unit and the process that owns it (ephemeral units die with it). */
export interface OwnerLink {
  /** Unique per owning process (never shared by two live processes). */
  link: string;
  /** The owner's human name (`user@host`, `warden-server@host`), label warden.owner. */
  owner: string;
}

export interface OwnerSession {
  /** This process's link. */
  readonly link: OwnerLink;
  /** Units this process holds a link to. */
  linked(): string[];
  /** Drop the links (all, or one unit's): the units are left running and no longer end with this process. */
  release(id?: string): void;
}

/** A sandbox to make, fully resolved: no defaults left for the backend to choose. */
export interface SandboxPlan {
  id: string;
  /** The unit's name (unique per instance); a keyed unit's name is derived from its key. */
  name: string;
  key?: string;
  image: string;
  /** Labels to select by (short values); the backend adds its own. */
  labels: Record<string, string>;
  record: SandboxRecord;
  owner: OwnerLink;
  lifetime: 'ephemeral' | 'persistent';
  hardening: HardeningProfile;
  /** The guard's PID 1 command (max runtime, owner link, disk quota) — see guest/argv.ts. */
  init: string[];
  env: Record<string, string>;
  workdir: string;
  resources: { memoryBytes: number; nanoCpus: number; pids: number; tmpBytes: number; homeBytes: number; diskBytes?: number };
  workspace: { kind: 'host'; path: string } | { kind: 'volume'; seedFromImage: boolean } | { kind: 'tmpfs'; sizeBytes: number };
  /** Host paths (capability 'hostMounts'): config dir (read-only) and extra mounts. */
  mounts: Array<{ source: string; target: string; readOnly: boolean }>;
  egress:
    | { mode: 'none' }
    | { mode: 'open' }
    | {
        mode: 'allowlist';
        /** The proxy's policy (egress/policy.ts): presets, patterns, credential routes, extra hosts, CA. */
        presets: string[];
        allow: string[];
        credentials: string[];
        addHosts: Record<string, string>;
        caFile?: string;
        /** Secrets the proxy holds for keyless credentials (never in the sandbox). */
        secrets: Record<string, string>;
      };
  /** Container ports the host reaches (capability 'preview'). */
  preview: Array<{ containerPort: number; hostIp: string; hostPort?: number }>;
  /** 'runsc' (capability 'gvisor'). */
  isolation?: 'gvisor';
  /**
   * The unit's max runtime, also inside `init` for the guard. A backend whose guard cannot enforce it
   * against the workload (Kubernetes: one uid in the pod) enforces it with its own mechanism
   * (`activeDeadlineSeconds`), and needs the figure, not an argv to parse.
   */
  maxRuntimeMs?: number;
  /** An image's health check, run by the guard as the workload user. */
  healthCheck?: boolean;
  /** A warm pool member: its pool id and spec signature. */
  pool?: { id: string; signature: string };
}

export interface ExecRequest {
  cmd: string[];
  env: Record<string, string>;
  /** '0:0' for the guard (the usual case), or uid:gid. */
  user: string;
  cwd?: string;
  stdin: boolean;
  /** A terminal of this size (capability 'tty'): stdout carries the terminal's bytes, stderr is empty. */
  tty?: { cols: number; rows: number };
}

export interface ExecHandle {
  stdout: Readable;
  stderr: Readable;
  /** Present when stdin was asked for; end() closes it. */
  stdin?: Writable;
  /** The exit code once the process ended and its output is drained; -1 when the backend cannot tell. */
  wait(): Promise<number>;
  /** Resize the exec's terminal (tty execs). */
  resize?(cols: number, rows: number): Promise<void>;
  /** Drop the connection (the process goes on). */
  detach(): void;
}

export interface PruneResult {
  sandboxes: string[];
  /**
   * Other objects removed, each `<kind> <name>` (kind first, one word: `container warden-egress-…`,
   * `network warden-net-…`, `volume …`, `pod …`), so people can read it and the SDK can count by kind.
   */
  other: string[];
  errors: string[];
  durationMs: number;
}

export interface PanicResult {
  sandboxes: number;
  other: number;
  /** Everything removed, counted by the backend's own kinds (Docker: container, network, volume, shim). */
  removed?: Record<string, number>;
  /** Units still present afterwards (0 means done). */
  left: number;
  errors: string[];
  durationMs: number;
}
