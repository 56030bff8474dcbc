import { afterAll, beforeAll, describe } from 'vitest';
import { contractSuites } from './contract/suites.js';
import { kubeSkipReason } from './support/kube.js';
import { kubeFixture } from './support/runtime.js';

/**
 * The runtime contract (src/runtime/sandbox-runtime.ts) on a real cluster: KubernetesRuntime run
 * through the backend-neutral suites of test/kube/contract/ (the same functions any backend's fixture
 * can run), every behaviour checked from inside real pods.
 */
const skip = kubeSkipReason();

describe.skipIf(skip)(`runtime contract on Kubernetes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const fx = skip ? undefined : kubeFixture('contract');
  beforeAll(async () => fx?.setup(), 120_000);
  afterAll(async () => fx?.teardown(), 180_000);
  if (fx) contractSuites(fx);
});
