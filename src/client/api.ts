import type { Readable, Writable } from 'node:stream';
import type { EgressRecord } from '../egress/proxy.js';
import type { SandboxSpecInput } from '../policy/spec.js';
import type { DirEntry, FileEntry } from '../sandbox/files.js';
import type { ExecOptions, ExecResult, ExitInfo, SpawnOptions } from '../sandbox/process.js';
import type { PtyOptions, PtySessionInfo } from '../sandbox/pty.js';
import type { SandboxInfo } from '../sandbox/sandbox.js';
import type { SandboxHealth, SandboxProcessRow, SandboxStats } from '../sandbox/monitor.js';
import type { ListFilter } from '../sandbox/lifecycle.js';
import type { PanicReport, PruneReport } from '../sandbox/reports.js';

/**
 * What the CLI (and any program) needs of Warden, whether it talks to the engine directly (the SDK's
 * {@link Warden}) or to a Warden server over HTTP ({@link RemoteWarden}): one set of commands, two
 * transports.
 */
export interface ProcessApi {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable | undefined;
  wait(): Promise<ExitInfo>;
  kill(signal?: string): Promise<number>;
}

/** An interactive terminal session (local: SandboxPty; remote: over the server's WebSocket). */
export interface PtyApi {
  readonly id: string;
  readonly output: Readable;
  write(data: string | Buffer): void;
  onData(cb: (chunk: Buffer) => void): () => void;
  resize(cols: number, rows: number): Promise<void>;
  kill(signal?: string): Promise<number>;
  wait(): Promise<ExitInfo>;
  detach(): Promise<void>;
}

export interface PtySessionsApi {
  list(): Promise<PtySessionInfo[]>;
  connect(id: string, size?: { cols?: number; rows?: number }): Promise<PtyApi>;
}

export interface FilesApi {
  write(entries: FileEntry[]): Promise<void>;
  read(path: string): Promise<Buffer>;
  readTar(path: string): Promise<Readable>;
  list(path: string): Promise<DirEntry[]>;
  writeTar(dir: string, tar: Readable): Promise<void>;
}

export interface SandboxApi {
  readonly id: string;
  readonly name: string;
  readonly containerId: string;
  readonly info: SandboxInfo;
  readonly files: FilesApi;
  spawn(cmd: string[], opts?: SpawnOptions): Promise<ProcessApi>;
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** An interactive terminal (default: the image's login shell). */
  pty(opts?: PtyOptions): Promise<PtyApi>;
  readonly ptys: PtySessionsApi;
  writeFiles(entries: FileEntry[]): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  stats(): Promise<SandboxStats>;
  health(): Promise<SandboxHealth>;
  processes(): Promise<SandboxProcessRow[]>;
  egressLog(): Promise<EgressRecord[]>;
  /** The sandbox's own log (keeper reasons, main process output); `follow` streams new lines. */
  logs(opts?: { tail?: number; follow?: boolean }): Promise<Readable>;
  remove(opts?: { force?: boolean; timeoutMs?: number }): Promise<void>;
  /** The URL a browser on this host opens to reach a published container port. */
  url(containerPort: number): string;
  /** `await using` removes the sandbox (forcefully) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface WardenApi {
  /** `onProgress` hears what a long step waits for (a template's dev server); a server does not report it. */
  create(spec?: SandboxSpecInput, opts?: { onProgress?: (message: string) => void }): Promise<SandboxApi>;
  ensure(spec: SandboxSpecInput, opts?: { onProgress?: (message: string) => void }): Promise<SandboxApi>;
  list(filter?: ListFilter): Promise<SandboxInfo[]>;
  get(ref: string): Promise<SandboxApi>;
  stop(ref: string, opts?: { timeoutMs?: number }): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, opts?: { force?: boolean; timeoutMs?: number }): Promise<void>;
  refresh(ref: string): Promise<SandboxApi>;
  panic(opts?: { labels?: Record<string, string>; allInstances?: boolean }): Promise<PanicReport>;
  /** Remove exited/dead sandboxes and orphans; says what. */
  prune(opts?: { labels?: Record<string, string> }): Promise<PruneReport>;
}
