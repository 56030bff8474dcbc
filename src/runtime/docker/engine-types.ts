import type { Readable, Writable } from 'node:stream';
import type { HardeningProfile } from '../../policy/hardening.js';

/*
 * The Docker backend's own vocabulary: containers, networks, volumes, as the engine has them. Nothing
 * above runtime/ sees these types; the core speaks SandboxRuntime (runtime/sandbox-runtime.ts).
 */

export interface EngineInfo {
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

export interface EngineVolume { name: string; labels: Record<string, string>; createdAt?: string }

export interface ContainerMount {
  /** Host path, or the volume's name when `volume` is set. */
  source: string;
  target: string;
  readOnly: boolean;
  /** A named engine volume (created with these labels when missing, seeded from the image's content at `target`). */
  volume?: { labels: Record<string, string>; /** Do not copy the image's content into a new volume (Warden's guest volume is seeded by seedVolume). */ noCopy?: boolean };
}
export interface ContainerTmpfs { target: string; sizeBytes: number; mode: string; uid?: number; gid?: number }
export interface ContainerPort { containerPort: number; hostPort?: number; hostIp: string }

export interface ContainerSpec {
  name: string;
  image: string;
  /** The long-lived main process (PID 2 under the init). */
  cmd: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  /** Identity, capabilities, seccomp, init, limits (policy/hardening.ts); mapped field by field by each backend. */
  hardening: HardeningProfile;
  workdir: string;
  mounts: ContainerMount[];
  tmpfs: ContainerTmpfs[];
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
  ports: ContainerPort[];
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

export interface EngineContainer {
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

export interface EngineExecRequest {
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

export interface EngineExec {
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

export interface PathStat { name: string; size: number; isDir: boolean; isSymlink: boolean; linkTarget: string }

export interface NetworkSpec {
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

export interface EngineNetwork {
  id: string;
  name: string;
  labels: Record<string, string>;
  internal: boolean;
  subnet?: string;
  gateway?: string;
  noHostAddress: boolean;
  createdAt?: string;
}
