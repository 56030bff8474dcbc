import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { ImageBuilder } from '../src/images/builder.js';
import { catalogImage } from '../src/images/catalog.js';
import { createLogger } from '../src/log.js';
import { TEST_RUN_LABEL } from './support/labels.js';

/**
 * Global setup of the agent tests (vitest.agents.config.ts): like test/global-setup.ts, but it builds
 * only warden-agents (cached by content hash), on the warden-sandbox image that is already there, and
 * never rebuilds the shared warden-sandbox / warden-egress images. Teardown sweeps this run's objects.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runId = `t${randomBytes(4).toString('hex')}`;
  project.provide('runId', runId);
  const docker = new Docker();
  await docker.ping().catch((err: unknown) => {
    throw new Error(`no Docker engine answers (${(err as Error).message}); start one (scripts/lib/ensure-engine.sh)`);
  });
  for (const ref of ['warden-sandbox:latest', 'warden-egress:latest']) {
    await docker.getImage(ref).inspect().catch(() => {
      throw new Error(`${ref} is missing; build Warden's images first (npx warden images build)`);
    });
  }
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const agents = catalogImage('agents')!;
  const { from: _from, ...onSandbox } = agents; // the same hash as building it through the catalog's `from`
  const r = await new ImageBuilder(docker, createLogger('warn')).build(onSandbox, { base: 'warden-sandbox:latest', progress: (l) => console.log(`[images] ${l}`) });
  console.log(`[images] ${r.ref} ${(r.sizeBytes / 1e6).toFixed(0)} MB${r.built ? `, built in ${r.seconds.toFixed(1)} s` : ' (cached)'}`);
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
