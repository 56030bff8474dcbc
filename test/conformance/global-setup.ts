import type { TestProject } from 'vitest/node';

/**
 * `npm run test:conformance`: starts what WARDEN_RUNTIME's target needs (for docker and gvisor: Warden's
 * images built for this tag, cached by content hash; everything of the run removed afterwards).
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const kind = process.env.WARDEN_RUNTIME || 'docker';
  if (kind === 'docker' || kind === 'gvisor') {
    const { startDocker } = await import('./docker-setup.js');
    const { runId, teardown } = await startDocker(kind);
    process.env.WARDEN_CONFORMANCE_INSTANCE = `c-${runId}`;
    project.provide('runId', runId);
    return teardown;
  }
  if (kind === 'kubernetes') {
    const { startKubernetes } = await import('../kube/conformance-setup.js');
    const { runId, teardown } = await startKubernetes();
    process.env.WARDEN_CONFORMANCE_INSTANCE = `c-${runId}`;
    project.provide('runId', runId);
    return teardown;
  }
  throw new Error(`no conformance target for WARDEN_RUNTIME=${kind} on this branch`);
}
