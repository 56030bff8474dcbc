import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';
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
import type { KubernetesRuntime } from './kubernetes-runtime.js';
import { kubernetesCapabilities, validateOptions, type KubernetesRuntimeOptions } from './options.js';

/**
 * The Kubernetes backend, loaded on its first use.
 *
 * Why: its client library (@kubernetes/client-node 2.x) brings undici 8, which needs Node >= 22.19. A
 * Warden installed from npm on Node 20 and run on Docker must never load it (`warden up` crashed at
 * start in the package test); on Kubernetes the load failure becomes a coded error that says so.
 * What is known without the library (kind, capabilities, this process's owner link) is answered at once.
 */
export class LazyKubernetesRuntime implements SandboxRuntime {
  readonly kind = 'kubernetes' as const;
  readonly capabilities: ReadonlySet<Capability>;
  readonly owner: OwnerSession;
  private loading: Promise<KubernetesRuntime> | undefined;
  private loaded: KubernetesRuntime | undefined;

  constructor(
    private readonly opts: KubernetesRuntimeOptions,
    private readonly log?: Logger,
    private readonly link: string = `${opts.instance}-${randomBytes(8).toString('hex')}`,
  ) {
    validateOptions(opts);
    this.capabilities = kubernetesCapabilities(opts);
    const linkInfo: OwnerLink = { link, owner: opts.owner };
    this.owner = {
      link: linkInfo,
      linked: () => this.loaded?.owner.linked() ?? [],
      release: (id?: string) => this.loaded?.owner.release(id),
    };
  }

  /** The real backend (loaded once; a failed load is tried again on the next call). */
  private real(): Promise<KubernetesRuntime> {
    this.loading ??= import('./kubernetes-runtime.js').then(
      (m) => (this.loaded = new m.KubernetesRuntime(this.opts, this.log, this.link)),
      (err: unknown) => {
        this.loading = undefined;
        throw new WardenError(
          'ENGINE_UNAVAILABLE',
          `the Kubernetes backend could not load its client library (${(err as Error).message}); @kubernetes/client-node 2 needs Node >= 22.19 when installed from npm (this is Node ${process.versions.node}), or use WARDEN_RUNTIME=docker`,
          { cause: err },
        );
      },
    );
    return this.loading;
  }

  async info(): Promise<RuntimeInfo> { return (await this.real()).info(); }
  async create(plan: SandboxPlan): Promise<Unit> { return (await this.real()).create(plan); }
  async find(ref: UnitRef): Promise<Unit | undefined> { return (await this.real()).find(ref); }
  async list(sel: UnitSelector): Promise<Unit[]> { return (await this.real()).list(sel); }
  async resume(_id: string, _owner: OwnerLink): Promise<Unit> { return (await this.real()).resume(); }
  async stop(id: string, graceMs: number): Promise<void> { return (await this.real()).stop(id, graceMs); }
  async kill(id: string): Promise<void> { return (await this.real()).kill(id); }
  async remove(id: string, _opts?: { keepWorkspace?: boolean }): Promise<void> { return (await this.real()).remove(id); }
  async claim(memberId: string, key: string, owner: OwnerLink): Promise<Unit> { return (await this.real()).claim(memberId, key, owner); }
  async markPoolReady(memberId: string): Promise<void> { return (await this.real()).markPoolReady(memberId); }
  async exec(id: string, req: ExecRequest): Promise<ExecHandle> { return (await this.real()).exec(id, req); }
  async execDetached(id: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void> { return (await this.real()).execDetached(id, req); }
  async logs(id: string, opts: { tail?: number; follow?: boolean }): Promise<Readable> { return (await this.real()).logs(id, opts); }
  async egressLog(id: string): Promise<string> { return (await this.real()).egressLog(id); }
  async previewActivity(id: string): Promise<{ at: number; open: number } | undefined> { return (await this.real()).previewActivity(id); }
  async prune(sel: UnitSelector & { stopped?: boolean }): Promise<PruneResult> { return (await this.real()).prune(sel); }
  async panic(sel: UnitSelector): Promise<PanicResult> { return (await this.real()).panic(sel); }
  async imageExists(ref: string): Promise<boolean> { return (await this.real()).imageExists(ref); }
  async diagnose(): Promise<RuntimeCheck[]> {
    const r = await this.real();
    return r.diagnose ? r.diagnose() : [];
  }
  /** Releases what the loaded backend holds (nothing when it never loaded). */
  async close(): Promise<void> {
    await this.loaded?.close();
  }
}
