import type { ContainerGroup } from '@azure/arm-containerinstance';
import type { TokenCredential } from '@azure/identity';
import { Readable } from 'node:stream';
import type { AciSettings } from '../../config/aci.js';
import { ACI_ENV } from '../../config/aci.js';
import { WardenError } from '../../errors.js';
import { guardSignalAll, guardSignalInit } from '../../guest/argv.js';
import type { Logger } from '../../log.js';
import { assertCapabilities, execCapabilities, requiredCapabilities, unsupportedOnRuntime } from '../capabilities.js';
import type {
  Capability,
  ExecHandle,
  ExecRequest,
  OwnerLink,
  PanicResult,
  PruneResult,
  RuntimeInfo,
  SandboxPlan,
  SandboxRuntime,
  Unit,
  UnitRef,
  UnitSelector,
} from '../sandbox-runtime.js';
import { ACI_API_VERSION, AciArm } from './arm.js';
import { aciCredential } from './credential.js';
import { execArgv, execHandle, startFramed } from './exec.js';
import { groupBody, groupName, groupToUnit, unitLabels } from './mapping.js';
import { AciOwner } from './owner.js';
import { keyHash, readRecordTags, recordTags, shortTags, TAG, tagValue } from './tags.js';

/** What the ACI backend can do (docs/ACI.md has the table of what it cannot, and why). */
const BASE_CAPABILITIES: Capability[] = ['egressOpen', 'stdinEof', 'tty', 'guard', 'maxRuntime', 'ownerLink', 'diskQuota'];

/** Why each capability the backend lacks is missing, said where a request needs it. */
const HINTS: Partial<Record<Capability, string>> = {
  egressNone: "every container group on ACI has a way out to the internet (confinement needs a VNet subnet with a deny-all NSG, not built yet); use network: 'open' if the workload may reach the internet, or the docker runtime",
  egressAllowlist: "ACI's containers of one group share one network namespace, so a proxy beside the sandbox does not confine it (docs/ACI.md); use the docker runtime for allowlisted egress",
  hostMounts: 'an ACI container group runs on no host of yours: there is nothing to mount; copy files in with sb.files',
  workspaceVolume: 'a workspace that outlives stop needs an Azure Files volume, which the ACI backend does not make yet',
  preview: `publishing ports gives the group a public IP that answers the whole internet; set ${ACI_ENV.publicPreview}=1 to accept that`,
  gvisor: 'ACI already runs every container group in its own Hyper-V isolated VM; drop runtime: runsc',
  resume: 'stopping an ACI group discards its filesystem; ensure() recreates the sandbox instead',
  diskQuota: 'no disk quota on this runtime',
};

export interface AciRuntimeOptions {
  /** The Warden instance this process acts for (the periodic sweep's scope). */
  instance: string;
  /** The owner's human name (`user@host`). */
  owner: string;
  credential?: TokenCredential;
  log?: Logger;
  /** Sweep abandoned groups of the instance every settings.sweepSeconds (default: when that is > 0). */
  sweep?: boolean;
}

interface Known {
  group: string;
  workdir: string;
}

/**
 * Warden's runtime on Azure Container Instances (`WARDEN_RUNTIME=aci`): each unit is one container
 * group of one container whose command is Warden's guard, in the configured resource group, made and
 * controlled through the real Azure SDK. Exec goes through `executeCommand` and warden-aci-exec (the
 * guard's framed-exec mode) so exit codes, stdout/stderr apart and stdin EOF survive ACI's one terminal
 * stream. Ephemeral units are tied to their owner process (owner.ts) and carry a lease tag for the
 * sweep. Guarantees and gaps: docs/ACI.md.
 */
