import { WardenError } from '../errors.js';
import { guardSignalAll } from '../guest/argv.js';
import { LABEL } from '../policy/labels.js';
import { checkSignal } from '../policy/limits.js';
import { recordSpec, specOfRecord } from '../policy/record.js';
import { checkSandboxRef } from '../policy/refs.js';
import { parseSpec, type SandboxSpec } from '../policy/spec.js';
import type { Unit } from '../runtime/sandbox-runtime.js';
import { getTemplate, type AppTemplate } from '../templates/catalog.js';
import { ensureDevServer, type ReadyResult } from '../templates/readiness.js';
import { newSandboxId } from '../util/ids.js';
import type { WardenContext } from './context.js';
import { toLocalPath } from './host-path-map.js';
import { toSandboxInfo, unitStateOf, type SandboxInfo, type SandboxState } from './info.js';
import { runInternal } from './internal-exec.js';
import type { Planner, PlanRequest } from './planning.js';
import type { Sandbox } from './sandbox.js';

const DEFAULT_STOP_MS = 30_000;

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
  state?: SandboxState;
  /** Only sandboxes carrying every one of these labels (`{ 'warden.project': 'p1' }`). */
  labels?: Record<string, string>;
  /** Every instance's sandboxes, not only this Warden's (the engine's admin view). */
  allInstances?: boolean;
}

const LIST_FILTER_KEYS = new Set(['key', 'owner', 'lifetime', 'state', 'labels', 'allInstances']);

