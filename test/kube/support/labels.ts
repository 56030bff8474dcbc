/** Every namespace a Kubernetes test run creates carries this label with the run's id; teardown deletes them. */
export const KUBE_TEST_RUN_LABEL = 'warden.test-run';
