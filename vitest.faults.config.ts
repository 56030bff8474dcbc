import { defineConfig } from 'vitest/config';

/**
 * Fault tests that disturb the whole engine (restarting dockerd, panicking everything): run alone,
 * after the main suite, one file at a time (scripts/test.sh runs both).
 */
export default defineConfig({
  test: {
    include: ['test/faults/*.int.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
    retry: 0,
  },
});
