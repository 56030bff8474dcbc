import { defineConfig } from 'vitest/config';

/**
 * The agent tests: real agent CLIs in real sandboxes against fake model servers.
 * `npx vitest run -c vitest.agents.config.ts` (builds only warden-agents, cached by content hash).
 */
export default defineConfig({
  test: {
    include: ['src/agents/**/*.test.ts', 'test/agents*.int.test.ts'],
    globalSetup: ['test/agents-global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    retry: 0,
  },
});
