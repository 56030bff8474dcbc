#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set up what is missing (scripts/setup.sh also compiles
# dist/ and builds Warden's images, cached by content hash), then run every test against the real engine
# in two lanes side by side (2 cores: much of each lane waits on containers and pods):
# - the engine lane: unit and engine tests (in parallel), then the runtime contract's conformance suite
#   on Docker and on gVisor (runsc);
# - the second lane: the Kubernetes tier on a local cluster (scripts/test-kube.sh; its cluster has a
#   containerd, a bridge and, for kube-router, an iptables backend of its own, so nothing of it shares
#   state with the engine), then the conformance suite on ACI against its local stand-in and the ACI
#   backend's own tests (npm run test:aci); its lines are prefixed "kube| " and "aci| ";
# then, alone, the fault tests that disturb the whole engine. Prints a closing "N passed, N failed" line
# over all of them, last.
set -euo pipefail
cd "$(dirname "$0")/.."
# chromium (Debian's) for the browser tests; gcc + shellcheck for the guest-code checks; tmux for the
# terminal tests (a real terminal to type into); zsh and fish to check the completion scripts; a compose
# client (Debian's docker-compose when the plugin is absent)
extra=(chromium gcc libc6-dev shellcheck tmux zsh fish)
docker compose version >/dev/null 2>&1 || extra+=(docker-compose)
# python3 with venv for the API fuzzer (schemathesis, installed from PyPI into a cached venv by the test)
command -v python3 >/dev/null 2>&1 || extra+=(python3)
python3 -c 'import ensurepip' >/dev/null 2>&1 || extra+=(python3-venv)
bash scripts/setup.sh "${extra[@]}"
reports="$(mktemp -d)"
second_pid=
cleanup() {
  [ -z "$second_pid" ] || kill -- "-$second_pid" 2>/dev/null || true
  rm -rf "$reports"
}
trap cleanup EXIT
# setup.sh compiled dist/ and built the images: the tiers' global setups find both done, and
# WARDEN_TEST_COMPILED=1 keeps them from recompiling dist/ while the other lane runs it
export WARDEN_TEST_COMPILED=1
set +e
second_lane() { # exit code: 1 = Kubernetes tier failed, 2 = ACI conformance, 4 = ACI tests
  local rc=0
  # a local single-node cluster: conformance, the Kubernetes tests, its faults, nothing left in the
  # cluster, the cluster stopped
  bash scripts/test-kube.sh "$reports" 2>&1 | sed -u 's/^/kube| /' || rc=$((rc | 1))
  WARDEN_RUNTIME=aci npx vitest run -c vitest.conformance.config.ts --reporter=default --reporter=json \
    --outputFile="$reports/conformance-aci.json" 2>&1 | sed -u 's/^/aci| /' || rc=$((rc | 2))
  # The ACI backend's own tests (the stand-in's ARM, the framed exec, the CLI and API on ACI). Its exec
  # flake under load (an exec ending with -1 and no output) was the framed exec's dead-man switch giving
  # up on a live client whose pings were late; see docs/ACI.md.
  npx vitest run -c vitest.aci.config.ts --reporter=default --reporter=json --outputFile="$reports/aci.json" 2>&1 |
    sed -u 's/^/aci| /' || rc=$((rc | 4))
  return "$rc"
}
rc_second=0
if [ "$#" -eq 0 ]; then
  # the cluster first, alone: a cold build compiles it (Go, both cores) and would starve the engine lane
  bash scripts/kube-up.sh >/dev/null || echo "[test] the local cluster did not start; the Kubernetes lane says why"
  # the second lane in a process group of its own, so that an interrupted run stops it too
  set -m
  second_lane &
  second_pid=$!
  set +m
fi
npx vitest run --reporter=default --reporter=json --outputFile="$reports/main.json" "$@"
rc_main=$?
rc_faults=0
rc_conf=0
if [ "$#" -eq 0 ]; then
  for rt in docker gvisor; do
    WARDEN_RUNTIME=$rt npx vitest run -c vitest.conformance.config.ts --reporter=default --reporter=json --outputFile="$reports/conformance-$rt.json" || rc_conf=1
  done
  echo "[test] engine lane done; waiting for the second lane (Kubernetes, ACI)"
  wait "$second_pid"
  rc_second=$?
  second_pid=
  # alone, after both lanes: they restart the engine and panic whole instances
  npx vitest run -c vitest.faults.config.ts --reporter=default --reporter=json --outputFile="$reports/faults.json"
  rc_faults=$?
fi
# a hung engine fails the tests still running with timeouts that name no cause: name it here
rc_engine=0
bash scripts/lib/engine-answers.sh || rc_engine=1
set -e
node scripts/lib/test-summary.mjs "$reports"
[ "$rc_main" -eq 0 ] && [ "$rc_conf" -eq 0 ] && [ "$rc_second" -eq 0 ] && [ "$rc_faults" -eq 0 ] && [ "$rc_engine" -eq 0 ]
