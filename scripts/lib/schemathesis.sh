#!/usr/bin/env bash
# Prints the path of the schemathesis CLI (the API fuzzer the test suite runs against /openapi.json),
# installing it once from PyPI into a cached virtualenv. Idempotent; two runs at once take turns (flock),
# and a failed install leaves nothing half-made behind.
# Usage: st="$(bash scripts/lib/schemathesis.sh)"
set -euo pipefail
version="${WARDEN_SCHEMATHESIS_VERSION:-4.32.5}"
cache="${WARDEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/warden}"
venv="$cache/schemathesis-$version"
if [ ! -e "$venv/.complete" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "[warden] the API fuzzer needs python3 (apt-get install -y python3 python3-venv)" >&2; exit 1; }
  mkdir -p "$cache"
  exec 9>"$cache/.schemathesis.lock"
  flock 9
  if [ ! -e "$venv/.complete" ]; then
    rm -rf "$venv"
    echo "[warden] installing schemathesis $version from PyPI into $venv" >&2
    python3 -m venv "$venv" >&2 || { rm -rf "$venv"; echo "[warden] python3 -m venv failed: install Debian's python3-venv (scripts/test.sh does)" >&2; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version" >&2 || { rm -rf "$venv"; exit 1; }
    touch "$venv/.complete"
  fi
fi
echo "$venv/bin/schemathesis"
