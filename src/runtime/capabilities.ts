import { WardenError } from '../errors.js';
import type { Capability, ExecRequest, RuntimeKind, SandboxPlan } from './sandbox-runtime.js';

/** Why a plan needs a capability, in words a user can act on (the error names both). */
export interface CapabilityNeed {
  capability: Capability;
  /** What in the spec asked for it, e.g. "network: 'allowlist'". */
  because: string;
}

/**
 * The capabilities a plan cannot do without: a backend that does not declare one of them must refuse
 * the plan before it makes anything. Behaviours a backend may provide in another way (max runtime
 * enforced from Warden's side, the dead-man switch by a sweep, a pids cap) are not listed: they are
 * guarantees the runtime documents, not requests it can refuse.
 */
export function requiredCapabilities(plan: SandboxPlan): CapabilityNeed[] {
  const out: CapabilityNeed[] = [];
  if (plan.workspace.kind === 'host') out.push({ capability: 'hostMounts', because: `a host workspace (${plan.workspace.path})` });
  if (plan.mounts.length > 0) out.push({ capability: 'hostMounts', because: `host mounts (${plan.mounts.map((m) => m.source).join(', ')})` });
  if (plan.workspace.kind === 'volume') out.push({ capability: 'workspaceVolume', because: 'workspaceVolume: true (a workspace that outlives stop and refresh)' });
  const net = { none: 'egressNone', allowlist: 'egressAllowlist', open: 'egressOpen' } as const;
  out.push({ capability: net[plan.egress.mode], because: `network: '${plan.egress.mode}'` });
  if (plan.preview.length > 0) out.push({ capability: 'preview', because: `published ports (${plan.preview.map((p) => p.containerPort).join(', ')})` });
  if (plan.isolation === 'gvisor') out.push({ capability: 'gvisor', because: "runtime: 'runsc'" });
  if (plan.resources.diskBytes !== undefined) out.push({ capability: 'diskQuota', because: 'resources.disk' });
  return out;
}

/** What an exec request cannot do without. */
export function execCapabilities(req: Pick<ExecRequest, 'tty'>): CapabilityNeed[] {
  return req.tty ? [{ capability: 'tty', because: 'a terminal (tty)' }] : [];
}

/** The coded error for a need the runtime does not meet; `hint` says what would work instead. */
export function unsupportedOnRuntime(kind: RuntimeKind, need: CapabilityNeed, hint?: string): WardenError {
  return new WardenError(
    'UNSUPPORTED_ON_RUNTIME',
    `the '${kind}' runtime cannot do ${need.because}: it lacks the capability '${need.capability}'${hint ? `; ${hint}` : ''}`,
    { details: { runtime: kind, capability: need.capability } },
  );
}

/** Throws UNSUPPORTED_ON_RUNTIME for the first need `capabilities` does not cover. */
export function assertCapabilities(kind: RuntimeKind, capabilities: ReadonlySet<Capability>, needs: CapabilityNeed[], hints: Partial<Record<Capability, string>> = {}): void {
  for (const need of needs) if (!capabilities.has(need.capability)) throw unsupportedOnRuntime(kind, need, hints[need.capability]);
}
