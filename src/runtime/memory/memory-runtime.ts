import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../../errors.js';
import { recordSpec } from '../../policy/record.js';
import type {
  Capability,
  ExecHandle,
  ExecRequest,
  OwnerLink,
  OwnerSession,
  PanicResult,
  PruneResult,
  RuntimeInfo,
  SandboxPlan,
  SandboxRuntime,
  Unit,
  UnitRef,
  UnitSelector,
  UnitState,
} from '../sandbox-runtime.js';
import { assertCapabilities, execCapabilities, requiredCapabilities } from '../capabilities.js';
import { keyedUnitName } from '../unit-names.js';
import { hostArgv, hostPathOf, parseGuardCall, SANDBOX_ROOTS, signalGroup, startProcess } from './guest-exec.js';

/**
 * What the memory runtime honours: lifecycle, keys and pools atomically, resume, exec with exit codes,
 * streams with backpressure and stdin EOF, tree kill by process group, a max runtime by timer. Not:
 * any confinement (commands run on the host, in the unit's temporary directory), networks, preview
 * ports, host mounts, terminals, a dead-man switch that outlives the process.
 */
const MEMORY_CAPABILITIES: readonly Capability[] = ['resume', 'stdinEof', 'maxRuntime', 'workspaceVolume'];

export interface MemoryRuntimeOptions {
  /** Added before every call (ms, or a function giving it): makes races between concurrent callers show. */
  latencyMs?: number | (() => number);
  /** The owner's name for this process's link. */
  owner?: string;
  /** Images that exist (default: every reference). */
  images?: (ref: string) => boolean;
  /** CPUs and memory a unit may have at most (default: this host's). */
  size?: { cpus: number; memoryBytes: number };
}

interface MemUnit {
  unit: Unit;
  plan: SandboxPlan;
  dir?: string;
  /** Running processes by exec id (process groups). */
  procs: Map<string, ChildProcess>;
  log: string[];
  timer?: NodeJS.Timeout;
  linked: boolean;
}

let seq = 0;

/**
 * An in-memory backend that honours the runtime contract well enough to test everything above it in
 * milliseconds with no engine: one-unit-per-key and one-claim-per-member are atomic (checked and taken
 * without an await in between), states move as a real backend's do, and exec runs real host processes
 * (Warden's guard calls are read: `exec` runs its argv, `kill`/`signal` signal process groups; the
 * guest scripts run from the repository). It confines nothing: never run untrusted code on it.
 */
export class MemoryRuntime implements SandboxRuntime {
  readonly kind = 'memory' as const;
  readonly capabilities: ReadonlySet<Capability> = new Set(MEMORY_CAPABILITIES);
  readonly owner: OwnerSession;
  private readonly units = new Map<string, MemUnit>();
  /** Calls made, by operation (tests assert on them: "ensure resumed instead of recreating"). */
  readonly calls = new Map<string, number>();

  constructor(private readonly opts: MemoryRuntimeOptions = {}) {
    const link: OwnerLink = { link: randomBytes(8).toString('hex'), owner: opts.owner ?? 'memory@localhost' };
    this.owner = {
      link,
      linked: () => [...this.units.values()].filter((m) => m.linked).map((m) => m.unit.id),
      release: (id?: string) => {
        for (const m of this.units.values()) if (id === undefined || m.unit.id === id) m.linked = false;
      },
    };
  }

  private async step(op: string): Promise<void> {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    const l = typeof this.opts.latencyMs === 'function' ? this.opts.latencyMs() : (this.opts.latencyMs ?? 0);
    if (l > 0) await sleep(l);
    else await Promise.resolve();
  }

  async info(): Promise<RuntimeInfo> {
    await this.step('info');
    return { kind: 'memory', version: 'memory runtime (in-process)', cpus: this.opts.size?.cpus ?? cpus().length, memoryBytes: this.opts.size?.memoryBytes ?? totalmem(), details: {} };
  }

