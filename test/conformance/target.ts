import type { RuntimeKind, SandboxRuntime } from '../../src/runtime/sandbox-runtime.js';

/**
 * What the conformance suite needs from a backend: a runtime made the way Warden makes it, where the
 * runs happen (every test's name ends with it, e.g. "against the ACI stand-in"), the instance the tests
 * act in, and the image a plain sandbox runs. The suite itself only speaks the runtime contract.
 */
export interface ConformanceTarget {
  kind: RuntimeKind;
  /** Appended to every test name: says what the test ran against. */
  where: string;
  /** The Warden instance of this run's units (tenant scope: nothing else is touched). */
  instance: string;
  /** The image reference of a plain Warden sandbox on this backend. */
  image: string;
  /** A runtime for this test worker (the production factory, from the environment). */
  make(): SandboxRuntime & { close?(): Promise<void> };
  /** Environment for a separate Warden process of this target (test/conformance/owner-process.ts). */
  childEnv(): Record<string, string>;
  /**
   * Known limits of this backend that no capability names, each with the reason: the tests that need
   * the behaviour are skipped under a name that gives the reason (see `contractIt`).
   */
  limits?: Partial<Record<Limit, string>>;
  /**
   * A peer on the backend's own network that an unconfined unit would reach, made by the test: a
   * server counting what reaches it on one port (TCP and UDP); optional (Docker's units are the
   * machine's neighbours: the host itself stands for the peer there).
   */
  upstream?(): Promise<Upstream>;
  /** Everything of a unit the backend still holds, as `<kind> <name>` (Docker: containers, networks, volumes by label); optional. */
  leftovers?(id: string): Promise<string[]>;
}

/** A counting server the test made (see `ConformanceTarget.upstream`). */
export interface Upstream {
  ip: string;
  port: number;
  /** TCP connections and UDP datagrams it got so far. */
  seen(): Promise<{ tcp: number; udp: number }>;
  close(): Promise<void>;
}

/**
 * Behaviours a backend may lack for a reason of its own: `noNewPrivsVisible` (the no-new-privileges bit
 * and the seccomp mode read 1 and 2 in /proc/self/status), `releaseKeepsUnits` (a released owner link
 * leaves its units running), `subreaper` (the guard's holder keeps a setsid child without the exec's mark
 * in its tree), `guardTty` (the guard hands a terminal to the workload command), `seccompInside` (Warden's
 * seccomp profile filters the workload's calls), `processOom` (over the memory cap one process is killed,
 * not the whole unit).
 */
export type Limit = 'noNewPrivsVisible' | 'releaseKeepsUnits' | 'subreaper' | 'guardTty' | 'seccompInside' | 'processOom';

/** The target named by WARDEN_RUNTIME. */
export async function loadTarget(): Promise<ConformanceTarget> {
  const kind = process.env.WARDEN_RUNTIME || 'docker';
  switch (kind) {
    case 'docker':
    case 'gvisor':
      return (await import('./docker-target.js')).dockerTarget(kind);
    case 'kubernetes':
      return (await import('../kube/conformance-target.js')).kubernetesTarget();
    case 'aci':
      return (await import('../aci/target.js')).aciTarget();
    default:
      throw new Error(`no conformance target for WARDEN_RUNTIME=${kind} on this branch (docker, gvisor, kubernetes, aci)`);
  }
}
