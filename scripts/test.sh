#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set up what is missing, compile dist/ and build Warden's
# images once, then run every test against the real engine, in two lanes side by side (2 cores: most of
# each lane is waiting on containers and pods):
# - the engine lane: unit and engine tests (in parallel), then the runtime contract's conformance suite on
#   Docker, on gVisor (runsc) and on ACI against its local stand-in, then the ACI backend's own tests
#   (npm run test:aci);
# - the Kubernetes lane: the Kubernetes tier on a local cluster (scripts/test-kube.sh; its cluster has a
#   containerd of its own, so nothing of it shares state with the engine lane), its lines prefixed "kube| ";
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
kube_pid=
cleanup() {
  [ -z "$kube_pid" ] || kill -- "-$kube_pid" 2>/dev/null || true
  rm -rf "$reports"
}
trap cleanup EXIT
# compile once and build the images once (cached by content hash), before the lanes start: the tiers'
# global setups then find both done (WARDEN_TEST_COMPILED=1 keeps them from rewriting dist/ while the
# other lane runs it)
npx tsc -p tsconfig.build.json
node bin/warden.js images build --offline
export WARDEN_TEST_COMPILED=1
set +e
rc_kube=0
if [ "$#" -eq 0 ]; then
  # the cluster first, alone: a cold build compiles it (Go, both cores) and would starve the engine lane
  bash scripts/kube-up.sh >/dev/null || echo "[test] the local cluster did not start; the Kubernetes lane says why"
  # the Kubernetes lane (its own process group, so an interrupted run stops it too): a local single-node
  # cluster (built from Go modules on first use, ~10-25 min cold, cached under /var/cache/warden-kube):
  # conformance, the Kubernetes tests, its faults, nothing left in the cluster, the cluster stopped
  set -m
  (bash scripts/test-kube.sh "$reports" 2>&1 | sed -u 's/^/kube| /') &
  kube_pid=$!
  set +m
fi
npx vitest run --reporter=default --reporter=json --outputFile="$reports/main.json" "$@"
rc_main=$?
rc_faults=0
rc_conf=0
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
  echo "[test] engine lane done; waiting for the Kubernetes lane"
  wait "$kube_pid"
  rc_kube=$?
  kube_pid=
  # alone, after both lanes: they restart the engine and panic whole instances
  npx vitest run -c vitest.faults.config.ts --reporter=default --reporter=json --outputFile="$reports/faults.json"
  rc_faults=$?
fi
set -e
node -e '
  const fs = require("fs");
  let p = 0, f = 0, s = 0;
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${file}`, "utf8"));
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + (r.numTodoTests || 0);
  }
  // the closing line, in the plain form CI reads (and nothing after it): "N passed, N failed"
  console.log(`skipped tests: ${s} (each names its reason above)`);
  console.log(`${p} passed, ${f} failed`);
' "$reports"
[ "$rc_main" -eq 0 ] && [ "$rc_conf" -eq 0 ] && [ "$rc_aci" -eq 0 ] && [ "$rc_faults" -eq 0 ] && [ "$rc_kube" -eq 0 ]
