#!/usr/bin/env bash
# The Kubernetes tier, from a fresh machine (CI: scripts/test.sh calls it):
#   bash scripts/test-kube.sh OUTDIR
# 1. starts the local cluster (scripts/kube-up.sh: builds it on first use, ~10-25 min cold, then cached
#    under /var/cache/warden-kube; ~15 s warm),
# 2. builds Warden's images for WARDEN_IMAGE_TAG and loads them into the cluster's containerd
#    (`warden images build --runtime kubernetes`, what a user runs),
# 3. runs the runtime contract's conformance suite on it (WARDEN_RUNTIME=kubernetes) and the Kubernetes
#    tests (vitest.kube.config.ts), then alone the fault tests (vitest.kube-faults.config.ts: they kill
#    the node's containerd), each with a JSON report in OUTDIR (kube-conformance.json, kube.json,
#    kube-faults.json),
# 4. checks that nothing is left in the cluster (scripts/kube-leftovers.ts), then stops it
#    (scripts/kube-down.sh; WARDEN_KUBE_KEEP=1 leaves it running) and checks no process of it is left.
# Exits non-zero when any step fails; every step runs even after an earlier one failed.
#
#   bash scripts/test-kube.sh --vitest [vitest args]   (npm run test:kube) only starts the cluster and
#   runs the Kubernetes tests, e.g. one file; the cluster is left running.
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export WARDEN_KUBE_REQUIRED=1

if [ "${1:-}" = --vitest ]; then
  shift
  set -e
  KUBECONFIG="$(bash scripts/kube-up.sh | tail -n 1)"
  export KUBECONFIG
  exec npx vitest run -c vitest.kube.config.ts "$@"
fi

out="${1:?usage: test-kube.sh OUTDIR (the JSON reports go there) | test-kube.sh --vitest [vitest args]}"
mkdir -p "$out"
failed=()
t0=$(date +%s)
step() { # name command...: runs one step, notes its failure and duration
  local name="$1" s rc
  shift
  s=$(date +%s)
  echo "[test-kube] $name ..."
  "$@"
  rc=$?
  echo "[test-kube] $name: $([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)") in $(($(date +%s) - s)) s"
  [ "$rc" = 0 ] || failed+=("$name")
  return "$rc"
}

up() {
  local kc
  kc="$(bash scripts/kube-up.sh | tail -n 1)" || return 1
  [ -s "$kc" ] || { echo "[test-kube] kube-up printed no kubeconfig ($kc)" >&2; return 1; }
  export KUBECONFIG="$kc"
}
images() {
  # the images the tier's pods run (agents: Claude Code in a pod; the app image is the Docker tiers')
  # (scripts/test.sh compiled dist/ before its tiers started: WARDEN_TEST_COMPILED=1)
  if [ "${WARDEN_TEST_COMPILED:-0}" != 1 ]; then npx tsc -p tsconfig.build.json || return 1; fi
  node bin/warden.js images build --runtime kubernetes --offline guest sandbox egress agents
}
cluster_gone() { # no process of the cluster (daemons, shims, containers' shims) is left
  local pids
  pids="$(bash -c '. scripts/lib/kube/env.sh && kube_all_pids')" || return 1
  [ -z "$pids" ] || { echo "[test-kube] processes of the cluster still run: $(echo "$pids" | tr '\n' ' ')" >&2; return 1; }
}
vitest_json() { # name config
  npx vitest run -c "$2" --reporter=default --reporter=json --outputFile="$out/$1.json"
}

if step "cluster up" up; then
  step "images" images
  step "conformance on kubernetes" env WARDEN_RUNTIME=kubernetes bash -c "$(declare -f vitest_json); out='$out'; vitest_json kube-conformance vitest.conformance.config.ts"
  step "kubernetes tests" bash -c "$(declare -f vitest_json); out='$out'; vitest_json kube vitest.kube.config.ts"
  # alone, after the rest: they kill the node's containerd
  step "kubernetes faults" bash -c "$(declare -f vitest_json); out='$out'; vitest_json kube-faults vitest.kube-faults.config.ts"
  step "nothing left in the cluster" npx tsx scripts/kube-leftovers.ts --wait 180
  if [ "${WARDEN_KUBE_KEEP:-0}" != 1 ]; then
    step "cluster down" bash scripts/kube-down.sh
    step "nothing of the cluster running" cluster_gone
  fi
fi

echo "[test-kube] done in $(($(date +%s) - t0)) s${failed[*]:+; failed: ${failed[*]}}"
[ "${#failed[@]}" = 0 ]
