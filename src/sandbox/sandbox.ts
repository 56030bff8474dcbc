import { PassThrough, type Readable } from 'node:stream';
import { getTemplate } from '../templates/catalog.js';
import type { Logger } from '../log.js';
import { WardenError } from '../errors.js';
import { PATHS } from '../policy/compile.js';
import { recordSpec, type RecordSpec } from '../policy/record.js';
import type { SandboxRuntime, Unit } from '../runtime/sandbox-runtime.js';
import { parseEgressLog } from '../egress/audit.js';
import type { EgressRecord } from '../egress/proxy.js';
import { fromBase64, SandboxFiles, type FileEntry } from './files.js';
import { readHealth, readProcesses, readStats, type HealthThresholds, type SandboxHealth, type SandboxProcessRow, type SandboxStats } from './monitor.js';
import { execUser, runBuffered, SandboxProcess, type ExecOptions, type ExecResult, type SpawnOptions, type WorkloadIdentity } from './process.js';
import { guardExec } from '../guest/argv.js';
import { PtySessions, SandboxPty, type PtyOptions } from './pty.js';
import { toSandboxInfo, type SandboxInfo } from './info.js';

export { toSandboxInfo, type SandboxInfo } from './info.js';

/** Where `startBackground` processes write what they print (a tmpfs file; `logs()` shows it). */
export const BACKGROUND_LOG = '/tmp/warden-background.log';

/** Lifecycle operations a Sandbox delegates to its Warden (so there is one implementation). */
export interface SandboxOwner {
  stop(ref: string, opts?: { timeoutMs?: number }): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, opts?: { force?: boolean; timeoutMs?: number }): Promise<void>;
  refresh(ref: string, opts?: { reason?: string }): Promise<Sandbox>;
  /** Record activity on a sandbox (the idle policy reads it). */
  touch?(id: string): void;
}

/**
 * A handle on one sandbox. Cheap to create; holds no state the runtime does not have, so a handle from
 * another process controls the same sandbox (by its Warden id, which a refresh keeps).
 *
 * @example
 * await using sb = await warden.create({ workspace: './project' });
 * const r = await sb.exec(['bash', '-lc', 'ls -la']);
 */
