#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set up what is missing, then run every test against the
# real engine. Prints a closing "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
report="${TMPDIR:-/tmp}/warden-vitest-$$.json"
set +e
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
rc=$?
set -e
if [ -f "$report" ]; then
  node -e 'const r=require(process.argv[1]); console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + (r.numTodoTests||0)} skipped`)' "$report"
  rm -f "$report"
fi
exit "$rc"
