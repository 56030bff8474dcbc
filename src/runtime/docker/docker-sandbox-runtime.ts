import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Readable } from 'node:stream';
import { WardenError } from '../../errors.js';
import { GUARD, GUEST_DIR, guestVolumeName } from '../../guest/argv.js';
import { wardenImage } from '../../images/catalog.js';
import { IMAGE_HASH_LABEL } from '../../images/labels.js';
import { createLogger, type Logger } from '../../log.js';
import { LABEL } from '../../policy/labels.js';
import { recordSpec } from '../../policy/record.js';
import type {
  Capability,
  ExecHandle,
  ExecRequest,
  OwnerLink,
  OwnerSession,
  PanicResult,
  PruneResult,
  RuntimeCheck,
  RuntimeInfo,
  SandboxPlan,
  SandboxRuntime,
  Unit,
  UnitRef,
  UnitSelector,
} from '../sandbox-runtime.js';
import { assertCapabilities, requiredCapabilities } from '../capabilities.js';
import { diagnoseDocker } from './diagnose.js';
import { connectDocker, DockerEngine } from './engine.js';
import type { EngineContainer } from './engine-types.js';
import { DEFAULT_SUBNET_POOL, findProxy, subnetPool } from './egress.js';
import { containerName, isReadyPoolName, keyedName, prepName, readyName, unitNameOf } from './names.js';
import { previewActivity } from './preview.js';
import { panic, prune, sweepDeadOwners } from './prune.js';
import { keyHash, recordOfContainer, unitOfContainer } from './record-labels.js';
import { keyLockLabels } from './sandbox-container.js';
import { createUnit, killUnit, reachablePorts, removeUnit, resumeUnit, stopUnit } from './unit.js';

/** What the Docker backend can do (runc). gVisor (kind 'gvisor') is the same minus what runsc lacks. */
const DOCKER_CAPABILITIES: readonly Capability[] = [
  'hostMounts',
  'workspaceVolume',
  'resume',
  'gvisor',
  'egressNone',
  'egressAllowlist',
  'egressOpen',
  'preview',
  'tty',
  'stdinEof',
  'ownerLink',
  'maxRuntime',
  'diskQuota',
  'pidsLimit',
  'guard',
  'hardening',
  'stats',
];

export interface DockerRuntimeOptions {
  /** 'docker' (runc; `runtime: 'runsc'` per sandbox when registered) or 'gvisor' (every sandbox under runsc). */
  kind?: 'docker' | 'gvisor';
  /** A dockerode client (default: DOCKER_HOST or the default socket, or `socketPath`). */
  docker?: Docker;
  socketPath?: string;
  logger?: Logger;
  /** The /16 sandbox networks come from in /28 blocks (WARDEN_SUBNET_POOL; default 10.213.0.0/16). */
  subnetPool?: string;
  /** The engine socket's path on the engine's host when Warden runs in a container (WARDEN_ENGINE_SOCKET_HOST). */
  engineSocketHost?: string;
  /** Labels on what this runtime makes for no one unit (its reaper, the guest volume's seeding): a tenant, a test run. */
  labels?: Record<string, string>;
  /** The owner's name for this process's link (default user@host). */
  owner?: string;
}

/** A failure that means the container is gone (removed or replaced by another process). */
const gone = (err: unknown): boolean => err instanceof WardenError && err.code === 'SANDBOX_NOT_FOUND';

/**
 * The Docker backend of the runtime contract: a unit is the sandbox container plus what it needs
 * (for 'allowlist' its own internal /28 network and egress proxy container, for preview ports a
 * forwarder container, a seeded workspace volume, the guest volume, this process's reaper). Container
 * names are the per-key lock and the pool claim (a rename); the record is one label; the owner link is
 * an attached stdin. Kind 'gvisor' runs every sandbox under runsc.
 */
export class DockerSandboxRuntime implements SandboxRuntime {
  readonly kind: 'docker' | 'gvisor';
  readonly capabilities: ReadonlySet<Capability>;
  /** The engine, container by container (tests and Docker-specific tools reach below the unit through it). */
  readonly engine: DockerEngine;
  readonly owner: OwnerSession;
  private readonly log: Logger;
  private readonly subnets: string;
  private readonly labels: Record<string, string>;
  /** Each unit's sandbox container as last seen by this process (Warden id -> container id). */
  private readonly containers = new Map<string, string>();
  /** Claims by rename run one at a time in this process (the engine does not make a rename by the old name atomic). */
  private claims: Promise<unknown> = Promise.resolve();
  private guest: Promise<string> | undefined;
  private swept = false;

