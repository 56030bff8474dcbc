import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { LABEL } from '../src/policy/labels.js';
import { DockerEngine } from '../src/runtime/docker/engine.js';
import { sharedNetworkId } from '../src/runtime/docker/shared-network.js';
import { runId } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

// warden-egress and warden-preview are made by whichever sandbox needs them first; on a fresh engine
// several creates can ask at once, and the engine happily makes several networks with one name.
const docker = new Docker();
const runtime = new DockerEngine(docker, createLogger('silent'));
const name = `warden-test-shared-${runId()}`;

afterAll(async () => {
  for (const n of await docker.listNetworks({ filters: { name: [name] } })) await docker.getNetwork(n.Id).remove().catch(() => undefined);
});

describe('a shared network made by concurrent first users', () => {
  const spec = () => ({ name, internal: false, labels: { [TEST_RUN_LABEL]: runId(), [LABEL.role]: 'test-shared-network' } });
  const named = async () => (await docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name);

  it('ends as one network that every caller of a process attaches to by id', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => sharedNetworkId(runtime, spec())));
    expect(new Set(ids).size).toBe(1);
    const left = await named();
    expect(left.map((n) => n.Id)).toEqual([ids[0]]);
    expect(left[0]!.Labels).toMatchObject({ [LABEL.managed]: 'true', [TEST_RUN_LABEL]: runId() });
    // and later callers find it instead of making another
    expect(await sharedNetworkId(runtime, spec())).toBe(ids[0]);
  });

  it('converges when other processes raced and left duplicates: keeps the lowest id, removes the unused rest', async () => {
    for (const n of await named()) await docker.getNetwork(n.Id).remove();
    // what two processes racing on a fresh engine leave behind (the engine's duplicate check is best effort)
    const labels = { ...spec().labels, [LABEL.managed]: 'true' };
    for (let i = 0; i < 3; i++) await docker.createNetwork({ Name: name, CheckDuplicate: false, Labels: labels });
    const dupes = (await named()).map((n) => n.Id).sort();
    expect(dupes).toHaveLength(3);
    expect(await sharedNetworkId(runtime, spec())).toBe(dupes[0]);
    expect((await named()).map((n) => n.Id)).toEqual([dupes[0]]);
  });
});
