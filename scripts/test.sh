#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set up what is missing, then run every test against the
# real engine: unit and engine tests (in parallel), then the runtime contract's conformance suite on
# Docker, on gVisor (runsc; ~1.5 min each here) and on ACI against its local stand-in (~1.5 min), the
# ACI backend's own tests (npm run test:aci, ~2.5 min), then the fault tests that disturb the whole
# engine (alone), then the Kubernetes tier on a local cluster (scripts/test-kube.sh). Prints a closing
# "N passed, N failed" line over all of them, last.
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
# setup.sh compiled dist/ (and built the images): the tiers' global setups need not compile it again
export WARDEN_TEST_COMPILED=1
reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT
set +e
npx vitest run --reporter=default --reporter=json --outputFile="$reports/main.json" "$@"
rc_main=$?
rc_faults=0
rc_conf=0
rc_kube=0
rc_aci=0
if [ "$#" -eq 0 ]; then
  for rt in docker gvisor aci; do
    WARDEN_RUNTIME=$rt npx vitest run -c vitest.conformance.config.ts --reporter=default --reporter=json --outputFile="$reports/conformance-$rt.json" || rc_conf=1
  done
  # The ACI backend's own tests (npm run test:aci: the stand-in's ARM, the framed exec, the CLI and API
  # on ACI). Its exec flake under load (an exec ending with -1 and no output) was the framed exec's
  # dead-man switch giving up on a live client whose pings were late; see docs/ACI.md.
  npx vitest run -c vitest.aci.config.ts --reporter=default --reporter=json --outputFile="$reports/aci.json"
  rc_aci=$?
  npx vitest run -c vitest.faults.config.ts --reporter=default --reporter=json --outputFile="$reports/faults.json"
  rc_faults=$?
  # the Kubernetes tier on a local single-node cluster (built from Go modules on first use, ~10-25 min
  # cold, cached under /var/cache/warden-kube; ~8 min of tests): conformance, the Kubernetes tests,
  # its faults, nothing left in the cluster, the cluster stopped
  bash scripts/test-kube.sh "$reports" || rc_kube=1
fi
set -e
node scripts/lib/test-summary.mjs "$reports"
[ "$rc_main" -eq 0 ] && [ "$rc_conf" -eq 0 ] && [ "$rc_aci" -eq 0 ] && [ "$rc_faults" -eq 0 ] && [ "$rc_kube" -eq 0 ]
