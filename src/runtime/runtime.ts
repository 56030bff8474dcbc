import type { Readable, Writable } from 'node:stream';
import type { HardeningProfile } from '../policy/hardening.js';

/**
 * The runtime interface: what Warden needs from a container backend, in Warden's own types.
 * Docker implements it now (runtime/docker); Azure Container Instances and Kubernetes can later,
 * without changing callers. Nothing here names a Docker type.
 */
export interface ContainerRuntime {
  readonly kind: string;
  /** Engine facts; throws ENGINE_UNAVAILABLE when it does not answer. */
  info(): Promise<RuntimeInfo>;
  /** Create and start a container. On any failure nothing it made is left behind. */
  create(spec: RuntimeContainerSpec): Promise<RuntimeContainer>;
  /** Start a stopped container; `tiedToOwner` re-links it to this process (see RuntimeContainerSpec). */
  start(id: string, opts?: { tiedToOwner?: boolean }): Promise<void>;
  /** Stop: SIGTERM to PID 1, then SIGKILL after `timeoutMs`. */
  stop(id: string, timeoutMs: number): Promise<void>;
  kill(id: string, signal: string): Promise<void>;
  remove(id: string, opts: { force: boolean }): Promise<void>;
  /** undefined when the container does not exist. */
  inspect(id: string): Promise<RuntimeContainer | undefined>;
  /** Rename a container (atomic on the engine: NAME_CONFLICT when the name is taken, SANDBOX_NOT_FOUND when `ref` is gone). */
  rename(ref: string, name: string): Promise<void>;
  /** Containers carrying every given label (value '' means: label present, any value). */
  list(labels: Record<string, string>): Promise<RuntimeContainer[]>;
  /** Start a process; streams are demultiplexed with backpressure. */
  exec(id: string, req: RuntimeExecRequest): Promise<RuntimeExec>;
  /** Start a process with no streams attached and return at once (no stdin). */
  execDetached(id: string, req: Omit<RuntimeExecRequest, 'stdin'>): Promise<void>;
  /** Extract a tar stream into `dir` (which must exist) inside the container. */
  putArchive(id: string, dir: string, tar: Readable): Promise<void>;
  /** A tar stream of `path` (file or directory) inside the container. */
  getArchive(id: string, path: string): Promise<Readable>;
  /** lstat of one path (symlinks not followed in the last component); undefined when missing. */
  statPath(id: string, path: string): Promise<RuntimePathStat | undefined>;
  imageExists(ref: string): Promise<boolean>;
  /** The last lines the main process wrote (Warden's keeper writes only why it stopped a sandbox). */
  logs(id: string, tail: number): Promise<string>;
  /** The container's log as a stream (stdout and stderr merged): the last `tail` lines (all when undefined), then new lines while `follow`. */
  streamLogs(id: string, opts: { tail?: number; follow: boolean }): Promise<Readable>;
  /** Containers this process holds an owner link to. */
  linked(): string[];
  /** Drop the owner links (all, or one container's): a tied container then stops by itself. */
  unlink(id?: string): void;
  /** All Warden-labelled networks and volumes: ids by kind (for panic and sweeps). */
  listOther(labels: Record<string, string>): Promise<{ networks: string[]; volumes: string[] }>;
  removeNetwork(id: string): Promise<void>;
  /** Create a bridge network; `noHostAddress` leaves the host without an address on it (no gateway). */
  createNetwork(spec: RuntimeNetworkSpec): Promise<RuntimeNetwork>;
  inspectNetwork(nameOrId: string): Promise<RuntimeNetwork | undefined>;
  listNetworks(labels: Record<string, string>): Promise<RuntimeNetwork[]>;
  removeVolume(name: string): Promise<void>;
  /** Volumes carrying every given label, with their labels and creation time. */
  listVolumes(labels: Record<string, string>): Promise<RuntimeVolume[]>;
  /**
   * Make sure the named volume exists and, when it is new, holds the image's content at `target` (what a
   * container mounting it would get), without starting anything. Lets slow seeding run alongside other work.
   */
  seedVolume(spec: { name: string; image: string; target: string; labels: Record<string, string>; /** Of the short-lived helper container. */ helperLabels: Record<string, string> }): Promise<void>;
  /** Kill runtime processes left behind by containers that no longer exist (0 where not possible). */
  reapOrphans(only?: string[]): Promise<number>;
  /** An image's labels; undefined when it is not on the engine. */
  imageLabels(ref: string): Promise<Record<string, string> | undefined>;
  /**
   * Make sure everything carrying `label` (key=value) is removed once this process dies, even by
   * kill -9 and with no Warden process left (Docker: a reaper container tied to this process's life
   * by an attached stdin; see guest/reap.c). Idempotent per label. Throws when the backend cannot.
   */
  armReaper(spec: { label: [string, string]; image: string; labels: Record<string, string> }): Promise<void>;
  /** Reapers of this kind that are alive: the label value each one guards. */
  liveReapers(labelKey: string): Promise<Set<string>>;
}