  constructor(opts: DockerRuntimeOptions = {}) {
    this.kind = opts.kind ?? 'docker';
    this.log = opts.logger ?? createLogger();
    this.engine = new DockerEngine(opts.docker ?? connectDocker(opts.socketPath ? { socketPath: opts.socketPath } : undefined), this.log, opts.engineSocketHost);
    this.subnets = opts.subnetPool ?? DEFAULT_SUBNET_POOL;
    subnetPool(this.subnets); // a malformed pool is an error now, not at the first allowlisted sandbox
    this.labels = opts.labels ?? {};
    // under gVisor the sandbox sees no cgroup files (the sentry keeps them): no 'stats' from inside
    this.capabilities = new Set(this.kind === 'gvisor' ? DOCKER_CAPABILITIES.filter((c) => c !== 'stats') : DOCKER_CAPABILITIES);
    const link: OwnerLink = { link: randomBytes(8).toString('hex'), owner: opts.owner ?? `${safeUser()}@${hostname()}` };
    this.owner = {
      link,
      linked: () => this.engine.linkedUnits(),
      release: (id?: string) => (id === undefined ? this.engine.unlink() : this.engine.unlinkUnit(id)),
    };
  }

  async info(): Promise<RuntimeInfo> {
    const i = await this.engine.info();
    return {
      kind: this.kind,
      version: `Docker ${i.engineVersion} (API ${i.apiVersion})`,
      cpus: i.cpus,
      memoryBytes: i.memoryBytes,
      details: {
        os: i.os,
        kernel: i.kernel,
        cgroupVersion: i.cgroupVersion,
        storageDriver: i.storageDriver,
        runtimes: i.runtimes.join(','),
        defaultRuntime: i.defaultRuntime,
        ...(i.dataRoot ? { dataRoot: i.dataRoot } : {}),
      },
    };
  }

  diagnose(): Promise<RuntimeCheck[]> {
    return diagnoseDocker(this.engine);
  }

  // ---- making and finding units ----

  async create(plan: SandboxPlan): Promise<Unit> {
    assertCapabilities(this.kind, this.capabilities, requiredCapabilities(plan)); // before anything is made
    const name = plan.pool ? prepName(plan.name) : containerName(plan.name);
    // a keyed unit with a name of its own still takes its key's container name, as a lock (an unstarted
    // container): one unit per key stays atomic whatever the unit is called
    const lock = plan.key && !plan.pool && name !== keyedName(plan.key) ? await this.takeKey(plan) : undefined;
    let made: Awaited<ReturnType<typeof createUnit>>;
    try {
      made = await createUnit(
        {
          engine: this.engine,
          log: this.log,
          subnetPool: this.subnets,
          guestVolume: () => this.guestVolume(),
          armReaper: () => this.armReaper(),
          ociRuntime: (p) => this.ociRuntime(p),
        },
        plan,
        name,
      );
    } catch (err) {
      if (lock) await this.engine.remove(lock, { force: true }).catch(() => undefined);
      if (err instanceof WardenError && err.code === 'NAME_CONFLICT' && plan.key && name === keyedName(plan.key)) {
        throw new WardenError('KEY_TAKEN', `key '${plan.key}' already has a sandbox (its container ${name} exists); reuse it with ensure(), or remove it first`, { cause: err });
      }
      throw err;
    }
    this.containers.set(plan.id, made.container.id);
    const unit = unitOfContainer(made.container, made.ports);
    if (!unit) throw new WardenError('ENGINE_ERROR', `sandbox ${plan.id} was made but its labels do not read back; this is a bug`);
    this.log.info({ sandbox: plan.id, container: made.container.id, image: plan.image }, 'sandbox created');
    return unit;
  }

  /** The key's container name taken by an unstarted lock container; KEY_TAKEN when another unit holds it. */
  private async takeKey(plan: SandboxPlan): Promise<string> {
    try {
      return await this.engine.createLock({ name: keyedName(plan.key!), image: wardenImage('guest'), labels: { ...keyLockLabels(plan), [LABEL.keyHash]: keyHash(plan.key!) } });
    } catch (err) {
      if (err instanceof WardenError && err.code === 'NAME_CONFLICT') throw new WardenError('KEY_TAKEN', `key '${plan.key}' already has a sandbox (the container ${keyedName(plan.key!)} exists); reuse it with ensure(), or remove it first`, { cause: err });
      throw err;
    }
  }

