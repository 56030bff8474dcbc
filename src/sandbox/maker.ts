import type { SandboxSpecInput } from '../policy/spec.js';
import type { Capability } from '../runtime/sandbox-runtime.js';
import type { CreateOptions } from './lifecycle.js';
import type { Sandbox } from './sandbox.js';

/**
 * What needs sandboxes made and removed (agents, templates) gets from a Warden: just this, so such
 * modules depend on the lifecycle, not on the Warden facade that offers them (no import circle).
 */
export interface SandboxMaker {
  create(spec?: SandboxSpecInput, opts?: CreateOptions): Promise<Sandbox>;
  ensure(spec: SandboxSpecInput, opts?: CreateOptions): Promise<Sandbox>;
  remove(ref: string, opts?: { force?: boolean; timeoutMs?: number }): Promise<void>;
  /** What the runtime can do (e.g. 'hostMounts'); absent: everything a Docker engine can. */
  readonly capabilities?: ReadonlySet<Capability>;
}