export class AciRuntime implements SandboxRuntime {
  readonly kind = 'aci' as const;
  readonly capabilities: ReadonlySet<Capability>;
  readonly owner: AciOwner;
  readonly arm: AciArm;
  private readonly known = new Map<string, Known>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly settings: AciSettings,
    private readonly opts: AciRuntimeOptions,
  ) {
    this.arm = new AciArm(settings, opts.credential ?? aciCredential(settings));
    this.capabilities = new Set<Capability>([...BASE_CAPABILITIES, ...(settings.publicPreview ? (['preview'] as const) : [])]);
    this.owner = new AciOwner(this.arm, settings, opts.owner, opts.log);
    if ((opts.sweep ?? true) && settings.sweepSeconds > 0) {
      this.sweepTimer = setInterval(() => {
        void this.prune({ instance: opts.instance }).catch((err: unknown) => opts.log?.warn({ err }, 'sweeping abandoned ACI container groups failed'));
      }, settings.sweepSeconds * 1000);
      this.sweepTimer.unref();
    }
  }

  /** Stop the timers and let go of every tie (ephemeral units then end after their grace). */
  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.owner.close();
  }

  async info(): Promise<RuntimeInfo> {
    const groups = await this.arm.probe();
    const s = this.settings;
    return {
      kind: 'aci',
      version: `Azure Container Instances ${ACI_API_VERSION}`,
      cpus: s.maxCpu,
      memoryBytes: Math.floor(s.maxMemoryGb * 1024 ** 3),
      details: {
        subscription: s.subscriptionId,
        resourceGroup: s.resourceGroup,
        location: s.location,
        registry: s.registry,
        armEndpoint: s.armEndpoint,
        credential: s.credential,
        containerGroups: String(groups),
        publicPreview: String(s.publicPreview),
      },
    };
  }

  // ---- lifecycle --------------------------------------------------------------------------------

  async create(plan: SandboxPlan): Promise<Unit> {
    assertCapabilities(this.kind, this.capabilities, requiredCapabilities(plan), HINTS);
    const instance = plan.record.instance;
    const name = groupName(instance, plan.name);
    const lockKeys = [`name:${instance}\0${plan.name}`, ...(plan.key !== undefined ? [`key:${instance}\0${plan.key}`] : [])];
    return this.locked(lockKeys, async () => {
      const body = groupBody(plan, this.settings, Date.now()); // refuses what cannot fit before anything is made
      await this.refuseConflicts(plan, name);
      let ours = false;
      try {
        let created: boolean;
        try {
          ({ created } = await this.arm.create(name, body));
        } catch (err) {
          ours = (err as { initialStatus?: number }).initialStatus === 201;
          if ((err as WardenError).code === 'CONFLICT') throw this.conflict(plan, 'another Warden process is making it at this moment');
          if ((err as WardenError).details?.provisioningFailed) {
            throw new WardenError('ENGINE_ERROR', `${(err as Error).message}. Is ${body.containers[0]?.image} the ACI variant of the image (with /.warden)?`, { cause: err });
          }
          throw err;
        }
        if (!created) {
          // ARM has no create-only PUT for container groups: the name got a group between our check and
          // our PUT, and this PUT updated it. It is not ours; say so (docs/ACI.md: the residual race).
          throw this.conflict(plan, 'another Warden process made it at the same moment');
        }
        ours = true;
        this.known.set(plan.id, { group: name, workdir: plan.workdir });
        const g = await this.untilStarted(name);
        if (plan.lifetime === 'ephemeral' && plan.owner.link === this.owner.link.link) await this.owner.tie(plan.id, name);
        const unit = groupToUnit((await this.arm.get(name)) ?? g);
        if (!unit) throw new WardenError('ENGINE_ERROR', `container group ${name} lost its Warden tags while it was made`);
        return unit;
      } catch (err) {
        this.owner.forget(plan.id);
        this.known.delete(plan.id);
        if (ours) await this.arm.delete(name).catch((e: unknown) => this.opts.log?.warn({ err: e, sandbox: plan.id }, 'removing a half-made ACI container group failed; prune removes it'));
        throw err;
      }
    });
  }

  /** NAME_CONFLICT / KEY_TAKEN before anything is made (this process holds the name's and key's locks). */
  private async refuseConflicts(plan: SandboxPlan, name: string): Promise<void> {
    const instance = plan.record.instance;
    const kh = plan.key !== undefined ? keyHash(plan.key) : undefined;
    for (const g of await this.arm.list()) {
      const t = g.tags ?? {};
      if (t[TAG.managed] !== 'true' || t[TAG.instance] !== tagValue(instance)) continue;
      if (kh && t[TAG.keyHash] === kh) throw this.conflict(plan, `sandbox ${t[TAG.id]} holds it`, true);
      if (t[TAG.name] === tagValue(plan.name)) throw this.conflict(plan, `sandbox ${t[TAG.id]} has that name`);
    }
    const existing = await this.arm.get(name);
    if (existing) throw this.conflict(plan, `container group ${name} exists`);
  }

  private conflict(plan: SandboxPlan, why: string, key = plan.key !== undefined): WardenError {
    return key
      ? new WardenError('KEY_TAKEN', `the key ${JSON.stringify(plan.key)} already has a sandbox (${why})`)
      : new WardenError('NAME_CONFLICT', `a sandbox named ${JSON.stringify(plan.name)} already exists (${why})`);
  }

  /**
   * After provisioning: the container is running (or has already ended, which is a failed start whose
   * log says why). ARM has no watch: this reads the group until its container left Waiting.
   */
  private async untilStarted(name: string): Promise<ContainerGroup> {
    const deadline = Date.now() + 120_000;
    for (let i = 0; ; i++) {
      const g = await this.arm.get(name);
      if (!g) throw new WardenError('ENGINE_ERROR', `container group ${name} vanished while it started`);
      const unit = groupToUnit(g);
      const state = unit?.state;
      if (state === 'running') return g;
      if (state === 'stopped' || state === 'failed') {
        const log = (await this.arm.logs(name, 20).catch(() => '')).trim();
        const events = (unit?.details?.events as string[] | undefined)?.join('; ');
        throw new WardenError('EXEC_FAILED', `the sandbox's container ended as it started (exit ${unit?.exitCode ?? '?'}${events ? `; events: ${events}` : ''})${log ? `; its log: ${log.slice(-800)}` : ''}. Is ${g.containers[0]?.image} the ACI variant of the image (with /.warden)?`);
      }
      if (Date.now() > deadline) throw new WardenError('ENGINE_ERROR', `container group ${name} did not start within 120 s (state ${state})`);
      await new Promise((r) => setTimeout(r, Math.min(2000, 250 * (i + 1))));
    }
  }

  async find(ref: UnitRef): Promise<Unit | undefined> {
    if ('id' in ref) {
      const known = this.known.get(ref.id);
      if (known) {
        const g = await this.arm.get(known.group);
        const u = g ? groupToUnit(g) : undefined;
        if (u?.id === ref.id) return u;
        this.known.delete(ref.id);
      }
    }
    if ('backendId' in ref) return this.findByBackendId(ref.backendId);
    const match = (t: Record<string, string>): boolean =>
      'id' in ref ? t[TAG.id] === ref.id : 'name' in ref ? t[TAG.name] === tagValue(ref.name) && t[TAG.instance] === tagValue(this.opts.instance) : t[TAG.keyHash] === keyHash(ref.key) && t[TAG.instance] === tagValue(this.opts.instance);
    for (const g of await this.arm.list()) {
      const t = g.tags ?? {};
      if (t[TAG.managed] !== 'true' || !match(t)) continue;
      const full = await this.arm.get(g.name!);
      const u = full ? this.remember(full) : undefined;
      if (u && (!('key' in ref) || u.key === ref.key)) return u;
    }
    return undefined;
  }

  /**
   * A unit by what Azure's tools show: the container group's name or its full resource id (case does
   * not matter to ARM). Only Warden's groups of this instance are found.
   */
  private async findByBackendId(backendId: string): Promise<Unit | undefined> {
    const want = backendId.trim().toLowerCase();
    if (!want) return undefined;
    const name = want.includes('/') ? want.slice(want.lastIndexOf('/') + 1) : want;
    if (want.includes('/') && !want.startsWith('/subscriptions/')) return undefined;
    if (!/^[a-z0-9-]{1,63}$/.test(name)) return undefined; // never a group name: no ARM call for it
    const g = await this.arm.get(name);
    if (!g || (want.includes('/') && (g.id ?? '').toLowerCase() !== want)) return undefined;
    if (g.tags?.[TAG.managed] !== 'true' || g.tags[TAG.instance] !== tagValue(this.opts.instance)) return undefined;
    return this.remember(g);
  }

  async list(sel: UnitSelector): Promise<Unit[]> {
    const candidates = (await this.arm.list()).filter((g) => this.selects(g.tags ?? {}, sel));
    const units = (await mapLimit(candidates, 8, async (g) => {
      const full = await this.arm.get(g.name!);
      return full ? this.remember(full) : undefined;
    })).filter((u): u is Unit => u !== undefined);
    return units
      .filter((u) => (sel.state === undefined || u.state === sel.state) && (sel.key === undefined || u.key === sel.key) && Object.entries(sel.labels ?? {}).every(([k, v]) => u.labels[k] === v))
      .sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt));
  }

  /**
   * Whether a group's tags match a selector: everything but the state can be told from the tags ARM's
   * list returns (the labels from the record in them).
   */
  private selects(t: Record<string, string>, sel: UnitSelector): boolean {
    if (t[TAG.managed] !== 'true') return false;
    if (sel.labels && Object.keys(sel.labels).length > 0) {
      const stored = readRecordTags(t);
      const labels = stored ? unitLabels(stored) : undefined;
      if (!labels || !Object.entries(sel.labels).every(([k, v]) => labels[k] === v)) return false;
    }
    if (sel.instance !== '*' && t[TAG.instance] !== tagValue(sel.instance)) return false;
    if (sel.owner !== undefined && t[TAG.owner] !== tagValue(sel.owner)) return false;
    if (sel.key !== undefined && t[TAG.keyHash] !== keyHash(sel.key)) return false;
    if (sel.lifetime !== undefined && t[TAG.lifetime] !== sel.lifetime) return false;
    if (sel.pool === false && t[TAG.pool] !== undefined) return false;
    if (typeof sel.pool === 'string' && t[TAG.pool] !== tagValue(sel.pool)) return false;
    return true;
  }

  private remember(g: ContainerGroup): Unit | undefined {
    const u = groupToUnit(g);
    if (u && g.name) this.known.set(u.id, { group: g.name, workdir: readRecordTags(g.tags)?.workdir ?? '/workspace' });
    return u;
  }

  /** The group (and working directory) of a unit; SANDBOX_NOT_FOUND when there is none. */
  private async locate(id: string): Promise<Known> {
    const k = this.known.get(id);
    if (k) return k;
    if (!(await this.find({ id }))) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox ${id} on ACI (resource group ${this.settings.resourceGroup})`);
    return this.known.get(id)!;
  }

  async resume(): Promise<Unit> {
    throw unsupportedOnRuntime(this.kind, { capability: 'resume', because: 'resuming a stopped sandbox with its files' }, HINTS.resume);
  }

  async stop(id: string, graceMs: number): Promise<void> {
    const { group } = await this.locate(id);
    this.owner.forget(id);
    if (graceMs > 0) {
      // a graceful stop from inside: the guard's init sends SIGTERM to every process and ends when they
      // have; ARM is then asked to stop what is left once the grace is over (ARM has no watch: poll)
      const signalled = await this.runQuick(group, guardSignalInit('TERM'));
      if (signalled) {
        const deadline = Date.now() + graceMs;
        for (let i = 0; Date.now() < deadline; i++) {
          const g = await this.arm.get(group);
          if (!g || (groupToUnit(g)?.state ?? 'stopped') !== 'running') break;
          await new Promise((r) => setTimeout(r, Math.min(1000, 200 * (i + 1), Math.max(0, deadline - Date.now()))));
        }
      }
    }
    await this.arm.stop(group);
  }

  async kill(id: string): Promise<void> {
    const { group } = await this.locate(id);
    this.owner.forget(id);
    // SIGKILL to every workload process now (ACI's own stop may give them a grace), then deallocate
    await this.runQuick(group, guardSignalAll('KILL'));
    await this.arm.stop(group);
  }

  /** Run a short root command in a group; false when it could not run (the group is not running). */
  private async runQuick(group: string, argv: string[]): Promise<boolean> {
    try {
      const p = await startFramed(this.arm, group, { argv, timeoutSeconds: 10 });
      p.stdout.resume();
      p.stderr.resume();
      return (await p.wait()).exitCode === 0;
    } catch (err) {
      this.opts.log?.debug({ err, group }, 'a quick command in an ACI group failed');
      return false;
    }
  }

  async remove(id: string): Promise<void> {
    let known: Known;
    try {
      known = await this.locate(id);
    } catch (err) {
      if ((err as WardenError).code === 'SANDBOX_NOT_FOUND') return;
      throw err;
    }
    this.owner.forget(id);
    await this.arm.delete(known.group);
    this.known.delete(id);
  }

  async claim(memberId: string, key: string, owner: OwnerLink): Promise<Unit> {
    const { group } = await this.locate(memberId);
    const stored = readRecordTags((await this.arm.get(group))?.tags);
    if (!stored) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox ${memberId} on ACI`);
    const instance = stored.record.instance;
    return this.locked([`key:${instance}\0${key}`, `claim:${memberId}`], async () => {
      const kh = keyHash(key);
      const holder = (await this.arm.list()).find((x) => x.tags?.[TAG.managed] === 'true' && x.tags[TAG.instance] === tagValue(instance) && x.tags[TAG.keyHash] === kh);
      if (holder) throw new WardenError('KEY_TAKEN', `the key ${JSON.stringify(key)} already has a sandbox (${holder.tags?.[TAG.id]})`);
      let ephemeral = false;
      let notMember = false;
      const updated = await this.arm.updateTags(group, (t) => {
        const cur = readRecordTags(t);
        if (!t[TAG.pool] || t[TAG.poolReady] !== 'true' || !cur) {
          notMember = true;
          return undefined;
        }
        const record = { ...cur.record, key, owner: owner.owner };
        ephemeral = record.lifetime === 'ephemeral';
        const { [TAG.pool]: _pool, [TAG.poolReady]: _ready, ...rest } = shortTags(t);
        const short: Record<string, string> = { ...rest, [TAG.keyHash]: kh, [TAG.owner]: tagValue(owner.owner) };
        if (ephemeral) {
          short[TAG.link] = tagValue(owner.link);
          short[TAG.leaseUntil] = String(Date.now() + this.settings.leaseSeconds * 1000);
        }
        return { ...short, ...recordTags({ ...cur, record }, Object.keys(short).length) };
      });
      if (notMember || !updated) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} is gone, already claimed, or not ready yet`);
      if (ephemeral && owner.link === this.owner.link.link && !this.owner.holds(memberId)) await this.owner.tie(memberId, group);
      const unit = this.remember((await this.arm.get(group)) ?? updated);
      if (!unit) throw new WardenError('ENGINE_ERROR', `container group ${group} lost its Warden tags in the claim`);
      return unit;
    });
  }

  async markPoolReady(memberId: string): Promise<void> {
    const { group } = await this.locate(memberId);
    let member = false;
    await this.arm.updateTags(group, (t) => {
      member = t[TAG.pool] !== undefined;
      return member && t[TAG.poolReady] !== 'true' ? { ...t, [TAG.poolReady]: 'true' } : undefined;
    });
    if (!member) throw new WardenError('SANDBOX_NOT_FOUND', `sandbox ${memberId} is not an unclaimed warm pool member (gone or claimed already)`);
  }

  // ---- exec -------------------------------------------------------------------------------------

  async exec(id: string, req: ExecRequest): Promise<ExecHandle> {
    assertCapabilities(this.kind, this.capabilities, execCapabilities(req), HINTS);
    const { group, workdir } = await this.locate(id);
    const p = await startFramed(this.arm, group, {
      argv: execArgv(req),
      env: req.env,
      cwd: req.cwd ?? workdir,
      stdin: req.stdin,
      // ACI's own terminal is fixed at the exec's start: warden-aci-exec makes the command one it can resize
      ...(req.tty ? { tty: { rows: req.tty.rows, cols: req.tty.cols } } : {}),
      // closing the handle does not stop the process (the contract): a lost client detaches it
      keepOnLoss: true,
      deadmanSeconds: this.settings.tieDeadmanSeconds,
    });
    return execHandle(p);
  }

  async execDetached(id: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void> {
    const { group, workdir } = await this.locate(id);
    const p = await startFramed(this.arm, group, { argv: execArgv(req), env: req.env, cwd: req.cwd ?? workdir, keepOnLoss: true });
    p.detach();
  }

  // ---- observation ------------------------------------------------------------------------------

  async logs(id: string, opts: { tail?: number; follow?: boolean }): Promise<Readable> {
    const { group } = await this.locate(id);
    const first = await this.arm.logs(group, opts.tail);
    if (!opts.follow) return Readable.from([first]);
    // ACI's log API has no follow: read it again until the sandbox ends, passing on what is new
    const arm = this.arm;
    let seen = await arm.logs(group);
    async function* follow(): AsyncGenerator<string> {
      yield first;
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        const g = await arm.get(group);
        const all = await arm.logs(group).catch(() => seen);
        if (all.length > seen.length && all.startsWith(seen)) yield all.slice(seen.length);
        seen = all;
        if (!g || (groupToUnit(g)?.state ?? 'stopped') !== 'running') return;
      }
    }
    return Readable.from(follow());
  }

  async egressLog(): Promise<string> {
    return ''; // no egress proxy on this runtime (egressAllowlist is not declared)
  }

  async previewActivity(): Promise<undefined> {
    return undefined; // ports are published by ACI's public IP: nothing of Warden's sees the connections
  }

  // ---- leftovers --------------------------------------------------------------------------------

  /**
   * The sweep: ephemeral groups whose owner's lease ran out (the owner is gone: its ties are gone too,
   * so their guards have already ended them), groups still running past their max runtime (stopped:
   * the guard should have ended them; this holds when it did not), and with `stopped` every unit that
   * is no longer running.
   */
  async prune(sel: UnitSelector & { stopped?: boolean }): Promise<PruneResult> {
    const t0 = Date.now();
    const result: PruneResult = { sandboxes: [], other: [], errors: [], durationMs: 0 };
    const now = Date.now();
    for (const g of (await this.arm.list()).filter((x) => this.selects(x.tags ?? {}, sel))) {
      const t = g.tags ?? {};
      const id = t[TAG.id] ?? g.name!;
      try {
        const abandoned = t[TAG.lifetime] === 'ephemeral' && t[TAG.link] !== undefined && t[TAG.link] !== this.owner.link.link && Number(t[TAG.leaseUntil] ?? 0) < now;
        const overdue = t[TAG.deadline] !== undefined && Number(t[TAG.deadline]) + 60_000 < now;
        let remove = abandoned;
        if (!remove && (sel.stopped || overdue)) {
          const full = await this.arm.get(g.name!);
          const state = full ? groupToUnit(full)?.state : undefined;
          if (overdue && state === 'running') {
            await this.arm.stop(g.name!); // stopped, not removed: \`other\` lists removals only
            this.opts.log?.warn({ sandbox: id, group: g.name }, 'an ACI container group ran past its max runtime (its guard did not end it): stopped');
          }
          remove = !!sel.stopped && state !== 'running' && state !== 'creating';
        }
        if (!remove) continue;
        this.owner.forget(id);
        await this.arm.delete(g.name!);
        this.known.delete(id);
        result.sandboxes.push(id);
      } catch (err) {
        result.errors.push(`${g.name}: ${(err as Error).message}`);
      }
    }
    result.durationMs = Date.now() - t0;
    return result;
  }

  async panic(sel: UnitSelector): Promise<PanicResult> {
    const t0 = Date.now();
    const groups = (await this.arm.list()).filter((g) => this.selects(g.tags ?? {}, sel));
    const errors: string[] = [];
    let removed = 0;
    await mapLimit(groups, 16, async (g) => {
      const id = g.tags?.[TAG.id] ?? '';
      this.owner.forget(id);
      try {
        await this.arm.stop(g.name!); // synchronous: every process ends now
        await this.arm.delete(g.name!);
        this.known.delete(id);
        removed++;
      } catch (err) {
        errors.push(`${g.name}: ${(err as Error).message}`);
      }
    });
    const names = new Set(groups.map((g) => g.name));
    const left = (await this.arm.list()).filter((g) => names.has(g.name)).length;
    return { sandboxes: groups.length, other: 0, removed: { containerGroup: removed }, left, errors, durationMs: Date.now() - t0 };
  }

  /**
   * ACI's API cannot look into a registry, so an image's presence is known only when a group pulls it:
   * a missing one fails create with IMAGE_NOT_FOUND (nothing left behind). Here: true.
   */
  async imageExists(): Promise<boolean> {
    return true;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Runs `fn` holding every named in-process lock (taken in sorted order, so two callers never deadlock). */
  private async locked<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const prev = sorted.map((k) => this.locks.get(k) ?? Promise.resolve());
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    for (const k of sorted) this.locks.set(k, mine);
    try {
      await Promise.allSettled(prev);
      return await fn();
    } finally {
      release();
      for (const k of sorted) if (this.locks.get(k) === mine) this.locks.delete(k);
    }
  }
}

/** Map with at most `n` calls in flight. */
async function mapLimit<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
