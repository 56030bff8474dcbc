import type { TestProject } from 'vitest/node';

/**
 * `npm run test:conformance`: starts what WARDEN_RUNTIME's target needs (for docker and gvisor: Warden's
 * images built for this tag, cached by content hash; everything of the run removed afterwards; for aci:
 * the ACI stand-in, built and started here, the environment pointed at it as a deployment would point
 * Warden at Azure).
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
  if (kind === 'aci') {
    const { startStandin } = await import('../aci/global-setup.js');
    const { info, teardown } = await startStandin();
    process.env.WARDEN_CONFORMANCE_INSTANCE = `c-${info.runId}`;
    project.provide('aciStandin', info);
    project.provide('runId', info.runId);
    return teardown;
  }
  throw new Error(`no conformance target for WARDEN_RUNTIME=${kind} on this branch`);
}
