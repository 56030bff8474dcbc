import { ValidationError, WardenError } from '../errors.js';
import { compilePlan } from '../policy/compile.js';
import type { SandboxSpec } from '../policy/spec.js';
import type { Capability, SandboxPlan } from '../runtime/sandbox-runtime.js';
import { formatBytes } from '../util/units.js';
import type { WardenContext } from './context.js';
import { toHostPath } from './host-path-map.js';
import { checkHostPath } from './host-paths.js';

const DEFAULT_UID = 1000;

/** A spec whose host paths were checked where Warden stands and mapped to the engine host's. */
export type ResolvedSpec = SandboxSpec & { workspaceOwner?: { uid: number; gid: number } };

/** What a plan is made for beyond its spec: whose, which name, pool membership, a refresh. */
export interface PlanRequest {
  id: string;
  /** Labels the caller adds (a server's project, a tenant, a pool's): they may use the warden. prefix. */
  labels?: Record<string, string>;
  /** The owner's name (a refresh keeps the original's). */
  owner?: string;
  name?: string;
  pool?: { id: string; signature: string };
  refresh?: { count: number; last: string; reason: string };
}

/**
 * Spec -> plan, the part every backend shares: the spec fits the backend (size, capabilities), host
 * paths are checked and mapped, the workload user is resolved, the egress CA is checked, and
 * compilePlan writes the rest.
 */
export class Planner {
  /** The backend's size (memory, CPUs), read once: a cap above it is a typo the backend would take. */
  private size: Promise<{ memoryBytes: number; cpus: number; dataRoot?: string }> | undefined;

  constructor(private readonly ctx: WardenContext) {}

  async plan(spec: SandboxSpec, req: PlanRequest): Promise<SandboxPlan> {
    this.requireCapabilities(spec);
    await this.checkFits(spec);
    const resolved = await this.resolveHostPaths(spec);
    const user = await this.resolveUser(resolved);
    const { workspaceOwner: _o, ...clean } = resolved;
    const ca = this.ctx.egress.caFile;
    return compilePlan(clean, {
      id: req.id,
      owner: this.ctx.ownerLink(req.owner),
      instance: this.ctx.instance,
      createdAt: new Date().toISOString(),
      user,
      labels: { ...this.ctx.labels, ...(req.labels ?? {}) },
      ...(req.name ? { name: req.name } : {}),
      ...(req.pool ? { pool: req.pool } : {}),
      ...(req.refresh ? { refresh: req.refresh } : {}),
      egress: {
        secrets: clean.network === 'allowlist' ? this.ctx.egress.secrets() : {},
        ...(ca && clean.network === 'allowlist' ? { caFile: toHostPath('WARDEN_EGRESS_CA_FILE', (await checkHostPath('WARDEN_EGRESS_CA_FILE', ca, 'any')).path, this.ctx.hostPathMap) } : {}),
      },
    });
  }

  /** The policy hash a spec would get (ensure compares it with the running sandbox's). */
  async wanted(spec: SandboxSpec): Promise<{ resolved: ResolvedSpec; user: { uid: number; gid: number } }> {
    const resolved = await this.resolveHostPaths(spec);
    return { resolved, user: await this.resolveUser(resolved) };
  }

  /** UNSUPPORTED_ON_RUNTIME for what the spec asks and the backend does not declare. */
  requireCapabilities(spec: SandboxSpec): void {
    const need: Array<{ cap: Capability; why: string }> = [];
    if (spec.workspace) need.push({ cap: 'hostMounts', why: 'a host workspace' });
    if (spec.configDir) need.push({ cap: 'hostMounts', why: 'a host config dir' });
    if (spec.mounts.length > 0) need.push({ cap: 'hostMounts', why: 'host mounts' });
    if (spec.workspaceVolume) need.push({ cap: 'workspaceVolume', why: 'a workspace volume' });
    if (spec.network === 'allowlist') need.push({ cap: 'egressAllowlist', why: "network 'allowlist'" });
    if (spec.network === 'open') need.push({ cap: 'egressOpen', why: "network 'open'" });
    if (spec.ports.length > 0) need.push({ cap: 'preview', why: 'published ports' });
    if (spec.runtime === 'runsc') need.push({ cap: 'gvisor', why: "runtime 'runsc'" });
    if (spec.maxRuntime !== undefined) need.push({ cap: 'maxRuntime', why: 'a max runtime' });
    this.ctx.require(need);
  }