export interface RuntimeInfo {
  engineVersion: string;
  apiVersion: string;
  os: string;
  kernel: string;
  runtimes: string[];
  defaultRuntime: string;
  cgroupVersion: string;
  storageDriver: string;
  cpus: number;
  memoryBytes: number;
  /** Where the engine keeps its data on its host (Docker: DockerRootDir); no mount may expose it. */
  dataRoot?: string;
}

export interface RuntimeVolume { name: string; labels: Record<string, string>; createdAt?: string }

export interface RuntimeMount {
  /** Host path, or the volume's name when `volume` is set. */
  source: string;
  target: string;
  readOnly: boolean;
  /** A named engine volume (created with these labels when missing, seeded from the image's content at `target`). */
  volume?: { labels: Record<string, string>; /** Do not copy the image's content into a new volume (Warden's guest volume is seeded by seedVolume). */ noCopy?: boolean };
}
export interface RuntimeTmpfs { target: string; sizeBytes: number; mode: string; uid?: number; gid?: number }
export interface RuntimePort { containerPort: number; hostPort?: number; hostIp: string }

export interface RuntimeContainerSpec {
  name: string;
  image: string;
  /** The long-lived main process (PID 2 under the init). */
  cmd: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  /** Identity, capabilities, seccomp, init, limits (policy/hardening.ts); mapped field by field by each backend. */
  hardening: HardeningProfile;
  workdir: string;
  mounts: RuntimeMount[];
  tmpfs: RuntimeTmpfs[];
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  /** 'none', the default 'bridge', or a named network (with aliases the container answers to there). */
  network: 'none' | 'bridge' | { name: string; aliases?: string[] };
  /** More named networks to join before start. */
  extraNetworks?: Array<{ name: string; aliases?: string[] }>;
  /** resolv.conf options (e.g. fail fast where only the proxy's name resolves). */
  dnsOptions?: string[];
  /** `name:ip` or `name:host-gateway` entries for /etc/hosts. */
  extraHosts?: string[];
  ports: RuntimePort[];
  runtime?: string;
  /** An image HEALTHCHECK is run through this argv prefix (the guard dropping to the workload user), never as the container's root. */
  healthcheckPrefix?: string[];
  /**
   * Dead-man switch: the container must not outlive the process that created it. The runtime keeps a
   * link (Docker: an attached stdin) that the process's death breaks, and the keeper stops on that.
   */
  tiedToOwner: boolean;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface PortBinding { containerPort: number; hostIp: string; hostPort: number }

export interface RuntimeContainer {
  id: string;
  name: string;
  image: string;
  state: ContainerState;
  labels: Record<string, string>;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  health?: string;
  ports: PortBinding[];
  runtime?: string;
  /** Addresses on each network (inspect only). */
  networks?: Array<{ name: string; ip: string }>;
  /** The image health check's state (inspect only). */
  healthLog?: { status: string; failingStreak: number; lastOutput?: string };
  /** Environment of the main process, as the runtime stored it (inspect only). */
  env?: Record<string, string>;
}

export interface RuntimeExecRequest {
  cmd: string[];
  env: Record<string, string>;
  cwd?: string;
  user: string;
  stdin: boolean;
  /**
   * Give the process a terminal: one raw output stream (stdout; stderr ends at once), input is
   * keystrokes, and `resize()` sets the window size. Terminal sessions (sandbox/pty.ts) use it.
   */
  tty?: boolean;
}

export interface RuntimeExec {
  stdout: Readable;
  stderr: Readable;
  /** Present when stdin was requested; end() closes the process's stdin. */
  stdin?: Writable;
  /** Resolves with the exit code once the process has exited and output is drained. */
  wait(): Promise<number>;
  /** Drop the connection (does not stop the process; see guest/exec.c and SandboxProcess.kill). */
  detach(): void;
  /** Set the terminal's window size (present when the exec was started with `tty`). */
  resize?(cols: number, rows: number): Promise<void>;
}

export interface RuntimePathStat { name: string; size: number; isDir: boolean; isSymlink: boolean; linkTarget: string }

export interface RuntimeNetworkSpec {
  name: string;
  labels: Record<string, string>;
  internal: boolean;
  subnet?: string;
  noHostAddress?: boolean;
  /** Host-side bridge interface name (at most 15 characters). */
  bridgeName?: string;
  /** false: containers on this network cannot reach each other (published ports still work). Default true. */
  icc?: boolean;
  /** false: no source NAT for traffic leaving the host, so no working route out (published ports still work). Default true. */
  masquerade?: boolean;
}

export interface RuntimeNetwork {
  id: string;
  name: string;
  labels: Record<string, string>;
  internal: boolean;
  subnet?: string;
  gateway?: string;
  noHostAddress: boolean;
  createdAt?: string;
}