  async create(plan: SandboxPlan): Promise<Unit> {
    await this.step('create');
    // the memory runtime confines nothing, so network 'none' is taken as the one mode it stands in for
    // (the core's unit tests make default sandboxes); everything else it lacks is refused as on any backend
    assertCapabilities(this.kind, this.capabilities, requiredCapabilities(plan).filter((n) => n.capability !== 'egressNone'));
    // checked and taken with no await in between: one unit per key and per name, whoever calls
    const all = [...this.units.values()];
    if (plan.key && all.some((m) => m.unit.key === plan.key)) throw new WardenError('KEY_TAKEN', `key '${plan.key}' already has a sandbox`);
    if (all.some((m) => m.unit.name === plan.name)) throw new WardenError('NAME_CONFLICT', `a sandbox named '${plan.name}' already exists`);
    if (all.some((m) => m.unit.id === plan.id)) throw new WardenError('NAME_CONFLICT', `a sandbox with id '${plan.id}' already exists`);
    if (this.opts.images && !this.opts.images(plan.image)) throw new WardenError('IMAGE_NOT_FOUND', `image '${plan.image}' does not exist (memory runtime)`);
    const now = new Date().toISOString();
    const unit: Unit = {
      id: plan.id,
      name: plan.name,
      ...(plan.key ? { key: plan.key } : {}),
      state: 'running',
      record: plan.record,
      labels: { ...plan.labels, 'warden.managed': 'true', 'warden.id': plan.id, 'warden.instance': plan.record.instance, 'warden.owner': plan.owner.owner, 'warden.lifetime': plan.lifetime, ...(plan.pool ? { 'warden.pool-holder': plan.pool.id } : {}) },
      startedAt: now,
      ports: [],
      ...(plan.pool ? { pool: { id: plan.pool.id, ready: false } } : {}),
      backendId: `mem-${(++seq).toString(16).padStart(8, '0')}-${plan.id}`,
      env: { ...plan.env },
    };
    const m: MemUnit = { unit, plan, procs: new Map(), log: [], linked: plan.lifetime === 'ephemeral' };
    this.units.set(plan.id, m);
    this.armMaxRuntime(m);
    return this.view(m);
  }

  private armMaxRuntime(m: MemUnit): void {
    const max = recordSpec(m.unit.record).maxRuntime;
    if (typeof max !== 'number') return;
    m.timer = setTimeout(() => {
      m.log.push(`warden: stopped: reached its maxRuntime of ${Math.round(max / 1000)} s`);
      void this.halt(m, 'SIGKILL', 0);
    }, max);
    m.timer.unref();
  }

  /** A copy: callers never hold the runtime's own objects. */
  private view(m: MemUnit): Unit {
    return structuredClone(m.unit);
  }

  async find(ref: UnitRef): Promise<Unit | undefined> {
    await this.step('find');
    const m = [...this.units.values()].find((x) =>
      'id' in ref ? x.unit.id === ref.id : 'name' in ref ? x.unit.name === ref.name : 'key' in ref ? x.unit.key === ref.key : x.unit.backendId === ref.backendId,
    );
    return m ? this.view(m) : undefined;
  }

