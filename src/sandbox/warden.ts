import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError, WardenError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { compileSpec, DEFAULT_WORKSPACE_DISK, PATHS, policyHash, SANDBOX_ALIAS, workspaceVolumeName } from '../policy/compile.js';
import { LABEL } from '../policy/labels.js';
import { checkSandboxRef } from '../policy/refs.js';
import { checkSignal } from '../policy/limits.js';
import { parseSpec, type SandboxSpec, type SandboxSpecInput } from '../policy/spec.js';
import { DockerRuntime } from '../runtime/docker/docker-runtime.js';
import { connectDocker } from '../runtime/docker/engine.js';
import type { ContainerRuntime, ContainerState, RuntimeContainer } from '../runtime/runtime.js';
import { newSandboxId } from '../util/ids.js';
import { instanceName } from '../config/env.js';
import { formatBytes } from '../util/units.js';
import { loadSecrets } from '../egress/credentials.js';
import { createEgress, findProxy, removeEgress } from '../egress/topology.js';
import { getTemplate, withTemplate, type AppTemplate } from '../templates/catalog.js';
import { ensureDevServer, type ReadyResult } from '../templates/readiness.js';
import { checkHostPath } from './host-paths.js';
import { createPreview, findPreview, reachablePorts, removePreview } from './preview.js';
import { parseHostPathMap, toHostPath, toLocalPath, type HostPathMap } from './host-path-map.js';
import { runInternal } from './internal-exec.js';
import { GUEST_DIR, guardSignalAll, guestVolumeName } from '../guest/argv.js';
import { wardenImage } from '../images/catalog.js';
import { IMAGE_HASH_LABEL } from '../images/labels.js';
import { sharedNetworkId } from '../runtime/shared-network.js';
import { wardenHome } from '../config/home.js';
import { prune, sweepDeadOwners, type PruneReport } from './prune.js';
import { Sandbox, storedSpec, toSandboxInfo, type SandboxInfo, type SandboxOwner } from './sandbox.js';
import { isReadyPoolMember, keyedName, poolMemberName, sandboxKey } from './naming.js';
import { WarmPool, type WarmPoolOptions } from './pool.js';
import { Agent, type AgentOptions } from '../agents/agent.js';

export interface WardenOptions {
  /** The container backend; default: Docker from DOCKER_HOST or the default socket. */
  runtime?: ContainerRuntime;
  /** Who owns the sandboxes this instance creates (label warden.owner). Default user@host. */
  owner?: string;
  /** Labels added to every object this instance creates (e.g. a test run id). */
  labels?: Record<string, string>;
  /**
   * The Warden instance (deployment) this object acts for: it labels everything it creates
   * `warden.instance=<instance>` and sees, controls and panics only sandboxes of that instance (those
   * made before the label existed count as `default`). Default `WARDEN_INSTANCE`, else `default`.
   */
  instance?: string;
  logger?: Logger;
  /**
   * On SIGTERM/SIGINT, remove the ephemeral sandboxes this process owns before exiting (default false:
   * the dead-man switch still stops them when the process dies, but abruptly).
   */
  handleSignals?: boolean;
  /**
   * Egress proxy settings: secrets for keyless credentials (default: WARDEN_*_API_KEY,
   * WARDEN_GITHUB_TOKEN, base URLs and WARDEN_SECRETS_FILE from the environment) and a CA bundle the
   * proxy trusts for upstreams (default WARDEN_EGRESS_CA_FILE).
   */
  egress?: { secrets?: Record<string, string>; caFile?: string };
  /**
   * When Warden runs in a container: which of its directories the engine's host has where (default
   * from `WARDEN_HOST_PATH_MAP`, e.g. `/workspace=/srv/warden/workspaces`). Warden checks the local path
   * (existence, owner) and gives the engine the host path; paths under no mapping are refused.
   * `undefined`/`[]`: Warden runs on the engine's host.
   */
  hostPathMap?: HostPathMap;
  /** The disk quota of a host workspace whose spec sets none (default 10 GiB). */
  defaultWorkspaceDisk?: number;
}

/** What panic() did. */
export interface PanicReport {
  containers: number;
  networks: number;
  volumes: number;
  /** Leaked runtime shims of the removed sandboxes that were killed on this host. */
  orphanShims: number;
  durationMs: number;
  /** Warden-labelled containers still present afterwards (0 means done). */
  left: number;
  errors: string[];
}

/** Per-call creation options (what the spec cannot carry). */
export interface CreateOptions {
  /** Labels added by the caller (a server's project label, a tenant): unlike spec labels they may use the warden. prefix. */
  labels?: Record<string, string>;
  /** A template's dev server must answer within this long (default: the template's, 60 s for react-vite). */
  readyTimeoutMs?: number;
  /** Told what a long step waits for (the CLI prints it: "waiting for the react-vite dev server ..."). */
  onProgress?: (message: string) => void;
}

export interface ListFilter {
  key?: string;
  owner?: string;
  lifetime?: 'ephemeral' | 'persistent';
  state?: ContainerState;
  /** Only sandboxes carrying every one of these labels (`{ 'warden.project': 'p1' }`). */
  labels?: Record<string, string>;
  /** Every instance's sandboxes, not only this Warden's (the engine's admin view). */
  allInstances?: boolean;
}

const LIST_FILTER_KEYS = new Set(['key', 'owner', 'lifetime', 'state', 'labels', 'allInstances']);