/** A list filter with a misspelt or unknown field is an error, never an unfiltered answer. */
export function checkListFilter(filter: unknown): ListFilter {
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

/**
 * One sandbox's life over the runtime: make it (cold), find it by any reference, list, stop, kill,
 * remove and refresh it, and wait for a template's dev server. Keys (ensure) and pools build on it.
 */
export class Lifecycle {
  /** Dev-server waits in flight, by sandbox id. */
  private readonly readiness = new Map<string, Promise<ReadyResult>>();

  constructor(
    private readonly ctx: WardenContext,
    private readonly planner: Planner,
  ) {}

  /** A unit from a plan, as a handle. On failure the runtime leaves nothing behind. */
  async createFrom(spec: SandboxSpec, req: PlanRequest): Promise<Sandbox> {
    const plan = await this.planner.plan(spec, req);
    const unit = await this.ctx.runtime.create(plan);
    this.ctx.log.info({ sandbox: unit.id, backend: unit.backendId, image: plan.image }, 'sandbox created');
    return this.ctx.handle(unit);
  }

  /** A sandbox with a fresh id. */
  createNew(spec: SandboxSpec, labels?: Record<string, string>): Promise<Sandbox> {
    return this.createFrom(spec, { id: newSandboxId(), ...(labels ? { labels } : {}) });
  }

  /** The dev server answers (started if need be); concurrent callers for one sandbox share one wait. */
  async templateReady(sb: Sandbox, t: AppTemplate, opts: Pick<CreateOptions, 'readyTimeoutMs' | 'onProgress'>): Promise<void> {
    // the lock in the sandbox makes it one start across processes too
    let ready = this.readiness.get(sb.id);
    if (!ready) {
      ready = ensureDevServer(sb, t, opts.readyTimeoutMs !== undefined ? { timeoutMs: opts.readyTimeoutMs } : {}).finally(() => this.readiness.delete(sb.id));
      this.readiness.set(sb.id, ready);
    }
    opts.onProgress?.(`waiting for the ${t.name} dev server on port ${t.port} of ${sb.id} (up to ${Math.round((opts.readyTimeoutMs ?? t.readiness.timeoutMs) / 1000)} s)`);
    const r = await ready;
    this.ctx.log.info({ sandbox: sb.id, template: t.name, url: r.url, started: r.started, readyMs: r.readyMs }, 'template dev server ready');
  }

  /** The unit of a key in this instance; NAME_CONFLICT when another instance holds the key. */
  async findByKey(key: string): Promise<Unit | undefined> {
    const u = await this.ctx.runtime.find({ key });
    if (u && !this.ctx.mine(u)) {
      // keys are engine-wide where the backend's names are: never hand out (or clobber) another instance's sandbox
      throw new WardenError('NAME_CONFLICT', `key '${key}' is taken on this engine by another Warden instance; keys are engine-wide, so use another key (e.g. prefix it with your instance)`);
    }
    return u;
  }

  /**
   * A sandbox by reference, in this order: the Warden id, the name, a unique prefix of the Warden id (as
   * docker takes id prefixes; AMBIGUOUS_ID lists the matches), the backend's own id or name.
   */
  async findUnit(ref: string): Promise<Unit | undefined> {
    checkSandboxRef(ref); // never a backend path of the caller's making
    const rt = this.ctx.runtime;
    // a short all-hex ref would be an engine id-prefix lookup, which fails when several ids share it:
    // backend ids are taken from 12 hex characters on (what `docker ps` shows); Warden's own id
    // prefixes are looked up among this instance's sandboxes instead
    const u =
      (await rt.find({ id: ref })) ??
      (await rt.find({ name: ref })) ??
      (await this.byIdPrefix(ref)) ??
      (/^[0-9a-f]{1,11}$/.test(ref) ? undefined : await rt.find({ backendId: ref }));
    return u && this.ctx.mine(u) ? u : undefined;
  }

  private async byIdPrefix(prefix: string): Promise<Unit | undefined> {
    if (!/^[A-Za-z0-9_-]+$/.test(prefix)) return undefined;
    // `97119e` finds sbx-97119e8ef636 too: people type the hex part, as with docker's ids
    const hits = (await this.ctx.runtime.list({ instance: this.ctx.instance })).filter((u) => u.id.startsWith(prefix) || u.id.startsWith(`sbx-${prefix}`));
    if (hits.length > 1) {
      const ids = hits.map((h) => h.id).sort();
      throw new WardenError('AMBIGUOUS_ID', `'${prefix}' is the start of ${hits.length} sandbox ids (${ids.join(', ')}); type more of the id`, { details: { matches: ids } });
    }
    return hits[0] ? this.ctx.runtime.find({ id: hits[0].id }) : undefined;
  }

  async mustFind(ref: string): Promise<Unit> {
    const u = await this.findUnit(ref);
    if (!u) throw new WardenError('SANDBOX_NOT_FOUND', `no Warden sandbox '${ref}'; \`warden ps\` lists them`);
    return u;
  }

  /** The sandboxes of this instance (or every instance) matching the filter, newest first. */
  async listUnits(filter: ListFilter = {}): Promise<Unit[]> {
    filter = checkListFilter(filter);
    const state = filter.state ? unitStateOf(filter.state) : undefined;
    if (filter.state && !state) return [];
    return this.ctx.runtime.list({
      instance: filter.allInstances ? '*' : this.ctx.instance,
      ...(filter.owner ? { owner: filter.owner } : {}),
      ...(filter.lifetime ? { lifetime: filter.lifetime } : {}),
      ...(filter.key !== undefined ? { key: filter.key } : {}),
      ...(state ? { state } : {}),
      ...(filter.labels ? { labels: filter.labels } : {}),
    });
  }

  async list(filter: ListFilter = {}): Promise<SandboxInfo[]> {
    return (await this.listUnits(filter)).map(toSandboxInfo).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /**
   * Graceful stop: SIGTERM to every process in the sandbox, up to `timeoutMs` (default 30 s) for them
   * to exit, then SIGKILL to all. Returns when nothing of the sandbox runs any more.
   */
  async stop(ref: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const u = await this.mustFind(ref);
    if (u.state !== 'running') return;
    await this.ctx.runtime.stop(u.id, opts.timeoutMs ?? DEFAULT_STOP_MS);
    this.ctx.log.info({ sandbox: u.id }, 'sandbox stopped');
  }

  /** SIGKILL (default) stops the whole sandbox at once; another signal goes to every process in it. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    signal = checkSignal(signal); // SIGFOO is an error, not a no-op
    const u = await this.mustFind(ref);
    if (u.state !== 'running') return;
    if (signal === 'SIGKILL') {
      await this.ctx.runtime.kill(u.id);
      return;
    }
    // the guard (root, CAP_KILL) signals every workload process, whoever's they are
    await runInternal(this.ctx.runtime, u.id, guardSignalAll(signal), '0:0');
  }

  /** Remove a sandbox: stopped gracefully first (or killed at once with `force`). Safe to call twice. */
  async remove(ref: string, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const u = await this.findUnit(ref);
    if (!u) return;
    if (u.state === 'running' && !opts.force) await this.ctx.runtime.stop(u.id, opts.timeoutMs ?? 10_000);
    await this.ctx.runtime.remove(u.id);
    this.ctx.forget(u.id);
    this.ctx.log.info({ sandbox: u.id }, 'sandbox removed');
  }

  /**
   * Recreate a sandbox from scratch with the same id, name, key and spec; the workspace is kept.
   * `reason` is recorded in the new sandbox's record (SandboxInfo.labels shows it as warden.last-refresh).
   */
  async refresh(ref: string, opts: { reason?: string } = {}): Promise<Sandbox> {
    const u = await this.mustFind(ref);
    const envNames = recordSpec(u.record).env;
    if (u.env === undefined && Array.isArray(envNames) && envNames.length > 0) {
      // the record keeps env names only; a backend that cannot read the values back (ACI: secure values)
      // would recreate the sandbox without them: refuse rather than drop them silently
      throw new WardenError('UNSUPPORTED_ON_RUNTIME', `cannot refresh ${u.id} on the '${this.ctx.runtime.kind}' runtime: it cannot read back the values of its environment (${envNames.join(', ')}); remove it and create it again with the same spec`, { details: { runtime: this.ctx.runtime.kind } });
    }
    const stored = specOfRecord(u.record, u.env);
    // the record holds the engine host's paths; Warden checks them where it stands (its container's view)
    const local = (p: string | undefined): string | undefined => (p === undefined ? p : toLocalPath(p, this.ctx.hostPathMap));
    const spec = parseSpec({
      ...stored,
      // the record holds the parsed spec (milliseconds); a bare number would be read as seconds
      ...(typeof stored.maxRuntime === 'number' ? { maxRuntime: `${stored.maxRuntime}ms` } : {}),
      ...(u.key ? { key: u.key } : {}), // a claimed pool member's key was not in its record
      ...(stored.workspace ? { workspace: local(stored.workspace) } : {}),
      ...(stored.configDir ? { configDir: local(stored.configDir) } : {}),
      ...(stored.mounts ? { mounts: stored.mounts.map((m) => ({ ...m, source: local(m.source)! })) } : {}),
    });
    const count = (u.record.refresh?.count ?? 0) + 1;
    await this.ctx.runtime.remove(u.id, { keepWorkspace: true });
    // labels the original's creator added (e.g. a tenant or test run) carry over; Warden's own are made anew
    const reserved = new Set<string>(Object.values(LABEL));
    const carried = Object.fromEntries(Object.entries(u.labels).filter(([k]) => !reserved.has(k) && !(k in spec.labels) && !k.startsWith('warden.image')));
    const sb = await this.createFrom(spec, {
      id: u.id,
      labels: carried,
      owner: u.record.owner || this.ctx.owner,
      refresh: { count, last: new Date().toISOString(), reason: (opts.reason ?? 'requested').slice(0, 970) },
    });
    if (spec.template) await this.templateReady(sb, getTemplate(spec.template), {});
    return sb;
  }
}
