/** Every object a test run creates carries this label with the run's id; the global teardown sweeps it. */
export const TEST_RUN_LABEL = 'warden.test-run';
