import { compileDist } from './support/compile.js';
import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { DockerImageStore } from '../src/runtime/docker/images.js';
import { createLogger } from '../src/log.js';
import { TEST_RUN_LABEL } from './support/labels.js';

/**
 * Before the suite: the engine must answer (a missing engine is a failure, not a skip), Warden's images
 * must be built (cached by content hash) after the CLI is compiled. After it: every container, network and
 * volume labelled with this run's id is removed, whatever the tests left.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runId = `t${randomBytes(4).toString('hex')}`;
  project.provide('runId', runId);
  const docker = new Docker();
  await docker.ping().catch((err: unknown) => {
    throw new Error(`no Docker engine answers (${(err as Error).message}); run the suite with scripts/test.sh, which starts one`);
  });
  // compile first: the CLI tests run dist/, and the egress image is built from dist/egress
  compileDist();
  await new DockerImageStore(docker, createLogger('warn'), { ...(process.env.WARDEN_BASE_IMAGE ? { baseImage: process.env.WARDEN_BASE_IMAGE } : {}) }).buildAll({ base: 'auto', bootstrapIfMissing: true, progress: (l) => console.log(`[images] ${l}`) });
  return async () => {
    const filters = { label: [`${TEST_RUN_LABEL}=${runId}`] };
    const containers = await docker.listContainers({ all: true, filters });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    const networks = await docker.listNetworks({ filters });
    await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
    const { Volumes } = await docker.listVolumes({ filters });
    await Promise.all((Volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
    if (containers.length) console.log(`[teardown] removed ${containers.length} leftover test containers`);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    runId: string;
  }
}
