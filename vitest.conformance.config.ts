import { defineConfig } from 'vitest/config';

/**
 * `npm run test:conformance`: the runtime contract's suite against WARDEN_RUNTIME's backend. Its global
 * setup starts what the backend needs (WARDEN_RUNTIME=aci: the ACI stand-in). Tests a backend cannot
 * pass are skipped by capability, and their names say which.
 */
export default defineConfig({
  test: {
    include: ['test/conformance/*.conformance.test.ts'],
    globalSetup: ['test/conformance/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    retry: 0,
  },
});