/** A list filter with a misspelt or unknown field is an error, never an unfiltered answer. */
function checkListFilter(filter: unknown): ListFilter {
  if (filter === undefined) return {};
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw new WardenError('INVALID_ARGUMENT', 'list(filter): the filter is an object such as { labels: { team: "a" }, state: "running" }');
  for (const k of Object.keys(filter)) {
    if (!LIST_FILTER_KEYS.has(k)) {
      throw new WardenError('INVALID_ARGUMENT', `list(filter): unknown field '${k}'${k === 'label' ? "; labels are filtered with labels: { key: 'value' } (label=k=v is the HTTP query's spelling)" : ''}; known: ${[...LIST_FILTER_KEYS].join(', ')}`);
    }
  }
  const f = filter as ListFilter;
  if (f.labels !== undefined && (typeof f.labels !== 'object' || f.labels === null || Object.values(f.labels).some((v) => typeof v !== 'string'))) {
    throw new WardenError('INVALID_ARGUMENT', "list(filter): labels is an object of strings, e.g. { 'warden.project': 'p1' }");
  }
  return f;
}

/** Warden's own bridge for network 'open': inter-container traffic off, so open sandboxes cannot reach each other. */
export const OPEN_NETWORK = 'warden-open';
const DEFAULT_UID = 1000;
const DEFAULT_STOP_MS = 30_000;

/**
 * The entry object: creates, finds, reuses and removes sandboxes over a {@link ContainerRuntime}.
 * It keeps no map of sandboxes: everything is read from the engine's labels, so a new process
 * re-adopts what an earlier one created.
 *
 * @example
 * const warden = new Warden();
 * const sb = await warden.ensure({ key: 'project-42', workspace: '/srv/projects/42', lifetime: 'persistent' });
 * const { stdout } = await sb.exec(['git', 'log', '--oneline', '-5']);
 */
export class Warden implements SandboxOwner {
  readonly runtime: ContainerRuntime;
  readonly owner: string;
  /** The instance this Warden acts for (label warden.instance). */
  readonly instance: string;
  private readonly extraLabels: Record<string, string>;
  private readonly egress: { secrets?: Record<string, string>; caFile?: string };
  private readonly log: Logger;
  /** Last SDK activity per sandbox id in this process (the idle policy reads it). */
  private readonly activity = new Map<string, number>();
  private readonly hostPathMap: HostPathMap;
  /** Warm pools registered with warden.pool(), by template. */
  private readonly pools = new Map<string, WarmPool>();
  /** Claims from pools run one at a time (see claim()). */
  private claims: Promise<unknown> = Promise.resolve();
  /**
   * This process's link id: on everything made for its ephemeral sandboxes (LABEL.ownerLink), and the
   * label its reaper removes when the process dies.
   */
  readonly ownerLink = randomBytes(8).toString('hex');
  private readonly defaultWorkspaceDisk: number;
  private guest: Promise<string> | undefined;
  private swept = false;

  constructor(opts: WardenOptions = {}) {
    this.log = opts.logger ?? createLogger();
    this.runtime = opts.runtime ?? new DockerRuntime(connectDocker(), this.log);
    this.owner = opts.owner ?? `${safeUser()}@${hostname()}`;
    this.instance = opts.instance ?? instanceName();
    this.extraLabels = { ...(opts.labels ?? {}), [LABEL.instance]: this.instance };
    this.egress = opts.egress ?? {};
    this.hostPathMap = opts.hostPathMap ?? parseHostPathMap(process.env.WARDEN_HOST_PATH_MAP);
    this.defaultWorkspaceDisk = opts.defaultWorkspaceDisk ?? DEFAULT_WORKSPACE_DISK;
    if (opts.handleSignals) this.installSignalHandlers();
  }

