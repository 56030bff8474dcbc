import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { compileSpec, PATHS, policyHash, SANDBOX_ALIAS, workspaceVolumeName } from '../policy/compile.js';
import { LABEL } from '../policy/labels.js';
import { parseSpec, type SandboxSpec, type SandboxSpecInput } from '../policy/spec.js';
import { DockerRuntime } from '../runtime/docker/docker-runtime.js';
import { connectDocker } from '../runtime/docker/engine.js';
import type { ContainerRuntime, ContainerState, RuntimeContainer } from '../runtime/runtime.js';
import { newSandboxId } from '../util/ids.js';
import { loadSecrets } from '../egress/credentials.js';
import { createEgress, findProxy, removeEgress } from '../egress/topology.js';
import { getTemplate, withTemplate, type AppTemplate } from '../templates/catalog.js';
import { ensureDevServer } from '../templates/readiness.js';
import { checkHostPath } from './host-paths.js';
import { createPreview, findPreview, reachablePorts, removePreview } from './preview.js';
import { parseHostPathMap, toHostPath, toLocalPath, type HostPathMap } from './host-path-map.js';
import { runInternal } from './internal-exec.js';
import { drainCommand, signalAllCommand } from './process-tree.js';
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
  labels?: Record<string, string>;
}

// (declaration merging: the template option sits apart from the fields above so merges stay simple)
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

  constructor(opts: WardenOptions = {}) {
    this.log = opts.logger ?? createLogger();
    this.runtime = opts.runtime ?? new DockerRuntime(connectDocker(), this.log);
    this.owner = opts.owner ?? `${safeUser()}@${hostname()}`;
    this.extraLabels = opts.labels ?? {};
    this.egress = opts.egress ?? {};
    this.hostPathMap = opts.hostPathMap ?? parseHostPathMap(process.env.WARDEN_HOST_PATH_MAP);
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
   * Emergency stop: kill and remove every Warden-labelled container on the engine (any owner), then
   * its networks and volumes. `labels` narrows it (e.g. one tenant or test run).
   */
  async panic(opts: { labels?: Record<string, string> } = {}): Promise<PanicReport> {
    const t0 = Date.now();
    const labels = { [LABEL.managed]: 'true', ...(opts.labels ?? {}) };
    const errors: string[] = [];
    const containers = await this.runtime.list(labels);
    await Promise.all(
      containers.map((c) => this.runtime.remove(c.id, { force: true }).catch((err: unknown) => void errors.push(`${c.name}: ${(err as Error).message}`))),
    );
    const other = await this.runtime.listOther(labels);
    await Promise.all(other.networks.map((n) => this.runtime.removeNetwork(n).catch((err: unknown) => void errors.push(`network ${n}: ${(err as Error).message}`))));
    await Promise.all(other.volumes.map((v) => this.runtime.removeVolume(v).catch((err: unknown) => void errors.push(`volume ${v}: ${(err as Error).message}`))));
    const left = (await this.runtime.list(labels)).length;
    const orphanShims = await this.runtime.reapOrphans(containers.map((c) => c.id)).catch(() => 0);
    const report = { containers: containers.length, networks: other.networks.length, volumes: other.volumes.length, orphanShims, durationMs: Date.now() - t0, left, errors };
    this.log.warn(report, 'panic: emergency stop done');
    return report;
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
    opts.onProgress?.(`waiting for the ${t.name} dev server on port ${t.port} of ${sb.id} (up to ${Math.round((opts.readyTimeoutMs ?? t.readiness.timeoutMs) / 1000)} s)`);
    const r = await ensureDevServer(sb, t, opts.readyTimeoutMs !== undefined ? { timeoutMs: opts.readyTimeoutMs } : {});
    this.log.info({ sandbox: sb.id, template: t.name, url: r.url, started: r.started, readyMs: r.readyMs }, 'template dev server ready');
  }

  /** Record activity on a sandbox (SDK calls do; the idle policy reads it with lastActivity). */
  touch(id: string): void {
    this.activity.set(id, Date.now());
  }

  /** When this process last saw SDK activity on the sandbox (ms since epoch), if ever. */
  lastActivity(id: string): number | undefined {
    return this.activity.get(id);
  }

  private async createFrom(spec: SandboxSpec, id: string, labels: Record<string, string> = {}, owner = this.owner, name?: string): Promise<Sandbox> {
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
    const extraLabels = { ...this.extraLabels, ...labels };
    const tiedToOwner = clean.lifetime === 'ephemeral';
    // a new workspace volume is seeded from the image (seconds for a template's node_modules) while the
    // egress network and proxy are made
    const seeded = clean.workspaceVolume
      ? this.runtime.seedVolume({
          name: workspaceVolumeName(id),
          image: clean.image,
          target: PATHS.workspace,
          labels: { ...clean.labels, ...extraLabels, [LABEL.managed]: 'true', [LABEL.id]: id },
          helperLabels: { ...extraLabels, [LABEL.managed]: 'true', [LABEL.id]: id, [LABEL.role]: 'volume-seed' },
        })
      : Promise.resolve();
    seeded.catch(() => undefined); // awaited below; no unhandled rejection while egress is made
    let egress: { network: string; proxyUrl: string } | undefined;
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
      this.runtime.create(compileSpec(clean, { id, containerName, owner, createdAt: new Date().toISOString(), user, extraLabels, ...(egress ? { egress } : {}) })),
      preview,
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
    if (!ref || typeof ref !== 'string') return undefined;
    const byId = (await this.runtime.list({ [LABEL.managed]: 'true', [LABEL.id]: ref })).filter((x) => !x.labels[LABEL.role]);
    const c = byId[0] ? await this.runtime.inspect(byId[0].id) : (await this.runtime.inspect(`warden-${ref}`)) ?? (await this.byIdPrefix(ref)) ?? (await this.runtime.inspect(ref));
    if (!c || c.labels[LABEL.managed] !== 'true' || !c.labels[LABEL.id] || c.labels[LABEL.role]) return undefined;
    return this.handle(c);
  }

  private async byIdPrefix(prefix: string): Promise<RuntimeContainer | undefined> {
    if (!/^[A-Za-z0-9_-]+$/.test(prefix)) return undefined;
    // `97119e` finds sbx-97119e8ef636 too: people type the hex part, as with docker's ids
    const hits = (await this.runtime.list({ [LABEL.managed]: 'true' })).filter((x) => !x.labels[LABEL.role] && (x.labels[LABEL.id]?.startsWith(prefix) || x.labels[LABEL.id]?.startsWith(`sbx-${prefix}`)));
    if (hits.length > 1) {
      const ids = hits.map((h) => h.labels[LABEL.id]).sort();
      throw new WardenError('AMBIGUOUS_ID', `'${prefix}' is the start of ${hits.length} sandbox ids (${ids.join(', ')}); type more of the id`, { details: { matches: ids } });
    }
    return hits[0] ? this.runtime.inspect(hits[0].id) : undefined;
  }

  /** All Warden sandboxes on the engine (any owner unless filtered), newest first. */
  async list(filter: ListFilter = {}): Promise<SandboxInfo[]> {
    const labels: Record<string, string> = { [LABEL.managed]: 'true', ...(filter.labels ?? {}) };
    if (filter.owner) labels[LABEL.owner] = filter.owner;
    if (filter.lifetime) labels[LABEL.lifetime] = filter.lifetime;
    const items = await this.runtime.list(labels);
    return items
      // by key in memory: a claimed pool member has its key in its name, not its labels
      .filter((c) => !c.labels[LABEL.role] && (!filter.state || c.state === filter.state) && (!filter.key || sandboxKey(c) === filter.key))
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
    // SIGTERM to root's processes (root has no CAP_KILL, so only its own), while the user's drain
    // signals the user's and waits for every workload process, whoever owns it.
    const user = c.labels[LABEL.user] ?? `${DEFAULT_UID}:${DEFAULT_UID}`;
    await Promise.all([
      this.runScript(c, user, drainCommand(timeoutMs), timeoutMs + 10_000),
      user.startsWith('0:') ? undefined : this.runScript(c, '0:0', signalAllCommand('SIGTERM')),
    ]).catch((err: unknown) =>
      this.log.warn({ err, container: c.id }, 'graceful drain failed; stopping hard'),
    );
    await this.runtime.stop(c.id, 0);
    const [proxy, preview] = await Promise.all([findProxy(this.runtime, c.labels[LABEL.id] ?? ''), findPreview(this.runtime, c.labels[LABEL.id] ?? '')]);
    await Promise.all([proxy && this.runtime.stop(proxy.id, 0), preview && this.runtime.stop(preview.id, 0)]);
    this.log.info({ sandbox: c.labels[LABEL.id] }, 'sandbox stopped');
  }

  /** SIGKILL (default) stops the whole sandbox at once; another signal goes to every process in it. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = await this.mustInspectRef(ref);
    if (c.state !== 'running') return;
    if (signal === 'SIGKILL' || signal === 'KILL' || signal === '9') {
      await this.runtime.kill(c.id, 'SIGKILL');
      await this.waitNotRunning(c.id);
      const [proxy, preview] = await Promise.all([findProxy(this.runtime, c.labels[LABEL.id] ?? ''), findPreview(this.runtime, c.labels[LABEL.id] ?? '')]);
      await Promise.all([proxy && this.runtime.kill(proxy.id, 'SIGKILL'), preview && this.runtime.kill(preview.id, 'SIGKILL')]);
      return;
    }
    await this.asUsers(c, signalAllCommand(signal));
  }

  /** Run a script as the sandbox user and as root (each may only signal its own processes). */
  private async asUsers(c: RuntimeContainer, cmd: string[]): Promise<void> {
    const user = c.labels[LABEL.user] ?? `${DEFAULT_UID}:${DEFAULT_UID}`;
    await Promise.all([this.runScript(c, user, cmd), user.startsWith('0:') ? undefined : this.runScript(c, '0:0', cmd)]);
  }

  private async runScript(c: RuntimeContainer, user: string, cmd: string[], timeoutMs?: number): Promise<void> {
    await runInternal(this.runtime, c.id, cmd, user, timeoutMs);
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

  /** The sandbox container of a key: by label, or a claimed pool member by its name. */
  private async findByKey(key: string): Promise<RuntimeContainer | undefined> {
    const [byLabel] = await this.runtime.list({ [LABEL.managed]: 'true', [LABEL.key]: key });
    if (byLabel) return byLabel;
    const byName = await this.runtime.inspect(keyedName(key));
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
    const host = async (field: string, p: string, kind: 'dir' | 'any'): Promise<{ path: string; uid: number; gid: number }> => {
      const local = await checkHostPath(field, p, kind);
      return { ...local, path: toHostPath(field, local.path, this.hostPathMap) };
    };
    if (spec.workspace) {
      const w = await host('workspace', spec.workspace, 'dir');
      out.workspace = w.path;
      out.workspaceOwner = { uid: w.uid, gid: w.gid };
    }
    if (spec.configDir) out.configDir = (await host('configDir', spec.configDir, 'dir')).path;
    out.mounts = await Promise.all(spec.mounts.map(async (m, i) => ({ ...m, source: (await host(`mounts.${i}.source`, m.source, 'any')).path })));
    return out;
  }

  private async resolveUser(spec: SandboxSpec & { workspaceOwner?: { uid: number; gid: number } }): Promise<{ uid: number; gid: number }> {
    if (spec.user) {
      const [uid, gid] = spec.user.split(':').map(Number);
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
