import type { Logger } from '../log.js';
import type { Capability, OwnerLink, SandboxRuntime, Unit } from '../runtime/sandbox-runtime.js';
import { assertCapabilities } from '../runtime/capabilities.js';
import type { HostPathMap } from './host-path-map.js';
import { Sandbox, type SandboxOwner } from './sandbox.js';

/**
 * What every part of a Warden shares (lifecycle, keys, pools, the facade): the runtime, who owns what
 * it makes, the instance it acts for, and how it sees the host. Made once by the Warden constructor.
 */
export class WardenContext {
  /** Last SDK activity per sandbox id in this process (the idle policy reads it). */
  private readonly activity = new Map<string, number>();

  constructor(
    readonly runtime: SandboxRuntime,
    /** Who owns the sandboxes this Warden creates (`warden.owner`). */
    readonly owner: string,
    /** The instance this Warden acts for (tenant scope). */
    readonly instance: string,
    /** Labels on every sandbox this Warden makes (a test run, a tenant). */
    readonly labels: Record<string, string>,
    readonly log: Logger,
    readonly hostPathMap: HostPathMap,
    readonly egress: { secrets: () => Record<string, string>; caFile?: string },
    readonly defaultWorkspaceDisk: number,
    /** Where Warden keeps its own files (no mount may expose it). */
    readonly home: string,
    /** The lifecycle operations a Sandbox handle delegates to (the Warden). */
    private readonly sandboxOwner: () => SandboxOwner,
  ) {}

  /** This process's link for a sandbox owned by `owner` (default this Warden's owner). */
  ownerLink(owner = this.owner): OwnerLink {
    return { link: this.runtime.owner.link.link, owner };
  }

  /** Whether a unit belongs to this Warden's instance. */
  mine(u: Unit): boolean {
    return u.record.instance === this.instance;
  }

  /** A handle on a unit. */
  handle(u: Unit): Sandbox {
    return new Sandbox(this.runtime, this.sandboxOwner(), u, this.log);
  }

  /** UNSUPPORTED_ON_RUNTIME (naming the first missing capability, as every backend does) unless the backend declares every capability a request needs. */
  require(caps: Array<{ cap: Capability; why: string }>): void {
    assertCapabilities(
      this.runtime.kind,
      this.runtime.capabilities,
      caps.map((c) => ({ capability: c.cap, because: c.why })),
      Object.fromEntries(caps.map((c) => [c.cap, 'drop it from the spec, or use a runtime that can (WARDEN_RUNTIME=docker)'])),
    );
  }

  touch(id: string): void {
    this.activity.set(id, Date.now());
  }

  lastActivity(id: string): number | undefined {
    return this.activity.get(id);
  }

  forget(id: string): void {
    this.activity.delete(id);
  }
}