  async find(ref: UnitRef): Promise<Unit | undefined> {
    let c: EngineContainer | undefined;
    if ('id' in ref) {
      c = await this.sandboxById(ref.id);
    } else if ('name' in ref) {
      c = await this.engine.inspect(containerName(ref.name));
    } else if ('backendId' in ref) {
      c = await this.engine.inspect(ref.backendId);
    } else {
      c = await this.findByKey(ref.key);
    }
    if (!c || !recordOfContainer(c)) return undefined;
    return this.toUnit(c);
  }

  /** The newest sandbox container of a unit id (a refresh replaces it), inspected. */
  private async sandboxById(id: string): Promise<EngineContainer | undefined> {
    const [hit] = (await this.engine.list({ [LABEL.managed]: 'true', [LABEL.id]: id }))
      .filter((x) => !x.labels[LABEL.role])
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return hit ? this.engine.inspect(hit.id) : undefined;
  }

  /** The sandbox of a key: by the key's container name, else by the key's hash (a named keyed sandbox), else an older version's key label. */
  private async findByKey(key: string): Promise<EngineContainer | undefined> {
    const byName = await this.engine.inspect(keyedName(key));
    if (byName && this.unitKey(byName) === key) return byName;
    const [byLabel] = [...(await this.engine.list({ [LABEL.managed]: 'true', [LABEL.keyHash]: keyHash(key) })), ...(await this.engine.list({ [LABEL.managed]: 'true', [LABEL.key]: key }))]
      .filter((x) => !x.labels[LABEL.role] && this.unitKey(x) === key)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (byLabel) return this.engine.inspect(byLabel.id);
    return byName && recordOfContainer(byName) ? byName : undefined;
  }

  private unitKey(c: EngineContainer): string | undefined {
    return unitOfContainer(c)?.key;
  }

  private async toUnit(c: EngineContainer): Promise<Unit | undefined> {
    const record = recordOfContainer(c);
    if (!record) return undefined;
    this.containers.set(record.id, c.id);
    const spec = recordSpec(record);
    const ports = await reachablePorts(this.engine, c, spec.network, (spec.ports?.length ?? 0) > 0);
    return unitOfContainer(c, ports);
  }

