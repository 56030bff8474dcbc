import { hostname, userInfo } from 'node:os';
import { Agent, type AgentOptions } from '../agents/agent.js';
import { instanceName } from '../config/env.js';
import { wardenHome } from '../config/home.js';
import { runtimeSettingsFromEnv } from '../config/runtime.js';
import { loadSecrets } from '../egress/credentials.js';
import { WardenError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { DEFAULT_WORKSPACE_DISK } from '../policy/compile.js';
import { parseSpec, type SandboxSpec, type SandboxSpecInput } from '../policy/spec.js';
import type { Capability, SandboxRuntime, Unit } from '../runtime/sandbox-runtime.js';
import { createRuntime } from '../runtime/select.js';
import { getTemplate, withTemplate } from '../templates/catalog.js';
import { WardenContext } from './context.js';
import { parseHostPathMap, type HostPathMap } from './host-path-map.js';
import type { SandboxInfo } from './info.js';
import type { PanicReport, PruneReport } from './reports.js';
import { Keys } from './keys.js';
import { Lifecycle, type CreateOptions, type ListFilter } from './lifecycle.js';
import type { SandboxMaker } from './maker.js';
import { Planner } from './planning.js';
import type { WarmPool, WarmPoolOptions } from './pool.js';
import { Pools } from './pools.js';
import type { Sandbox, SandboxOwner } from './sandbox.js';

export type { CreateOptions, ListFilter } from './lifecycle.js';

export interface WardenOptions {
  /** The backend; default from WARDEN_RUNTIME (docker: the engine at DOCKER_HOST or the default socket). */
  runtime?: SandboxRuntime;
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

export type { PanicReport, PruneReport } from './reports.js';

/**
 * The entry object: creates, finds, reuses and removes sandboxes over a {@link SandboxRuntime}. It keeps
 * no map of sandboxes: everything is read from the runtime, so a new process re-adopts what an earlier
 * one created. The jobs live in their own modules (lifecycle, keys, pools, planning); this facade wires
 * them and delegates.
 *
 * @example
 * const warden = new Warden();
 * const sb = await warden.ensure({ key: 'project-42', workspace: '/srv/projects/42', lifetime: 'persistent' });
 * const { stdout } = await sb.exec(['git', 'log', '--oneline', '-5']);
 */
export class Warden implements SandboxOwner, SandboxMaker {
  readonly runtime: SandboxRuntime;
  readonly owner: string;
  /** The instance this Warden acts for (label warden.instance). */
  readonly instance: string;
  private readonly ctx: WardenContext;
  private readonly lifecycle: Lifecycle;
  private readonly keys: Keys;
  private readonly pools: Pools;
  private readonly log: Logger;

  constructor(opts: WardenOptions = {}) {
    // the SDK's constructor is an edge: defaults come from the environment here, and only here
    this.log = opts.logger ?? createLogger();
    this.owner = opts.owner ?? `${safeUser()}@${hostname()}`;
    this.instance = opts.instance ?? instanceName();
    const labels = { ...(opts.labels ?? {}) };
    this.runtime = opts.runtime ?? createRuntime({ ...runtimeSettingsFromEnv(), logger: this.log, labels: { ...labels, 'warden.instance': this.instance }, owner: this.owner });
    const caFile = opts.egress?.caFile ?? process.env.WARDEN_EGRESS_CA_FILE;
    this.ctx = new WardenContext(
      this.runtime,
      this.owner,
      this.instance,
      labels,
      this.log,
      opts.hostPathMap ?? parseHostPathMap(process.env.WARDEN_HOST_PATH_MAP),
      { secrets: () => opts.egress?.secrets ?? loadSecrets(), ...(caFile ? { caFile } : {}) },
      opts.defaultWorkspaceDisk ?? DEFAULT_WORKSPACE_DISK,
      wardenHome(),
      () => this,
    );
    const planner = new Planner(this.ctx);
    this.lifecycle = new Lifecycle(this.ctx, planner);
    this.pools = new Pools(this.ctx, this.lifecycle, (ref, o) => this.remove(ref, o));
    this.keys = new Keys(this.ctx, planner, this.lifecycle, this.pools);
    if (opts.handleSignals) this.installSignalHandlers();
  }

  /** This process's link id (what its ephemeral sandboxes die with). */
  /** What this Warden's runtime can do (e.g. 'hostMounts': not on Kubernetes or ACI). */
  get capabilities(): ReadonlySet<Capability> {
    return this.runtime.capabilities;
  }

  get ownerLink(): string {
    return this.runtime.owner.link.link;
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
    await this.pools.stopAll(); // no top-ups while leaving; unclaimed members go
    const ids = this.runtime.owner.linked();
    await Promise.all(ids.map((id) => this.remove(id, { timeoutMs: opts.timeoutMs ?? 5_000 }).catch((err: unknown) => this.log.warn({ err, sandbox: id }, 'shutdown: remove failed'))));
    this.runtime.owner.release();
    return ids.length;
  }

  /**
   * Emergency stop: kill and remove every Warden sandbox of this instance (any owner; every instance
   * with `allInstances`) and everything made for them. `labels` narrows it (e.g. one tenant or test run).
   */
  async panic(opts: { labels?: Record<string, string>; allInstances?: boolean } = {}): Promise<PanicReport> {
    const r = await this.runtime.panic({ instance: opts.allInstances ? '*' : this.instance, ...(opts.labels ? { labels: opts.labels } : {}) });
    const n = r.removed ?? {};
    return {
      containers: n.container ?? n.pod ?? r.sandboxes,
      networks: n.network ?? 0,
      volumes: n.volume ?? 0,
      orphanShims: n.shim ?? 0,
      durationMs: r.durationMs,
      left: r.left,
      errors: r.errors,
    };
  }

  /**
   * Remove exited and dead sandboxes (with their proxy, forwarder, network and volume), companions
   * whose sandbox is gone, and everything of owners that died (their reaper is gone). `labels`
   * narrows it (a tenant, a test run). Says what it removed.
   */
  async prune(opts: { labels?: Record<string, string> } = {}): Promise<PruneReport> {
    const r = await this.runtime.prune({ instance: this.instance, ...(opts.labels ? { labels: opts.labels } : {}), stopped: true });
    const report: PruneReport = { sandboxes: r.sandboxes, containers: [], networks: [], volumes: [], durationMs: r.durationMs, errors: r.errors };
    for (const line of r.other) {
      const cut = line.indexOf(' ');
      const kind = cut > 0 ? line.slice(0, cut) : '';
      const name = cut > 0 ? line.slice(cut + 1) : line;
      (kind === 'network' ? report.networks : kind === 'volume' ? report.volumes : report.containers).push(name);
    }
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
      const existing = await this.lifecycle.findByKey(spec.key);
      if (existing) {
        throw new WardenError('NAME_CONFLICT', `key '${spec.key}' already has sandbox ${existing.id} (${stateName(existing)}); reuse it with ensure() (CLI: create --ensure), or remove it first`);
      }
    }
    const sb = await this.pools
      .claim(spec, opts)
      .then((claimed) => claimed ?? this.lifecycle.createNew(spec, opts.labels))
      .catch((err: unknown) => {
        // the backend's KEY_TAKEN (another caller won the race for the key) is the SDK's NAME_CONFLICT, as before
        if (err instanceof WardenError && err.code === 'KEY_TAKEN') throw new WardenError('NAME_CONFLICT', `key '${spec.key}' already has a sandbox (made meanwhile by another caller); reuse it with ensure() (CLI: create --ensure), or remove it first`, { cause: err });
        throw err;
      });
    if (template) {
      try {
        await this.lifecycle.templateReady(sb, template, opts);
      } catch (err) {
        await this.remove(sb.id, { force: true }).catch(() => undefined);
        throw err;
      }
    }
    return sb;
  }

  /**
   * The sandbox for `spec.key`: the running one is reused, a stopped one restarted (or recreated if
   * its policy changed), otherwise a new one is created. Safe to call concurrently for one key.
   */
  async ensure(input: SandboxSpecInput, opts: CreateOptions = {}): Promise<Sandbox> {
    const template = input.template ? getTemplate(input.template) : undefined;
    if (!template) return this.keys.ensure(parseSpec(input), opts);
    const sb = await this.keys.ensure(parseSpec(withTemplate(input, template)), opts);
    await this.lifecycle.templateReady(sb, template, opts); // a resumed sandbox gets its dev server back
    return sb;
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
    const u = await this.lifecycle.findUnit(ref);
    return u ? this.ctx.handle(u) : undefined;
  }

  /** All Warden sandboxes of this instance (any owner unless filtered), newest first. */
  list(filter: ListFilter = {}): Promise<SandboxInfo[]> {
    return this.lifecycle.list(filter);
  }

  /** @internal the units behind list() (the server's reconciler and the idle policy read their records). */
  units(filter: ListFilter = {}): Promise<Unit[]> {
    return this.lifecycle.listUnits(filter);
  }

  /**
   * Graceful stop: SIGTERM to every process in the sandbox, up to `timeoutMs` (default 30 s) for them
   * to exit, then SIGKILL to all. Returns when nothing of the sandbox runs any more.
   */
  stop(ref: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.lifecycle.stop(ref, opts);
  }

  /** SIGKILL (default) stops the whole sandbox at once; another signal goes to every process in it. */
  kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    return this.lifecycle.kill(ref, signal);
  }

  /** Remove a sandbox: stopped gracefully first (or killed at once with `force`). Safe to call twice. */
  remove(ref: string, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return this.lifecycle.remove(ref, opts);
  }

  /**
   * Recreate a sandbox from scratch with the same id, name, key and spec; the workspace is kept.
   * `reason` is recorded (SandboxInfo.labels warden.last-refresh, warden.refresh-count).
   */
  refresh(ref: string, opts: { reason?: string } = {}): Promise<Sandbox> {
    return this.lifecycle.refresh(ref, opts);
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
    return this.pools.start(opts, this.log);
  }

  /** The active warm pools of this Warden (one per template). */
  warmPools(): WarmPool[] {
    return this.pools.active();
  }

  /** Make one pool member (used by WarmPool). */
  createPoolMember(spec: SandboxSpec, pool: { template: string; holder: string; signature: string }): Promise<Sandbox> {
    return this.pools.createMember(spec, pool);
  }

  /** Record activity on a sandbox (SDK calls do; the idle policy reads it with lastActivity). */
  touch(id: string): void {
    this.ctx.touch(id);
  }

  /** When this process last saw SDK activity on the sandbox (ms since epoch), if ever. */
  lastActivity(id: string): number | undefined {
    return this.ctx.lastActivity(id);
  }
}

/** A unit's state under its public name (exited, running, ...). */
function stateName(u: Unit): string {
  return ({ creating: 'created', stopped: 'exited', failed: 'dead' } as Record<string, string>)[u.state] ?? u.state;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? ''}`;
  }
}
