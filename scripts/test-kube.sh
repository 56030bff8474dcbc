#!/usr/bin/env bash
# The Kubernetes tier: starts (building on first use) the local cluster with scripts/kube-up.sh, then
# runs the tests of vitest.kube.config.ts against it; a cluster that does not answer is a failure here.
# Extra arguments go to vitest (e.g. a test file). The cluster is left running: scripts/kube-down.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBECONFIG="$(bash scripts/kube-up.sh | tail -n 1)"
export KUBECONFIG WARDEN_KUBE_REQUIRED=1
exec npx vitest run -c vitest.kube.config.ts "$@"
