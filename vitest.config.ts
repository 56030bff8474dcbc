import { defineConfig } from 'vitest/config';

/**
 * Two tiers in one run (`npm test`):
 * - `unit`: src/**\/*.test.ts and test/unit/: no engine, no image builds, no global setup (`npm run test:unit`).
 * - `engine`: test/*.int.test.ts against the real Docker engine; the global setup compiles dist/ and
 *   builds Warden's images (cached by content hash).
 * The conformance suite (vitest.conformance.config.ts) and the fault tests have configs of their own.
 */
export default defineConfig({
  test: {
    // 2 cores: engine tests in two workers keep the machine responsive
    pool: 'forks',
    maxWorkers: 2,
    retry: 0,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          hookTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'engine',
          include: ['test/*.int.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
