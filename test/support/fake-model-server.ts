import Docker from 'dockerode';
import { fileURLToPath } from 'node:url';
import { EGRESS_NETWORK, ROLE } from '../../src/runtime/docker/egress.js';
import { createLogger } from '../../src/log.js';
import { LABEL } from '../../src/policy/labels.js';
import { DockerEngine } from '../../src/runtime/docker/engine.js';
import { sharedNetworkId } from '../../src/runtime/docker/shared-network.js';
import { runId } from './fixture.js';
import { TEST_RUN_LABEL } from './labels.js';
import { wardenImage } from '../../src/images/catalog.js';

/**
 * The fake model provider's name on the egress network ("the internet" for the agent tests): one per
 * server and test run, so parallel files (and other runs) never share an alias.
 */
export const fakeHost = (name: string): string => `api-${name}-${runId()}.fake-model.test`;
export const fakeUrl = (name: string): string => `http://${fakeHost(name)}:8080`;

export interface FakeRequest {
  method: string;
  path: string;
  host: string;
  auth: string | null;
  api: 'anthropic' | 'openai' | 'gemini' | 'other';
  prompts?: string[];
  since?: number;
  step?: string;
}

/**
 * test/support/fake-models.mjs in a container of the agents image (it has Node; nothing is pulled) on
 * Warden's egress network under a real-looking name, labelled with the test run. Requests are read
 * back from its log.
 */
export async function startFakeModels(docker: Docker, name: string): Promise<{ url: string; container: Docker.Container; requests: () => Promise<FakeRequest[]>; stop: () => Promise<void> }> {
  // the same race-safe lookup Warden uses (parallel files may be first to need the network)
  const egressNet = await sharedNetworkId(new DockerEngine(docker, createLogger('silent')), { name: EGRESS_NETWORK, internal: false, labels: { [LABEL.role]: ROLE.egressNetwork } });
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const container = await docker.createContainer({
    Image: wardenImage('agents'),
    name: `warden-test-agents-fake-${name}-${runId()}`,
    Cmd: ['node', '/fake/fake-models.mjs'],
    Labels: { [TEST_RUN_LABEL]: runId() },
    HostConfig: { NetworkMode: egressNet, Binds: [`${dir}:/fake:ro`], Init: true, Memory: 256 * 1024 * 1024 },
    NetworkingConfig: { EndpointsConfig: { [egressNet]: { Aliases: [fakeHost(name)] } } },
  });
  await container.start();
  const deadline = Date.now() + 15_000;
  while (!(await container.logs({ stdout: true, stderr: false })).toString().includes('listening')) {
    if (Date.now() > deadline) throw new Error('the fake model server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: fakeUrl(name),
    container,
    requests: async () => {
      const text = (await container.logs({ stdout: true, stderr: false })).toString('utf8');
      return text
        .split('\n')
        .map((l) => l.slice(l.indexOf('{')))
        .filter((l) => l.startsWith('{"fake"'))
        .map((l) => (JSON.parse(l) as { fake: FakeRequest }).fake);
    },
    stop: () => container.remove({ force: true }).then(() => undefined, () => undefined),
  };
}