export class Sandbox {
  /** @internal use Warden.create / get / ensure */
  private current: SandboxInfo;

  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly owner: SandboxOwner,
    private unit: Unit,
    private readonly log: Logger,
  ) {
    this.current = toSandboxInfo(unit);
  }

  /** The spec it was made with (env by names), from its record. */
  private get spec(): RecordSpec {
    return recordSpec(this.unit.record);
  }

  /** Files in and out, confined to the sandbox's roots: /workspace, /tmp, home and rw mounts (reads also ro mounts). */
  get files(): SandboxFiles {
    const mounts = this.spec.mounts ?? [];
    const writable = [PATHS.workspace, PATHS.tmp, PATHS.home, ...mounts.filter((m) => !m.readOnly).map((m) => m.target)];
    const read = [...writable, PATHS.config, ...mounts.map((m) => m.target)];
    this.owner.touch?.(this.current.id);
    return new SandboxFiles(this.runtime, this.current.id, this.current.user, { write: writable, read });
  }

  get id(): string { return this.current.id; }
  get name(): string { return this.current.name; }
  get containerId(): string { return this.current.containerId; }
  /** The last known info; call `refreshInfo()` to read it again from the engine. */
  get info(): SandboxInfo { return this.current; }

  /** Read the sandbox's state again from the runtime. */
  async refreshInfo(): Promise<SandboxInfo> {
    await this.live();
    return this.current;
  }

  /** Who the workload runs as, and whether this sandbox lets a command ask for root (spec allowRoot). */
  private get identity(): WorkloadIdentity {
    return { uid: this.current.user.uid, gid: this.current.user.gid, allowRoot: this.spec.allowRoot === true };
  }

  /** Start a command with streamed stdout/stderr, stdin and signals. `cmd` is an argv array. */
  spawn(cmd: string[], opts: SpawnOptions = {}): Promise<SandboxProcess> {
    this.owner.touch?.(this.current.id);
    return SandboxProcess.start(this.runtime, this.current.id, cmd, this.identity, opts, this.log.child({ sandbox: this.id }));
  }

  /**
   * Open an interactive terminal: the program (default: the image's login shell) runs on a pseudo-terminal
   * held inside the sandbox, so the session survives this handle and can be attached again from any
   * process with `sb.ptys.connect(id)`. Same user, hardening, timeout and tree kill as `spawn`.
   * @example
   * const pty = await sb.pty({ cols: 120, rows: 40 });
   * pty.onData((b) => process.stdout.write(b));
   * pty.write('echo hello\r');
   */
  pty(opts: PtyOptions = {}): Promise<SandboxPty> {
    this.owner.touch?.(this.current.id);
    return SandboxPty.start(this.runtime, this.current.id, execUser(this.identity, undefined), opts, this.log.child({ sandbox: this.id }));
  }

  /** The sandbox's terminal sessions: `list()`, and `connect(id)` to attach to a running one. */
  get ptys(): PtySessions {
    this.owner.touch?.(this.current.id);
    return new PtySessions(this.runtime, this.current.id, execUser(this.identity, undefined), this.log.child({ sandbox: this.id }));
  }

  /**
   * Run a command to completion and buffer its output. A non-zero exit is a result, not an error;
   * a timeout rejects with ExecTimeoutError (partial output attached) after killing the process tree.
   * @example const { exitCode, stdout } = await sb.exec(['git', 'status'], { timeoutMs: 10_000 });
   */
  exec(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return runBuffered((o) => this.spawn(cmd, o), opts);
  }

  /**
   * Start a long-running command in the background (a dev server, a watcher) and return at once. It
   * runs as the sandbox user in its own session, like any exec: `stop` drains it, and nothing of it
   * outlives the sandbox. Redirect its output to a file to keep it.
   * @example await sb.startBackground(['/bin/sh', '-c', 'exec npm run dev >> /tmp/dev.log 2>&1']);
   */
  async startBackground(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<void> {
    this.owner.touch?.(this.current.id);
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((c) => typeof c !== 'string')) {
      throw new WardenError('INVALID_ARGUMENT', "a command is a non-empty array of strings, e.g. ['npm', 'run', 'dev']");
    }
    const { uid, gid } = execUser(this.identity, undefined);
    // what it prints (unless it redirects itself) goes to the background log, which `logs()` shows
    const wrapped = ['/bin/sh', '-c', `exec "$@" >> ${BACKGROUND_LOG} 2>&1`, 'warden-bg', ...cmd];
    await this.runtime.execDetached(this.current.id, { cmd: guardExec(wrapped, { uid, gid, ...(opts.cwd ? { cwd: opts.cwd } : {}) }), env: opts.env ?? {}, user: '0:0' });
  }

  /** Write files (text, bytes, base64 or streams) under /workspace, /tmp or home. */
  writeFiles(entries: FileEntry[]): Promise<void> {
    return this.files.write(entries);
  }

  readFile(path: string): Promise<Buffer> {
    return this.files.read(path);
  }

  readFiles(paths: string[]): Promise<Map<string, Buffer>> {
    return this.files.readMany(paths);
  }

  /** Read one file as utf8 text. */
  readText(path: string): Promise<string> {
    return this.files.readText(path);
  }

  /**
   * Write one file from base64 (seed 3's uploads), replacing it if it exists.
   * @example await sb.writeBase64('src/App.tsx', Buffer.from(code).toString('base64'));
   */
  writeBase64(path: string, base64: string, mode?: number): Promise<void> {
    return this.files.write([fromBase64(path, base64, mode)]);
  }

  private async live(): Promise<Unit> {
    const u = await this.runtime.find({ id: this.current.id });
    if (!u) throw new WardenError('SANDBOX_NOT_FOUND', `sandbox ${this.id} no longer exists (it was removed outside this handle)`);
    this.unit = u;
    this.current = toSandboxInfo(u);
    return u;
  }

  /** CPU %, memory, OOM kills, pids, processes, network bytes, disk use of writable areas, age. */
  async stats(): Promise<SandboxStats> {
    return readStats(this.runtime, await this.live());
  }

  /** The processes inside, each with its role (init, keeper, workload). */
  async processes(): Promise<SandboxProcessRow[]> {
    return readProcesses(this.runtime, await this.live());
  }

  /** healthy / unhealthy / starting / stopped, with reasons: image health check, caps near their limit, OOM kills, exit reason. */
  async health(thresholds?: HealthThresholds): Promise<SandboxHealth> {
    return readHealth(this.runtime, await this.live(), thresholds);
  }

  /**
   * The sandbox's own log: what its keeper and watchers wrote (why it stopped itself: max runtime, disk
   * quota) and anything written to the main process's output. `follow` streams new lines until the sandbox
   * stops or the stream is destroyed.
   */
  async logs(opts: { tail?: number; follow?: boolean } = {}): Promise<Readable> {
    if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < 0)) throw new WardenError('INVALID_ARGUMENT', `tail is a whole number of lines (got ${String(opts.tail)})`);
    const follow = opts.follow === true;
    const engine = await this.runtime.logs(this.current.id, { follow, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) });
    const u = await this.runtime.find({ id: this.current.id });
    if (u?.state !== 'running') return engine; // the background logs live on a tmpfs that went with it
    const files = [BACKGROUND_LOG, ...(this.spec.template ? [getTemplate(this.spec.template).logFile] : [])];
    const tail = ['tail', '-v', '-n', opts.tail !== undefined ? String(opts.tail) : '+1', ...(follow ? ['-F'] : []), ...files];
    const out = new PassThrough();
    if (!follow) {
      const r = await this.exec(['/bin/sh', '-c', '"$@" 2>/dev/null; exit 0', 'warden-logs', ...tail]).catch(() => ({ stdout: '' }));
      engine.on('end', () => out.end(r.stdout));
      engine.pipe(out, { end: false });
      return out;
    }
    // followed: the engine's log and the files, merged as lines come; destroying the stream ends both
    const proc = await this.spawn(['/bin/sh', '-c', 'exec "$@" 2>/dev/null', 'warden-logs', ...tail]);
    proc.stderr.resume();
    let open = 2;
    const done = (): void => void (--open === 0 && out.end());
    engine.on('data', (b: Buffer) => out.write(b));
    engine.once('end', () => {
      done();
      void proc.kill('SIGKILL').catch(() => 0); // the sandbox stopped: nothing more will come
    });
    proc.stdout.on('data', (b: Buffer) => out.write(b));
    proc.stdout.once('end', done);
    out.once('close', () => {
      engine.destroy();
      void proc.kill('SIGKILL').catch(() => 0);
    });
    return out;
  }

  /** What the egress proxy saw: every request, allowed or denied and by which rule (network 'allowlist'). */
  async egressLog(): Promise<EgressRecord[]> {
    return parseEgressLog(await this.runtime.egressLog(this.id));
  }

  /**
   * The URL a browser on this host opens to reach `containerPort` (it must be in the spec's ports). For an
   * allowlisted sandbox it goes through its preview forwarder; after a stop/start the host port can
   * change: call `refreshInfo()` (or take the handle `ensure` returns) first.
   */
  url(containerPort: number, protocol = 'http'): string {
    this.owner.touch?.(this.current.id);
    const b = this.current.ports.find((p) => p.containerPort === containerPort && p.hostPort > 0);
    if (!b) {
      if (this.current.state !== 'running') {
        throw new WardenError('SANDBOX_NOT_RUNNING', `sandbox ${this.id} is ${this.current.state}, so nothing is published; resume it with ensure() (or refreshInfo() if it was restarted elsewhere)`);
      }
      const published = this.current.ports.map((p) => p.containerPort).join(', ') || 'none';
      throw new WardenError('INVALID_ARGUMENT', `port ${containerPort} is not published by sandbox ${this.id} (published: ${published}); add it to the spec's ports`);
    }
    const host = b.hostIp === '' || b.hostIp === '0.0.0.0' ? '127.0.0.1' : b.hostIp.includes(':') ? `[${b.hostIp}]` : b.hostIp;
    return `${protocol}://${host}:${b.hostPort}`;
  }

  stop(opts?: { timeoutMs?: number }): Promise<void> { return this.owner.stop(this.current.id, opts); }
  kill(signal?: string): Promise<void> { return this.owner.kill(this.current.id, signal); }
  remove(opts?: { force?: boolean; timeoutMs?: number }): Promise<void> { return this.owner.remove(this.current.id, opts); }
  /** Recreate from scratch (workspace kept); this handle follows the new unit. */
  async refresh(): Promise<this> {
    const fresh = await this.owner.refresh(this.current.id);
    this.unit = fresh.unitView;
    this.current = fresh.info;
    return this;
  }

  /** @internal the unit as last read */
  get unitView(): Unit {
    return this.unit;
  }

  /** `await using sb = ...` removes the sandbox (forcefully) at the end of the scope. Safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.owner.remove(this.current.id, { force: true });
  }
}
