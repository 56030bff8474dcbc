import { defineConfig } from 'vitest/config';

/**
 * `npm run test:aci`: the ACI backend's foundations against the ACI stand-in (a local imitation of the
 * Azure endpoints, started by the global setup) and the framing's unit tests.
 */
export default defineConfig({
  test: {
    include: ['test/aci/*.int.test.ts', 'src/runtime/aci/**/*.test.ts'],
    globalSetup: ['test/aci/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    retry: 0,
  },
});