  async list(sel: UnitSelector): Promise<Unit[]> {
    await this.step('list');
    return [...this.units.values()]
      .map((m) => m.unit)
      .filter(
        (u) =>
          (sel.instance === '*' || u.record.instance === sel.instance) &&
          (sel.owner === undefined || u.record.owner === sel.owner) &&
          (sel.key === undefined || u.key === sel.key) &&
          (sel.lifetime === undefined || u.record.lifetime === sel.lifetime) &&
          (sel.state === undefined || u.state === sel.state) &&
          Object.entries(sel.labels ?? {}).every(([k, v]) => u.labels[k] === v) &&
          (sel.pool === undefined || (sel.pool === false ? !u.pool : u.pool?.id === sel.pool)),
      )
      .sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt))
      .map((u) => structuredClone(u));
  }

  private must(id: string): MemUnit {
    const m = this.units.get(id);
    if (!m) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox ${id} (it was removed)`);
    return m;
  }

  private setState(m: MemUnit, state: UnitState, exitCode?: number): void {
    m.unit.state = state;
    if (state === 'running') {
      m.unit.startedAt = new Date().toISOString();
      delete m.unit.finishedAt;
      delete m.unit.exitCode;
    } else if (state === 'stopped') {
      m.unit.finishedAt = new Date().toISOString();
      if (exitCode !== undefined) m.unit.exitCode = exitCode;
    }
  }

  async resume(id: string, owner: OwnerLink): Promise<Unit> {
    await this.step('resume');
    const m = this.must(id);
    if (m.unit.state !== 'stopped') return this.view(m);
    this.setState(m, 'running');
    m.linked = m.unit.record.lifetime === 'ephemeral' && owner.link === this.owner.link.link;
    this.armMaxRuntime(m);
    return this.view(m);
  }

  /** End every process of the unit: `signal` first, SIGKILL after the grace. */
  private async halt(m: MemUnit, signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (m.timer) clearTimeout(m.timer);
    const procs = [...m.procs.values()];
    for (const p of procs) signalGroup(p.pid, signal);
    const exited = Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => p.once('exit', r)))));
    if (signal !== 'SIGKILL') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      for (const p of procs) signalGroup(p.pid, 'SIGKILL');
    }
    await exited;
    m.procs.clear();
    if (m.unit.state === 'running') this.setState(m, 'stopped', signal === 'SIGKILL' ? 137 : 0);
  }

  async stop(id: string, graceMs: number): Promise<void> {
    await this.step('stop');
    const m = this.must(id);
    if (m.unit.state === 'running') await this.halt(m, 'SIGTERM', graceMs);
  }

  async kill(id: string): Promise<void> {
    await this.step('kill');
    const m = this.must(id);
    if (m.unit.state === 'running') await this.halt(m, 'SIGKILL', 0);
  }

  async remove(id: string, opts: { keepWorkspace?: boolean } = {}): Promise<void> {
    await this.step('remove');
    const m = this.units.get(id);
    if (!m) return;
    await this.halt(m, 'SIGKILL', 0);
    this.units.delete(id);
    if (m.dir && !opts.keepWorkspace) await rm(m.dir, { recursive: true, force: true });
    else if (m.dir && opts.keepWorkspace) this.kept.set(id, m.dir);
  }

  /** Workspaces kept by remove(keepWorkspace) for the unit made again with the same id. */
  private readonly kept = new Map<string, string>();

  private claiming: Promise<unknown> = Promise.resolve();

  claim(memberId: string, key: string, owner: OwnerLink): Promise<Unit> {
    const run = this.claiming.then(async () => {
      await this.step('claim');
      const m = this.units.get(memberId);
      if (!m || !m.unit.pool?.ready) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} is gone or already claimed`);
      if ([...this.units.values()].some((x) => x.unit.key === key)) throw new WardenError('KEY_TAKEN', `key '${key}' already has a sandbox`);
      m.unit.key = key;
      m.unit.name = keyedUnitName(key);
      delete m.unit.pool;
      m.linked = m.unit.record.lifetime === 'ephemeral' && owner.link === this.owner.link.link;
      return this.view(m);
    });
    this.claiming = run.catch(() => undefined);
    return run;
  }

  async markPoolReady(memberId: string): Promise<void> {
    await this.step('markPoolReady');
    const m = this.must(memberId);
    if (m.unit.pool) m.unit.pool.ready = true;
  }

  /** The unit's directory on the host: its sandbox roots, made on first use. */
  private async dirOf(m: MemUnit): Promise<string> {
    if (m.dir) return m.dir;
    const kept = this.kept.get(m.unit.id);
    const dir = kept ?? (await mkdtemp(join(tmpdir(), 'warden-mem-')));
    await chmod(dir, 0o755); // mkdtemp's 0700 would keep a workload dropped to its uid out of its own roots
    this.kept.delete(m.unit.id);
    for (const root of SANDBOX_ROOTS) await mkdir(`${dir}${root}`, { recursive: true });
    // a workload dropped to its uid (when this process is root) owns its roots, as in a sandbox
    const { uid, gid } = m.unit.record.user;
    if (process.getuid?.() === 0) for (const root of SANDBOX_ROOTS) await chown(`${dir}${root}`, uid, gid).catch(() => undefined);
    m.dir = dir;
    return dir;
  }

  async exec(id: string, req: ExecRequest): Promise<ExecHandle> {
    await this.step('exec');
    const m = this.must(id);
    if (m.unit.state !== 'running') throw new WardenError('SANDBOX_NOT_RUNNING', `cannot run a command in ${id}: it is not running. Start it with ensure().`);
    assertCapabilities(this.kind, this.capabilities, execCapabilities(req));
    const call = parseGuardCall(req.cmd);
    if (call.op === 'kill' || call.op === 'signal') return done(this.signalProcs(m, call));
    const dir = await this.dirOf(m);
    const argv = hostArgv(dir, call.op === 'exec' ? call.argv : call.argv);
    const cwd = hostPathOf(dir, (call.op === 'exec' ? call.cwd : undefined) ?? req.cwd ?? m.plan.workdir);
    const env = { ...m.plan.env, HOME: `${dir}/home/agent`, ...req.env };
    const p = startProcess(argv, { cwd, env, stdin: req.stdin, ...(call.op === 'exec' && call.uid !== undefined ? { uid: call.uid, gid: call.gid ?? call.uid } : {}) });
    const execId = (call.op === 'exec' ? call.id : undefined) ?? randomBytes(8).toString('hex');
    m.procs.set(execId, p);
    let timer: NodeJS.Timeout | undefined;
    if (call.op === 'exec' && call.timeoutMs !== undefined) {
      timer = setTimeout(() => signalGroup(p.pid, 'SIGKILL'), call.timeoutMs);
      timer.unref();
    }
    const exit = new Promise<number>((resolve) => {
      p.once('error', () => resolve(127)); // a missing program, as a shell says it
      p.once('close', (code, signal) => {
        clearTimeout(timer);
        if (m.procs.get(execId) === p) m.procs.delete(execId);
        resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : -1));
      });
    });
    const stderr = new PassThrough();
    p.stderr!.pipe(stderr);
    p.once('error', (err: NodeJS.ErrnoException) => stderr.end(`warden: ${argv[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`));
    const handle: ExecHandle = {
      stdout: p.stdout!,
      stderr,
      wait: () => exit,
      detach: () => {
        p.stdout!.destroy();
        p.stderr!.destroy();
      },
    };
    if (req.stdin && p.stdin) {
      p.stdin.on('error', () => undefined); // the process may end before reading all of it
      handle.stdin = p.stdin;
    }
    return handle;
  }

  /** `warden-guard kill` / `signal`: the exec's process group, or every process of the unit; prints how many. */
  private signalProcs(m: MemUnit, call: { op: 'kill'; id: string; signal: string } | { op: 'signal'; signal: string }): string {
    const targets = call.op === 'kill' ? [...m.procs.entries()].filter(([k]) => k === call.id).map(([, p]) => p) : [...m.procs.values()];
    let n = 0;
    for (const p of targets) if (signalGroup(p.pid, call.signal as NodeJS.Signals)) n++;
    return `${n}\n`;
  }

  async execDetached(id: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void> {
    const e = await this.exec(id, { ...req, stdin: false });
    e.stdout.resume();
    e.stderr.resume();
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean }): Promise<Readable> {
    await this.step('logs');
    const m = this.must(id);
    const lines = opts.tail !== undefined ? m.log.slice(-opts.tail) : m.log;
    return Readable.from(lines.length ? [Buffer.from(`${lines.join('\n')}\n`)] : []);
  }

  async egressLog(): Promise<string> {
    return '';
  }

  async previewActivity(): Promise<undefined> {
    return undefined;
  }

  async prune(sel: UnitSelector & { stopped?: boolean }): Promise<PruneResult> {
    const t0 = Date.now();
    const stopped = sel.stopped ? (await this.list(sel)).filter((u) => u.state === 'stopped' || u.state === 'failed') : [];
    for (const u of stopped) await this.remove(u.id);
    return { sandboxes: stopped.map((u) => u.id), other: [], errors: [], durationMs: Date.now() - t0 };
  }

  async panic(sel: UnitSelector): Promise<PanicResult> {
    const t0 = Date.now();
    const all = await this.list(sel);
    await Promise.all(all.map((u) => this.remove(u.id)));
    return { sandboxes: all.length, other: 0, removed: { sandbox: all.length }, left: (await this.list(sel)).length, errors: [], durationMs: Date.now() - t0 };
  }

  async imageExists(ref: string): Promise<boolean> {
    return this.opts.images ? this.opts.images(ref) : true;
  }

  /** Remove every unit and its directory (tests' teardown). */
  async close(): Promise<void> {
    await Promise.all([...this.units.keys()].map((id) => this.remove(id)));
    await Promise.all([...this.kept.values()].map((d) => rm(d, { recursive: true, force: true })));
    this.kept.clear();
  }
}

/** An exec that already ended with `out` on stdout and exit 0. */
function done(out: string): ExecHandle {
  const stderr = new PassThrough();
  stderr.end();
  return { stdout: Readable.from([Buffer.from(out)]), stderr, wait: async () => 0, detach: () => undefined };
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 } as Record<string, number>)[sig];
}
