import { defineConfig } from 'vitest/config';

/**
 * The Kubernetes tier: tests against a real cluster (scripts/kube-up.sh makes one on this machine).
 * Without a cluster every test is skipped, and says why; `npm run test:kube` starts the cluster first
 * and sets WARDEN_KUBE_REQUIRED=1, so there a missing cluster is a failure.
 */
export default defineConfig({
  test: {
    include: ['test/kube/*.kube.test.ts'],
    globalSetup: ['test/kube/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    retry: 0,
  },
});
