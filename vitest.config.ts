import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/*.int.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2 cores: engine tests in two workers keep the machine responsive.
    pool: 'forks',
    maxWorkers: 2,
    retry: 0,
  },
});