  async list(sel: UnitSelector): Promise<Unit[]> {
    const labels: Record<string, string> = { [LABEL.managed]: 'true', ...(sel.labels ?? {}) };
    if (sel.owner) labels[LABEL.owner] = sel.owner;
    if (sel.lifetime) labels[LABEL.lifetime] = sel.lifetime;
    if (typeof sel.pool === 'string') labels[LABEL.poolHolder] = sel.pool;
    const units: Unit[] = [];
    for (const c of await this.engine.list(labels)) {
      if (c.labels[LABEL.role]) continue;
      const u = unitOfContainer(c);
      if (!u) continue;
      if (sel.instance !== '*' && u.record.instance !== sel.instance) continue;
      if (sel.key !== undefined && u.key !== sel.key) continue;
      if (sel.state && u.state !== sel.state) continue;
      if (sel.pool === false && u.pool) continue;
      if (typeof sel.pool === 'string' && !u.pool) continue;
      units.push(u);
    }
    return units.sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt));
  }

  // ---- lifecycle ----

  /** The sandbox container of a unit: as last seen, else looked up by label. */
  private async resolve(id: string): Promise<string> {
    const cached = this.containers.get(id);
    if (cached) return cached;
    const c = await this.sandboxById(id);
    if (!c) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox ${id} (it was removed)`);
    this.containers.set(id, c.id);
    return c.id;
  }

  /** Run `fn` on the unit's container; when a remembered container is gone (another process refreshed the unit), once more on the current one. */
  private async withContainer<T>(id: string, fn: (containerId: string) => Promise<T>): Promise<T> {
    const cached = this.containers.get(id);
    const cid = await this.resolve(id);
    try {
      return await fn(cid);
    } catch (err) {
      if (!cached || !gone(err)) throw err;
      this.containers.delete(id);
      const fresh = await this.resolve(id);
      if (fresh === cid) throw err;
      return fn(fresh);
    }
  }

  async resume(id: string, owner: OwnerLink): Promise<Unit> {
    void owner; // the link is this process's (an attached stdin); a tied unit's companions are relinked too
    await this.withContainer(id, async (cid) => {
      const c = await this.engine.inspect(cid);
      const record = c && recordOfContainer(c);
      if (!c || !record) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox ${id} (it was removed)`);
      await resumeUnit(this.engine, id, cid, record.lifetime === 'ephemeral');
    });
    const unit = await this.find({ id });
    if (!unit) throw new WardenError('SANDBOX_NOT_FOUND', `sandbox ${id} vanished while it was resumed`);
    return unit;
  }

  async stop(id: string, graceMs: number): Promise<void> {
    await this.withContainer(id, (cid) => stopUnit(this.engine, id, cid, graceMs));
  }

  async kill(id: string): Promise<void> {
    await this.withContainer(id, (cid) => killUnit(this.engine, id, cid));
  }

  async remove(id: string, opts: { keepWorkspace?: boolean } = {}): Promise<void> {
    const all = await this.engine.list({ [LABEL.managed]: 'true', [LABEL.id]: id });
    // the sandbox container(s) and a named keyed unit's key lock; companions are removeUnit's
    const sandboxes = all.filter((c) => !c.labels[LABEL.role] || c.labels[LABEL.role] === 'key-lock');
    this.engine.unlinkUnit(id);
    await removeUnit(this.engine, id, sandboxes.map((c) => c.id), opts);
    this.containers.delete(id);
  }

  claim(memberId: string, key: string, owner: OwnerLink): Promise<Unit> {
    void owner; // the member is this process's already (only the pool that made it hands it out)
    // one claim at a time: two renames of one container by its old name can both succeed
    const run = this.claims.then(() => this.claimOne(memberId, key));
    this.claims = run.catch(() => undefined);
    return run;
  }

  private async claimOne(memberId: string, key: string): Promise<Unit> {
    const c = await this.sandboxById(memberId);
    // only a member marked ready is handed out (one being made is not claimable yet)
    if (!c || !isReadyPoolName(c.name)) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} is gone, already claimed, or not ready`);
    try {
      await this.engine.rename(c.id, keyedName(key));
    } catch (err) {
      if (err instanceof WardenError && err.code === 'NAME_CONFLICT') throw new WardenError('KEY_TAKEN', `key '${key}' already has a sandbox`, { cause: err });
      throw err;
    }
    const now = await this.engine.inspect(keyedName(key));
    if (!now || now.id !== c.id) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} vanished while it was claimed`);
    const unit = await this.toUnit(now);
    if (!unit) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} vanished while it was claimed`);
    return unit;
  }

  async markPoolReady(memberId: string): Promise<void> {
    await this.withContainer(memberId, async (cid) => {
      const c = await this.engine.inspect(cid);
      if (!c) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} is gone`);
      if (/^warden-pool-/.test(c.name)) return;
      await this.engine.rename(cid, readyName(unitNameOf(c.name)));
    });
  }

  // ---- processes and logs ----

  exec(id: string, req: ExecRequest): Promise<ExecHandle> {
    return this.withContainer(id, async (cid) => {
      // Engine API 1.41 sets a terminal's size only after the exec started, so a command that reads its
      // size at once would see 0x0: a plain command is started through `stty` on its own terminal first.
      // The guard's calls (user 0:0, a program of Warden's) are never wrapped in image code.
      const cmd = req.tty && req.cmd[0] !== GUARD ? ['/bin/sh', '-c', 'stty cols "$1" rows "$2" 2>/dev/null; shift 2; exec "$@"', 'sh', String(req.tty.cols), String(req.tty.rows), ...req.cmd] : req.cmd;
      const e = await this.engine.exec(cid, { cmd, env: req.env, user: req.user, stdin: req.stdin, ...(req.cwd ? { cwd: req.cwd } : {}), ...(req.tty ? { tty: true } : {}) });
      if (req.tty && e.resize) await e.resize(req.tty.cols, req.tty.rows).catch(() => undefined);
      return e;
    });
  }

  execDetached(id: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void> {
    return this.withContainer(id, (cid) => this.engine.execDetached(cid, { cmd: req.cmd, env: req.env, user: req.user, ...(req.cwd ? { cwd: req.cwd } : {}) }));
  }

  logs(id: string, opts: { tail?: number; follow?: boolean }): Promise<Readable> {
    return this.withContainer(id, (cid) => this.engine.streamLogs(cid, { follow: opts.follow === true, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) }));
  }

  async egressLog(id: string): Promise<string> {
    const proxy = await findProxy(this.engine, id);
    return proxy ? this.engine.logs(proxy.id, 100_000) : '';
  }

  previewActivity(id: string): Promise<{ at: number; open: number } | undefined> {
    return previewActivity(this.engine, id);
  }

  // ---- ownership, leftovers, emergency ----

  async prune(sel: UnitSelector & { stopped?: boolean }): Promise<PruneResult> {
    const labels = { ...(sel.labels ?? {}), ...(sel.owner ? { [LABEL.owner]: sel.owner } : {}), ...(sel.instance !== '*' ? { [LABEL.instance]: sel.instance } : {}) };
    // guest volumes are the engine's, not an instance's: only an unnarrowed prune retires old ones
    const narrowed = Object.keys(sel.labels ?? {}).length > 0 || sel.owner !== undefined;
    const guestVolume = narrowed ? undefined : await this.guestVolume().catch(() => undefined);
    return prune(this.engine, {
      labels,
      liveLink: this.owner.link.link,
      stopped: sel.stopped === true,
      removeUnit: async (c) => {
        const id = c.labels[LABEL.id];
        if (id) await this.remove(id);
        else await this.engine.remove(c.id, { force: true });
      },
      inScope: (c) => this.inInstance(c, sel.instance),
      log: this.log,
      ...(guestVolume ? { guestVolume } : {}),
    });
  }

  panic(sel: UnitSelector): Promise<PanicResult> {
    const labels = { ...(sel.labels ?? {}), ...(sel.owner ? { [LABEL.owner]: sel.owner } : {}) };
    // networks and volumes always carried their instance label; unlabelled ones go only in an all-instances panic
    const otherLabels = sel.instance === '*' ? labels : { ...labels, [LABEL.instance]: sel.instance };
    return panic(this.engine, { labels, otherLabels, inScope: (c) => this.inInstance(c, sel.instance), log: this.log });
  }

  /** Whether an engine object belongs to the instance (objects older than the label count as `default`). */
  private inInstance(c: { labels: Record<string, string> }, instance: string): boolean {
    return instance === '*' || (c.labels[LABEL.instance] ?? 'default') === instance;
  }

  async imageExists(ref: string): Promise<boolean> {
    return this.engine.imageExists(ref);
  }

  // ---- the Docker mechanics under a unit ----

  /** 'runsc' for a gVisor unit, after checking the engine has it registered (before anything is made). */
  private async ociRuntime(plan: SandboxPlan): Promise<string | undefined> {
    if (this.kind !== 'gvisor' && plan.isolation !== 'gvisor') return undefined;
    const info = await this.engine.info();
    if (!info.runtimes.includes('runsc')) {
      throw new WardenError('RUNTIME_UNAVAILABLE', "runtime 'runsc' (gVisor) is not registered with this engine; install runsc and add it to /etc/docker/daemon.json (see `warden doctor`), or drop --runtime");
    }
    return 'runsc';
  }

  /** The engine volume with Warden's guest code (the guard), seeded once per guest image. */
  private guestVolume(): Promise<string> {
    this.guest ??= (async () => {
      const ref = wardenImage('guest');
      const hash = (await this.engine.imageLabels(ref))?.[IMAGE_HASH_LABEL];
      if (!hash) throw new WardenError('IMAGE_NOT_FOUND', `Warden's guest image ${ref} is not on this engine (it holds the guard every sandbox runs); build it with \`warden images build guest\``);
      const name = guestVolumeName(hash);
      await this.engine.seedVolume({ name, image: ref, target: GUEST_DIR, labels: { [LABEL.guest]: hash }, helperLabels: { ...this.labels, [LABEL.managed]: 'true', [LABEL.role]: 'volume-seed' } });
      return name;
    })();
    this.guest.catch(() => (this.guest = undefined));
    return this.guest;
  }

  /** This process's reaper (removes its ephemeral units when it dies); once per process. */
  private async armReaper(): Promise<void> {
    if (!this.swept) {
      this.swept = true;
      // leftovers of owners that died before their reaper could act (or before reapers existed)
      void sweepDeadOwners(this.engine, { labels: this.labels, liveLink: this.owner.link.link, log: this.log }).catch((err: unknown) => this.log.warn({ err }, 'sweeping dead owners failed'));
    }
    await this.engine
      .armReaper({ label: [LABEL.ownerLink, this.owner.link.link], image: wardenImage('guest'), labels: { ...this.labels, [LABEL.owner]: this.owner.link.owner } })
      .catch((err: unknown) => {
        if (err instanceof WardenError && err.code === 'IMAGE_NOT_FOUND') throw err;
        this.log.warn({ err }, 'no reaper: ephemeral sandboxes of this process are stopped, not removed, if it dies (prune removes them)');
      });
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? ''}`;
  }
}
