import { compileDist } from '../support/compile.js';
import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/log.js';
import { DockerImageStore } from '../../src/runtime/docker/images.js';
import { createRuntime } from '../../src/runtime/select.js';

/**
 * Docker and gVisor targets: the engine must answer (and, for gvisor, have runsc registered), Warden's
 * images are built for WARDEN_IMAGE_TAG (cached by content hash). The teardown panics the run's
 * instance: nothing of it is left, whatever the tests did.
 */
export async function startDocker(kind: 'docker' | 'gvisor'): Promise<{ runId: string; teardown: () => Promise<void> }> {
  const runId = `c${randomBytes(4).toString('hex')}`;
  const docker = new Docker();
  const info = (await docker.info().catch((err: unknown) => {
    throw new Error(`no Docker engine answers (${(err as Error).message}); the ${kind} conformance run needs one`);
  })) as { Runtimes?: Record<string, unknown> };
  if (kind === 'gvisor' && !Object.keys(info.Runtimes ?? {}).includes('runsc')) throw new Error("WARDEN_RUNTIME=gvisor needs runsc registered with the engine (scripts/lib/ensure-engine.sh registers it)");
  // the egress image is built from dist/egress
  compileDist();
  await new DockerImageStore(docker, createLogger('warn'), { ...(process.env.WARDEN_BASE_IMAGE ? { baseImage: process.env.WARDEN_BASE_IMAGE } : {}) }).buildAll({ base: 'auto', bootstrapIfMissing: true, progress: (l) => console.log(`[images] ${l}`) });
  const instance = `c-${runId}`;
  return {
    runId,
    teardown: async () => {
      const rt = createRuntime({ kind, logger: createLogger('warn'), labels: { 'warden.instance': instance } });
      const r = await rt.panic({ instance });
      if (r.sandboxes) console.log(`[teardown] removed ${r.sandboxes} units the conformance run left`);
    },
  };
}