  private installSignalHandlers(): void {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      this.log.info({ signal: sig }, 'shutting down: removing owned ephemeral sandboxes');
      void this.shutdown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  /**
   * Remove the ephemeral sandboxes this process owns (gracefully, within `timeoutMs`), and drop the
   * owner links. Call it before a planned exit; a crash is covered by the dead-man switch.
   */
  async shutdown(opts: { timeoutMs?: number } = {}): Promise<number> {
    await Promise.all([...this.pools.values()].map((p) => p.stop())); // no top-ups while leaving; unclaimed members go
    const ids = this.runtime.linked();
    await Promise.all(ids.map((id) => this.remove(id, { timeoutMs: opts.timeoutMs ?? 5_000 }).catch((err: unknown) => this.log.warn({ err, container: id }, 'shutdown: remove failed'))));
    this.runtime.unlink();
    return ids.length;
  }

  /**
   * Emergency stop: kill and remove every Warden sandbox of this instance (any owner; every instance
   * with `allInstances`), then its networks and volumes. `labels` narrows it (e.g. one tenant or test run).
   */
  async panic(opts: { labels?: Record<string, string>; allInstances?: boolean } = {}): Promise<PanicReport> {
    const t0 = Date.now();
    const labels = { [LABEL.managed]: 'true', ...(opts.labels ?? {}) };
    const errors: string[] = [];
    // networks and volumes always carried their instance label; unlabelled ones go only in an all-instances panic
    const otherLabels = opts.allInstances ? labels : { ...labels, [LABEL.instance]: this.instance };
    const [all, other] = await Promise.all([this.runtime.list(labels), this.runtime.listOther(otherLabels)]);
    const containers = all.filter((c) => opts.allInstances || this.mine(c));
    await Promise.all(
      containers.map((c) => this.runtime.remove(c.id, { force: true }).catch((err: unknown) => void errors.push(`${c.name}: ${(err as Error).message}`))),
    );
    await Promise.all(other.networks.map((n) => this.runtime.removeNetwork(n).catch((err: unknown) => void errors.push(`network ${n}: ${(err as Error).message}`))));
    await Promise.all(other.volumes.map((v) => this.runtime.removeVolume(v).catch((err: unknown) => void errors.push(`volume ${v}: ${(err as Error).message}`))));
    const left = (await this.runtime.list(labels)).filter((c) => opts.allInstances || this.mine(c)).length;
    const orphanShims = await this.runtime.reapOrphans(containers.map((c) => c.id)).catch(() => 0);
    const report = { containers: containers.length, networks: other.networks.length, volumes: other.volumes.length, orphanShims, durationMs: Date.now() - t0, left, errors };
    this.log.warn(report, 'panic: emergency stop done');
    return report;
  }

  /**
   * Remove exited and dead sandboxes (with their proxy, forwarder, network and volume), companions
   * whose sandbox is gone, and everything of owners that died (their reaper is gone). `labels`
   * narrows it (a tenant, a test run). Says what it removed.
   */
  async prune(opts: { labels?: Record<string, string> } = {}): Promise<PruneReport> {
    // guest volumes are the engine's, not an instance's: only an unnarrowed prune retires old ones
    const guestVolume = opts.labels && Object.keys(opts.labels).length > 0 ? undefined : await this.guestVolume().catch(() => undefined);
    return prune(this.runtime, { labels: { ...(opts.labels ?? {}), [LABEL.instance]: this.instance }, liveLink: this.ownerLink, removeSandbox: (id) => this.remove(id, { force: true }), log: this.log, ...(guestVolume ? { guestVolume } : {}) });
  }

  /** The engine volume with Warden's guest code (the guard), seeded once per guest image. */
  private guestVolume(): Promise<string> {
    this.guest ??= (async () => {
      const ref = wardenImage('guest');
      const hash = (await this.runtime.imageLabels(ref))?.[IMAGE_HASH_LABEL];
      if (!hash) throw new WardenError('IMAGE_NOT_FOUND', `Warden's guest image ${ref} is not on this engine (it holds the guard every sandbox runs); build it with \`warden images build guest\``);
      const name = guestVolumeName(hash);
      await this.runtime.seedVolume({ name, image: ref, target: GUEST_DIR, labels: { [LABEL.guest]: hash }, helperLabels: { ...this.extraLabels, [LABEL.managed]: 'true', [LABEL.role]: 'volume-seed' } });
      return name;
    })();
    this.guest.catch(() => (this.guest = undefined));
    return this.guest;
  }

  /** This process's reaper (removes its ephemeral sandboxes when it dies); once per process. */
  private async armReaper(): Promise<void> {
    if (!this.swept) {
      this.swept = true;
      // leftovers of owners that died before their reaper could act (or before reapers existed)
      void sweepDeadOwners(this.runtime, { labels: this.extraLabels, liveLink: this.ownerLink, log: this.log }).catch((err: unknown) => this.log.warn({ err }, 'sweeping dead owners failed'));
    }
    await this.runtime.armReaper({ label: [LABEL.ownerLink, this.ownerLink], image: wardenImage('guest'), labels: { ...this.extraLabels, [LABEL.owner]: this.owner } }).catch((err: unknown) => {
      if (err instanceof WardenError && err.code === 'IMAGE_NOT_FOUND') throw err;
      this.log.warn({ err }, 'no reaper: ephemeral sandboxes of this process are stopped, not removed, if it dies (prune removes them)');
    });
  }

  /**
   * Create and start a new sandbox. On failure nothing is left behind. With `template`, the template's
   * defaults apply under the given spec, and it returns once the dev server answers (`sb.url(port)`).
   * @example
   * const sb = await warden.create({ template: 'react-vite', key: conversationId });
   * await sb.writeBase64('src/App.tsx', code);   // hot reload
   * open(sb.url(3001));
   */
  async create(input: SandboxSpecInput = {}, opts: CreateOptions = {}): Promise<Sandbox> {
    const template = input.template ? getTemplate(input.template) : undefined;
    const spec = parseSpec(template ? withTemplate(input, template) : input);
    if (spec.key) {
      // also catches a sandbox of this key made by an earlier version (named differently, same label)
      const existing = await this.findByKey(spec.key);
      if (existing) {
        throw new WardenError('NAME_CONFLICT', `key '${spec.key}' already has sandbox ${existing.labels[LABEL.id] ?? existing.id} (${existing.state}); reuse it with ensure() (CLI: create --ensure), or remove it first`);
      }
    }
    const sb = (await this.claim(spec, opts)) ?? (await this.createNew(spec, opts.labels));
    if (template) {
      try {
        await this.templateReady(sb, template, opts);
      } catch (err) {
        await this.remove(sb.containerId, { force: true }).catch(() => undefined);
        throw err;
      }
    }
    return sb;
  }

  /** A sandbox with a fresh id; a workspace volume the failed attempt made is removed too. */
  private async createNew(spec: SandboxSpec, labels?: Record<string, string>): Promise<Sandbox> {
    const id = newSandboxId();
    try {
      return await this.createFrom(spec, id, labels);
    } catch (err) {
      if (spec.workspaceVolume) await this.runtime.removeVolume(workspaceVolumeName(id)).catch(() => undefined);
      throw err;
    }
  }

  /** The dev server answers (started if need be). */
  private async templateReady(sb: Sandbox, t: AppTemplate, opts: CreateOptions): Promise<void> {
    // concurrent callers for one sandbox share one wait (the lock in the sandbox makes it one start
    // across processes too)
    let ready = this.readiness.get(sb.containerId);
    if (!ready) {
      ready = ensureDevServer(sb, t, opts.readyTimeoutMs !== undefined ? { timeoutMs: opts.readyTimeoutMs } : {}).finally(() => this.readiness.delete(sb.containerId));
      this.readiness.set(sb.containerId, ready);
    }
    opts.onProgress?.(`waiting for the ${t.name} dev server on port ${t.port} of ${sb.id} (up to ${Math.round((opts.readyTimeoutMs ?? t.readiness.timeoutMs) / 1000)} s)`);
    const r = await ready;
    this.log.info({ sandbox: sb.id, template: t.name, url: r.url, started: r.started, readyMs: r.readyMs }, 'template dev server ready');
  }

  /** Dev-server waits in flight, by container id. */
  private readonly readiness = new Map<string, Promise<ReadyResult>>();

  /** Record activity on a sandbox (SDK calls do; the idle policy reads it with lastActivity). */
  touch(id: string): void {
    this.activity.set(id, Date.now());
  }

  /** When this process last saw SDK activity on the sandbox (ms since epoch), if ever. */
  lastActivity(id: string): number | undefined {
    return this.activity.get(id);
  }

  /** The engine's size (memory, CPUs), read once: a cap above it is a typo the engine would take. */
  private engineSize: Promise<{ memoryBytes: number; cpus: number }> | undefined;

  private async checkEngineFits(spec: SandboxSpec): Promise<void> {
    this.engineSize ??= this.runtime.info().then((i) => ({ memoryBytes: i.memoryBytes, cpus: i.cpus }));
    const size = await this.engineSize.catch((err: unknown) => {
      this.engineSize = undefined;
      throw err;
    });
    const issues: Array<{ path: string; message: string }> = [];
    if (size.memoryBytes > 0 && spec.resources.memory > size.memoryBytes) {
      issues.push({ path: 'resources.memory', message: `${formatBytes(spec.resources.memory)} is more than the engine has (${formatBytes(size.memoryBytes)}); ask for at most that, e.g. 2g` });
    }
    if (size.cpus > 0 && spec.resources.cpus > size.cpus) {
      issues.push({ path: 'resources.cpus', message: `${spec.resources.cpus} is more than the engine's ${size.cpus} CPUs; ask for at most ${size.cpus}` });
    }
    if (issues.length) throw new ValidationError(`invalid sandbox spec: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }

  private async createFrom(spec: SandboxSpec, id: string, labels: Record<string, string> = {}, owner = this.owner, name?: string): Promise<Sandbox> {
    await this.checkEngineFits(spec);
    const resolved = await this.resolveHostPaths(spec);
    const user = await this.resolveUser(resolved);
    if (resolved.runtime === 'runsc') {
      const info = await this.runtime.info();
      if (!info.runtimes.includes('runsc')) {
        throw new WardenError('RUNTIME_UNAVAILABLE', "runtime 'runsc' (gVisor) is not registered with this engine; install runsc and add it to /etc/docker/daemon.json (see `warden doctor`), or drop --runtime");
      }
    }
    // a key's name is the same for every caller: the engine's name uniqueness makes one-sandbox-per-key atomic
    const containerName = name ?? (resolved.name ? `warden-${resolved.name}` : resolved.key ? keyedName(resolved.key) : `warden-${id}`);
    const { workspaceOwner: _owner, ...clean } = resolved;
    const tiedToOwner = clean.lifetime === 'ephemeral';
    const extraLabels = { ...this.extraLabels, ...labels, ...(tiedToOwner ? { [LABEL.ownerLink]: this.ownerLink } : {}) };
    // the reaper first: nothing of an ephemeral sandbox exists before something removes it when this process dies
    const [guestVolume, openNetwork] = await Promise.all([
      this.guestVolume(),
      clean.network === 'open' ? sharedNetworkId(this.runtime, { name: OPEN_NETWORK, internal: false, icc: false, labels: { ...extraLabels, [LABEL.role]: 'open-network' } }) : undefined,
      tiedToOwner ? this.armReaper() : undefined,
    ]);
    // a new workspace volume is seeded from the image (seconds for a template's node_modules) while the
    // egress network and proxy are made
    const seeded = clean.workspaceVolume
      ? this.runtime.seedVolume({
          name: workspaceVolumeName(id),
          image: clean.image,
          target: PATHS.workspace,
          labels: { ...clean.labels, ...extraLabels, [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.owner]: owner, [LABEL.lifetime]: clean.lifetime },
          helperLabels: { ...extraLabels, [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.role]: 'volume-seed' },
        })
      : Promise.resolve();
    seeded.catch(() => undefined); // awaited below; no unhandled rejection while egress is made
    let egress: { network: string; proxyUrl: string; ready: Promise<void> } | undefined;
    try {
      egress =
        clean.network === 'allowlist'
          ? await createEgress(this.runtime, clean, {
              id,
              tiedToOwner,
              labels: { ...extraLabels, [LABEL.owner]: owner, [LABEL.lifetime]: clean.lifetime },
              secrets: this.egress.secrets ?? loadSecrets(),
              ...((this.egress.caFile ?? process.env.WARDEN_EGRESS_CA_FILE) ? { caFile: toHostPath('WARDEN_EGRESS_CA_FILE', (await checkHostPath('WARDEN_EGRESS_CA_FILE', (this.egress.caFile ?? process.env.WARDEN_EGRESS_CA_FILE)!, 'any')).path, this.hostPathMap) } : {}),
            })
          : undefined;
    } catch (err) {
      await seeded.catch(() => undefined); // settled before the caller removes the volume
      throw err;
    }
    try {
      await seeded;
    } catch (err) {
      if (egress) await removeEgress(this.runtime, id).catch(() => undefined);
      throw err;
    }
    let c: RuntimeContainer;
    // an allowlisted sandbox's ports are published by its preview forwarder, made alongside it
    const preview = egress && clean.ports.length > 0
      ? createPreview(this.runtime, {
          id,
          target: SANDBOX_ALIAS,
          network: egress.network,
          ports: clean.ports.map((p) => (typeof p === 'number' ? { containerPort: p, hostIp: '127.0.0.1' } : { containerPort: p.container, hostIp: p.hostIp, ...(p.host ? { hostPort: p.host } : {}) })),
          labels: { ...extraLabels, [LABEL.owner]: owner, [LABEL.lifetime]: clean.lifetime },
          tiedToOwner,
        })
      : undefined;
    const made = await Promise.allSettled([
      this.runtime.create(compileSpec(clean, { id, containerName, owner, createdAt: new Date().toISOString(), user, extraLabels, guestVolume, ...(openNetwork ? { openNetwork } : {}), ...(egress ? { egress: { network: egress.network, proxyUrl: egress.proxyUrl } } : {}) })),
      preview,
      egress?.ready,
    ]);
    const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (made[0].status === 'fulfilled' && !failed) {
      c = made[0].value;
      if (made[1].status === 'fulfilled' && made[1].value) c = { ...c, ports: made[1].value.ports };
    } else {
      if (made[0].status === 'fulfilled') await this.runtime.remove(made[0].value.id, { force: true }).catch(() => undefined);
      await removePreview(this.runtime, id).catch(() => undefined);
      if (egress) await removeEgress(this.runtime, id).catch(() => undefined);
      throw (failed as PromiseRejectedResult).reason;
    }
    this.log.info({ sandbox: id, container: c.id, image: resolved.image }, 'sandbox created');
    return this.handle(c);
  }

  /**
   * The sandbox for `spec.key`: the running one is reused, a stopped one restarted (or recreated if
   * its policy changed), otherwise a new one is created. Safe to call concurrently for one key.
   */
  async ensure(input: SandboxSpecInput, opts: CreateOptions = {}): Promise<Sandbox> {
    const template = input.template ? getTemplate(input.template) : undefined;
    if (!template) return this.ensureSandbox(parseSpec(input), opts);
    const sb = await this.ensureSandbox(parseSpec(withTemplate(input, template)), opts);
    await this.templateReady(sb, template, opts); // a resumed sandbox gets its dev server back
    return sb;
  }

  private async ensureSandbox(spec: SandboxSpec, opts: CreateOptions): Promise<Sandbox> {
    if (!spec.key) throw new WardenError('INVALID_SPEC', 'ensure() needs a key (the project or session id) to find the sandbox again; add key: "..."');
    const resolved = await this.resolveHostPaths(spec);
    const wanted = policyHash(resolved, await this.resolveUser(resolved));
    for (let attempt = 0; attempt < 40; attempt++) {
      const found = await this.findByKey(spec.key);
      if (!found) {
        try {
          return (await this.claim(spec, opts)) ?? (await this.createNew(spec, opts.labels));
        } catch (err) {
          if (err instanceof WardenError && err.code === 'NAME_CONFLICT') continue; // another caller created it first: adopt theirs
          throw err;
        }
      }
      const sameSpec = found.labels[LABEL.policyHash] === wanted;
      switch (found.state) {
        case 'running':
          if (!sameSpec) this.log.warn({ sandbox: found.labels[LABEL.id], key: spec.key }, 'ensure: reusing a running sandbox whose policy differs from the requested spec; refresh() applies the new one');
          return this.handle(await this.mustInspect(found.id));
        case 'created': // another caller is starting it
        case 'restarting':
        case 'removing':
          await sleep(100);
          continue;
        case 'exited':
        case 'paused':
          if (sameSpec && found.state === 'exited') {
            const tiedToOwner = found.labels[LABEL.lifetime] !== 'persistent';
            const proxy = await findProxy(this.runtime, found.labels[LABEL.id] ?? '');
            if (proxy) await this.runtime.start(proxy.id, { tiedToOwner });
            await this.runtime.start(found.id, { tiedToOwner });
            const preview = await findPreview(this.runtime, found.labels[LABEL.id] ?? '');
            if (preview) await this.runtime.start(preview.id, { tiedToOwner });
            return this.handle(await this.mustInspect(found.id));
          }
          break;
        default:
      }
      await this.runtime.remove(found.id, { force: true });
      await removePreview(this.runtime, found.labels[LABEL.id] ?? '');
      await removeEgress(this.runtime, found.labels[LABEL.id] ?? '');
      try {
        return await this.createFrom(spec, found.labels[LABEL.id] ?? newSandboxId(), opts.labels);
      } catch (err) {
        if (err instanceof WardenError && err.code === 'NAME_CONFLICT') continue;
        throw err;
      }
    }
    throw new WardenError('NAME_CONFLICT', `ensure(${spec.key}): the sandbox kept changing under concurrent callers; try again`);
  }

  /**
   * An agent CLI ('claude' | 'gemini' | 'codex') that runs in this Warden's sandboxes.
   * @example const r = await warden.agent('claude').run({ workspace: './repo', prompt: 'fix the build' }).result();
   */
  agent(name: 'claude' | 'gemini' | 'codex', opts: AgentOptions = {}): Agent {
    return new Agent(this, name, { logger: this.log, ...opts });
  }

  /** Find a sandbox by Warden id, name, container name or container id. Throws SANDBOX_NOT_FOUND. */
  async get(ref: string): Promise<Sandbox> {
    const sb = await this.find(ref);
    if (!sb) throw new WardenError('SANDBOX_NOT_FOUND', `no Warden sandbox '${ref}'; \`warden ps\` lists them`);
    return sb;
  }

  /**
   * Like get(), but undefined when there is none. Takes, in this order: the Warden id, the name, a unique
   * prefix of the Warden id (as docker takes id prefixes; AMBIGUOUS_ID lists the matches), the container id.
   */
  async find(ref: string): Promise<Sandbox | undefined> {
    checkSandboxRef(ref); // never an Engine API path of the caller's making
    const byId = (await this.runtime.list({ [LABEL.managed]: 'true', [LABEL.id]: ref })).filter((x) => !x.labels[LABEL.role]);
    // a short all-hex ref would be an engine id-prefix lookup, which fails when several ids share it:
    // container ids are taken from 12 hex characters on (what `docker ps` shows); Warden's own id
    // prefixes are looked up among this instance's sandboxes instead
    const c = byId[0]
      ? await this.runtime.inspect(byId[0].id)
      : ((await this.runtime.inspect(`warden-${ref}`)) ?? (await this.byIdPrefix(ref)) ?? (/^[0-9a-f]{1,11}$/.test(ref) ? undefined : await this.runtime.inspect(ref)));
    if (!c || c.labels[LABEL.managed] !== 'true' || !c.labels[LABEL.id] || c.labels[LABEL.role] || !this.mine(c)) return undefined;
    return this.handle(c);
  }

  private async byIdPrefix(prefix: string): Promise<RuntimeContainer | undefined> {
    if (!/^[A-Za-z0-9_-]+$/.test(prefix)) return undefined;
    // `97119e` finds sbx-97119e8ef636 too: people type the hex part, as with docker's ids
    const hits = (await this.runtime.list({ [LABEL.managed]: 'true' })).filter((x) => !x.labels[LABEL.role] && this.mine(x) && (x.labels[LABEL.id]?.startsWith(prefix) || x.labels[LABEL.id]?.startsWith(`sbx-${prefix}`)));
    if (hits.length > 1) {
      const ids = hits.map((h) => h.labels[LABEL.id]).sort();
      throw new WardenError('AMBIGUOUS_ID', `'${prefix}' is the start of ${hits.length} sandbox ids (${ids.join(', ')}); type more of the id`, { details: { matches: ids } });
    }
    return hits[0] ? this.runtime.inspect(hits[0].id) : undefined;
  }

  /** All Warden sandboxes on the engine (any owner unless filtered), newest first. */
  async list(filter: ListFilter = {}): Promise<SandboxInfo[]> {
    filter = checkListFilter(filter);
    const labels: Record<string, string> = { [LABEL.managed]: 'true', ...(filter.labels ?? {}) };
    if (filter.owner) labels[LABEL.owner] = filter.owner;
    if (filter.lifetime) labels[LABEL.lifetime] = filter.lifetime;
    const items = await this.runtime.list(labels);
    return items
      // by key in memory: a claimed pool member has its key in its name, not its labels
      .filter((c) => !c.labels[LABEL.role] && (filter.allInstances || this.mine(c)) && (!filter.state || c.state === filter.state) && (!filter.key || sandboxKey(c) === filter.key))
      .map(toSandboxInfo)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /**
   * Graceful stop: SIGTERM to every process in the sandbox, up to `timeoutMs` (default 30 s) for them
   * to exit, then SIGKILL to all. Returns when nothing of the sandbox runs any more.
   */
  async stop(ref: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const c = await this.mustInspectRef(ref);
    if (c.state !== 'running') return;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_MS;
    // the engine sends SIGTERM to PID 1, the guard, which sends SIGTERM to every process and ends once
    // none is left; the engine SIGKILLs it (and with it the whole sandbox) when the grace runs out
    await this.runtime.stop(c.id, timeoutMs);
    const [proxy, preview] = await Promise.all([findProxy(this.runtime, c.labels[LABEL.id] ?? ''), findPreview(this.runtime, c.labels[LABEL.id] ?? '')]);
    await Promise.all([proxy && this.runtime.stop(proxy.id, 0), preview && this.runtime.stop(preview.id, 0)]);
    this.log.info({ sandbox: c.labels[LABEL.id] }, 'sandbox stopped');
  }

  /** SIGKILL (default) stops the whole sandbox at once; another signal goes to every process in it. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    signal = checkSignal(signal); // SIGFOO is an error, not a no-op
    const c = await this.mustInspectRef(ref);
    if (c.state !== 'running') return;
    if (signal === 'SIGKILL') {
      await this.runtime.kill(c.id, 'SIGKILL');
      await this.waitNotRunning(c.id);
      const [proxy, preview] = await Promise.all([findProxy(this.runtime, c.labels[LABEL.id] ?? ''), findPreview(this.runtime, c.labels[LABEL.id] ?? '')]);
      await Promise.all([proxy && this.runtime.kill(proxy.id, 'SIGKILL'), preview && this.runtime.kill(preview.id, 'SIGKILL')]);
      return;
    }
    // the guard (root, CAP_KILL) signals every workload process, whoever's they are
    await runInternal(this.runtime, c.id, guardSignalAll(signal), '0:0');
  }

  /** Remove a sandbox: stopped gracefully first (or killed at once with `force`). Safe to call twice. */
  async remove(ref: string, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const c = await this.find(ref);
    if (!c) return;
    if (c.info.state === 'running' && !opts.force) await this.stop(c.containerId, { timeoutMs: opts.timeoutMs ?? 10_000 });
    await this.runtime.remove(c.containerId, { force: true });
    await removePreview(this.runtime, c.id); // before the network it is attached to
    await removeEgress(this.runtime, c.id);
    await this.runtime.removeVolume(workspaceVolumeName(c.id));
    this.activity.delete(c.id);
    this.log.info({ sandbox: c.id }, 'sandbox removed');
  }

  /**
   * Recreate a sandbox from scratch with the same id, name, key and spec; the workspace is kept.
   * `reason` is recorded in the new container's labels (warden.last-refresh, warden.refresh-count).
   */
  async refresh(ref: string, opts: { reason?: string } = {}): Promise<Sandbox> {
    const c = await this.mustInspectRef(ref);
    const stored = storedSpec(c);
    // the labels hold the engine host's paths; Warden checks them where it stands (its container's view)
    const local = (p: string | undefined): string | undefined => (p === undefined ? p : toLocalPath(p, this.hostPathMap));
    const key = sandboxKey(c); // a claimed pool member's is in its name; the new container gets the label
    const spec = parseSpec({
      ...stored,
      // the label holds the parsed spec (milliseconds); a bare number would be read as seconds
      ...(typeof stored.maxRuntime === 'number' ? { maxRuntime: `${stored.maxRuntime}ms` } : {}),
      ...(key ? { key } : {}),
      ...(stored.workspace ? { workspace: local(stored.workspace) } : {}),
      ...(stored.configDir ? { configDir: local(stored.configDir) } : {}),
      ...(stored.mounts ? { mounts: stored.mounts.map((m) => ({ ...m, source: local(m.source)! })) } : {}),
    });
    const id = c.labels[LABEL.id] ?? newSandboxId();
    const count = Number(c.labels[LABEL.refreshCount] ?? '0') + 1;
    await this.runtime.remove(c.id, { force: true });
    await removePreview(this.runtime, id);
    await removeEgress(this.runtime, id); // a workspace volume is kept: the new container mounts it again
    // labels the original's creator added (e.g. a tenant or test run) and its owner carry over
    const reserved = new Set<string>(Object.values(LABEL));
    const carried = Object.fromEntries(Object.entries(c.labels).filter(([k]) => !reserved.has(k) && !(k in spec.labels) && !k.startsWith('warden.image')));
    const sb = await this.createFrom(spec, id, {
      ...carried,
      [LABEL.refreshCount]: String(count),
      [LABEL.lastRefresh]: `${new Date().toISOString()} ${opts.reason ?? 'requested'}`.slice(0, 1000),
    }, c.labels[LABEL.owner] ?? this.owner);
    if (spec.template) await this.templateReady(sb, getTemplate(spec.template), {});
    return sb;
  }

  /**
   * Keep `size` sandboxes of a template warm, so `create`/`ensure` with that template and a key hand
   * one out at once (dev server already answering) instead of building it. Requests whose spec differs
   * from the pool's (other resources, a host workspace, env, a name) are made as usual.
   * @example
   * warden.pool({ template: 'react-vite', size: 2 });
   * const sb = await warden.ensure({ template: 'react-vite', key: conversationId }); // ~instant
   */
  pool(opts: WarmPoolOptions): WarmPool {
    const pool = new WarmPool(this, opts, this.log);
    void this.pools.get(pool.template)?.stop(); // its members could never be handed out again (other holder)
    this.pools.set(pool.template, pool);
    pool.start();
    return pool;
  }

  /** The active warm pools of this Warden (one per template). */
  warmPools(): WarmPool[] {
    return [...this.pools.values()].filter((p) => p.active);
  }

  /**
   * Make one pool member (used by WarmPool): a full template sandbox, made under a name no claim looks
   * at and renamed to its pool name once the dev server answers (so nobody is handed a half-made one).
   */
  async createPoolMember(spec: SandboxSpec, labels: Record<string, string>): Promise<Sandbox> {
    const id = newSandboxId();
    const template = spec.template ?? 'none';
    let sb: Sandbox;
    try {
      sb = await this.createFrom(spec, id, labels, this.owner, poolMemberName(template, id, false));
    } catch (err) {
      if (spec.workspaceVolume) await this.runtime.removeVolume(workspaceVolumeName(id)).catch(() => undefined);
      throw err;
    }
    try {
      if (spec.template) await this.templateReady(sb, getTemplate(spec.template), {});
      await this.runtime.rename(sb.containerId, poolMemberName(template, id, true));
    } catch (err) {
      await this.remove(sb.containerId, { force: true }).catch(() => undefined);
      throw err;
    }
    return sb;
  }

  /**
   * A running member of this process's pool for the spec's template, renamed to the key's container
   * name; undefined when there is no pool for it, the spec differs, or no member is free. A
   * NAME_CONFLICT means the key has a sandbox already (ensure's retry finds it; create reports it).
   */
  private claim(spec: SandboxSpec, opts: CreateOptions): Promise<Sandbox | undefined> {
    const pool = spec.template && spec.key ? this.pools.get(spec.template) : undefined;
    if (!pool?.active || !pool.matches(spec)) return Promise.resolve(undefined);
    // one claim at a time: two renames of one member by its old name could both succeed
    const run = this.claims.then(() => this.claimFrom(pool, spec, opts));
    this.claims = run.catch(() => undefined);
    return run;
  }

  private async claimFrom(pool: WarmPool, spec: SandboxSpec, opts: CreateOptions): Promise<Sandbox | undefined> {
    if (!spec.key) return undefined;
    const members = (await this.runtime.list(pool.memberLabels()))
      .filter((c) => isReadyPoolMember(c) && !c.labels[LABEL.role] && c.state === 'running')
      // a caller's own labels (a tenant, a project) must be on the member too
      .filter((c) => Object.entries(opts.labels ?? {}).every(([k, v]) => c.labels[k] === v));
    const name = keyedName(spec.key);
    for (const m of members) {
      try {
        await this.runtime.rename(m.name, name);
      } catch (err) {
        if (err instanceof WardenError && err.code === 'SANDBOX_NOT_FOUND') continue; // removed meanwhile (stop(), a user's rm)
        throw err;
      }
      const c = await this.runtime.inspect(name);
      if (!c || c.id !== m.id) continue; // defensive: the name is not on the member we renamed
      pool.kick();
      this.log.info({ sandbox: c.labels[LABEL.id], key: spec.key, template: pool.template }, 'claimed a warm pool member');
      return this.handle(c);
    }
    pool.kick();
    return undefined;
  }

  /** Whether an engine object belongs to this Warden's instance (unlabelled ones are `default`'s). */
  private mine(c: { labels: Record<string, string> }): boolean {
    return (c.labels[LABEL.instance] ?? 'default') === this.instance;
  }

  /** The sandbox container of a key: by label, or a claimed pool member by its name. */
  private async findByKey(key: string): Promise<RuntimeContainer | undefined> {
    const [byLabel] = (await this.runtime.list({ [LABEL.managed]: 'true', [LABEL.key]: key })).filter((c) => this.mine(c));
    if (byLabel) return byLabel;
    const byName = await this.runtime.inspect(keyedName(key));
    if (byName && !this.mine(byName)) {
      // the key's container name is engine-wide: never hand out (or clobber) another instance's sandbox
      throw new WardenError('NAME_CONFLICT', `key '${key}' is taken on this engine by another Warden instance; keys are engine-wide, so use another key (e.g. prefix it with your instance)`);
    }
    return byName && byName.labels[LABEL.managed] === 'true' && !byName.labels[LABEL.role] && sandboxKey(byName) === key ? byName : undefined;
  }

  private async handle(c: RuntimeContainer): Promise<Sandbox> {
    return new Sandbox(this.runtime, this, toSandboxInfo({ ...c, ports: await reachablePorts(this.runtime, c) }), this.log);
  }

  private async mustInspect(id: string): Promise<RuntimeContainer> {
    const c = await this.runtime.inspect(id);
    if (!c) throw new WardenError('SANDBOX_NOT_FOUND', `sandbox container ${id} vanished`);
    return c;
  }

  private async mustInspectRef(ref: string): Promise<RuntimeContainer> {
    const sb = await this.get(ref);
    return this.mustInspect(sb.containerId);
  }

  private async waitNotRunning(id: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const c = await this.runtime.inspect(id);
      if (!c || c.state !== 'running') return;
      await sleep(50);
    }
    throw new WardenError('ENGINE_ERROR', `container ${id} was killed but still reports running after ${timeoutMs} ms`);
  }

  private async resolveHostPaths(spec: SandboxSpec): Promise<SandboxSpec & { workspaceOwner?: { uid: number; gid: number } }> {
    const out: SandboxSpec & { workspaceOwner?: { uid: number; gid: number } } = { ...spec, mounts: [...spec.mounts] };
    // checked where Warden stands (exists, kind, owner, not forbidden), then given to the engine as the
    // host's path (identity unless Warden runs in a container with WARDEN_HOST_PATH_MAP)
    const refused = await this.refusedHostPaths();
    const host = async (field: string, p: string, kind: 'dir' | 'any'): Promise<{ path: string; uid: number; gid: number }> => {
      const local = await checkHostPath(field, p, kind, refused);
      return { ...local, path: toHostPath(field, local.path, this.hostPathMap) };
    };
    if (spec.workspace) {
      const w = await host('workspace', spec.workspace, 'dir');
      out.workspace = w.path;
      out.workspaceOwner = { uid: w.uid, gid: w.gid };
      // a host workspace is never uncapped: overlay2 on ext4 has no quota, the guard measures it
      if (out.resources.disk === undefined) out.resources = { ...out.resources, disk: this.defaultWorkspaceDisk };
    }
    if (spec.configDir) out.configDir = (await host('configDir', spec.configDir, 'dir')).path;
    out.mounts = await Promise.all(spec.mounts.map(async (m, i) => ({ ...m, source: (await host(`mounts.${i}.source`, m.source, 'any')).path })));
    return out;
  }

  /** Paths no mount may expose nor contain: the engine's data root and Warden's home, besides the fixed list. */
  private refused: Promise<{ trees: string[]; home: string }> | undefined;
  private refusedHostPaths(): Promise<{ trees: string[]; home: string }> {
    this.refused ??= this.runtime
      .info()
      .then((i) => ({ trees: i.dataRoot ? [i.dataRoot] : [], home: wardenHome() }))
      .catch(() => ({ trees: [], home: wardenHome() }));
    return this.refused;
  }

  private async resolveUser(spec: SandboxSpec & { workspaceOwner?: { uid: number; gid: number } }): Promise<{ uid: number; gid: number }> {
    if (spec.user) {
      const [uid, gid] = spec.user.split(':').map(Number);
      if ((uid === 0 || gid === 0) && !spec.allowRoot) {
        throw new WardenError('ROOT_REFUSED', `user '${spec.user}': a workload as root would share the guard's identity and capabilities, so it could switch off the max runtime, the dead-man switch, the disk quota and exec timeouts. Run as a non-root uid (the default), or set allowRoot: true to accept that.`);
      }
      return { uid: uid!, gid: gid ?? uid! };
    }
    const o = spec.workspaceOwner;
    if (o && o.uid !== 0) return o;
    if (o) this.log.warn({ workspace: spec.workspace }, `workspace is owned by root; the sandbox runs as ${DEFAULT_UID}:${DEFAULT_UID} and may not be able to write it (chown it, or set user)`);
    return { uid: DEFAULT_UID, gid: DEFAULT_UID };
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? ''}`;
  }
}
