import { DockerSandboxRuntime } from '../../src/runtime/docker/docker-sandbox-runtime.js';
import type { DockerEngine } from '../../src/runtime/docker/engine.js';
import type { Warden } from '../../src/sandbox/warden.js';

/**
 * The Docker engine under a Warden's runtime: these engine tests look below the sandbox unit (its
 * containers, networks, reaper) to prove what the unit is made of.
 */
export function engineOf(warden: Warden): DockerEngine {
  if (!(warden.runtime instanceof DockerSandboxRuntime)) throw new Error(`this engine test needs the Docker runtime (WARDEN_RUNTIME=${warden.runtime.kind})`);
  return warden.runtime.engine;
}