  private async checkFits(spec: SandboxSpec): Promise<void> {
    this.size ??= this.ctx.runtime.info().then((i) => ({ memoryBytes: i.memoryBytes, cpus: i.cpus, ...(i.details.dataRoot ? { dataRoot: i.details.dataRoot } : {}) }));
    const size = await this.size.catch((err: unknown) => {
      this.size = undefined;
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

  /** Paths no mount may expose nor contain: the backend's data root and Warden's home, besides the fixed list. */
  private async refused(): Promise<{ trees: string[]; home: string }> {
    this.size ??= this.ctx.runtime.info().then((i) => ({ memoryBytes: i.memoryBytes, cpus: i.cpus, ...(i.details.dataRoot ? { dataRoot: i.details.dataRoot } : {}) }));
    const size = await this.size.catch(() => undefined);
    return { trees: size?.dataRoot ? [size.dataRoot] : [], home: this.ctx.home };
  }

  async resolveHostPaths(spec: SandboxSpec): Promise<ResolvedSpec> {
    const out: ResolvedSpec = { ...spec, mounts: [...spec.mounts] };
    if (!spec.workspace && !spec.configDir && spec.mounts.length === 0) return out;
    // checked where Warden stands (exists, kind, owner, not forbidden), then given to the engine as the
    // host's path (identity unless Warden runs in a container with WARDEN_HOST_PATH_MAP)
    const refused = await this.refused();
    const host = async (field: string, p: string, kind: 'dir' | 'any'): Promise<{ path: string; uid: number; gid: number }> => {
      const local = await checkHostPath(field, p, kind, refused);
      return { ...local, path: toHostPath(field, local.path, this.ctx.hostPathMap) };
    };
    if (spec.workspace) {
      const w = await host('workspace', spec.workspace, 'dir');
      out.workspace = w.path;
      out.workspaceOwner = { uid: w.uid, gid: w.gid };
      // a host workspace is never uncapped: overlay2 on ext4 has no quota, the guard measures it
      if (out.resources.disk === undefined) out.resources = { ...out.resources, disk: this.ctx.defaultWorkspaceDisk };
    }
    if (spec.configDir) out.configDir = (await host('configDir', spec.configDir, 'dir')).path;
    out.mounts = await Promise.all(spec.mounts.map(async (m, i) => ({ ...m, source: (await host(`mounts.${i}.source`, m.source, 'any')).path })));
    return out;
  }

  async resolveUser(spec: ResolvedSpec): Promise<{ uid: number; gid: number }> {
    if (spec.user) {
      const [uid, gid] = spec.user.split(':').map(Number);
      if ((uid === 0 || gid === 0) && !spec.allowRoot) {
        throw new WardenError('ROOT_REFUSED', `user '${spec.user}': a workload as root would share the guard's identity and capabilities, so it could switch off the max runtime, the dead-man switch, the disk quota and exec timeouts. Run as a non-root uid (the default), or set allowRoot: true to accept that.`);
      }
      return { uid: uid!, gid: gid ?? uid! };
    }
    const o = spec.workspaceOwner;
    if (o && o.uid !== 0) return o;
    if (o) this.ctx.log.warn({ workspace: spec.workspace }, `workspace is owned by root; the sandbox runs as ${DEFAULT_UID}:${DEFAULT_UID} and may not be able to write it (chown it, or set user)`);
    return { uid: DEFAULT_UID, gid: DEFAULT_UID };
  }
}
