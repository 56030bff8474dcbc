import { defineConfig } from 'vitest/config';

/**
 * The Kubernetes fault tests (test/kube/faults): they kill the node's container runtime, the Warden
 * process and pods, so they run alone, one file at a time, after the rest of the tier (scripts/test-kube.sh).
 * Without a cluster every test is skipped, and says why.
 */
export default defineConfig({
  test: {
    include: ['test/kube/faults/*.kube-fault.test.ts'],
    globalSetup: ['test/kube/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    retry: 0,
  },
});
