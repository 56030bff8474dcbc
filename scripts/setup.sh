#!/usr/bin/env bash
# Everything Warden needs on a fresh Debian machine, installed only when missing (idempotent):
# Node deps, the Docker engine (Debian's docker.io), debootstrap for the offline base, the built CLI,
# and Warden's images (built on debian:bookworm-slim, or on the offline base when no registry answers).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
command -v node >/dev/null 2>&1 || { echo "[warden] Node.js >= 20 is required (apt-get install nodejs npm, or nodejs.org)" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "[warden] Node.js >= 20 is required, found $(node --version)" >&2; exit 1; }
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
for pkg in "$@"; do need_apt+=("$pkg"); done
if [ "${#need_apt[@]}" -gt 0 ]; then
  missing=()
  for p in "${need_apt[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "[warden] installing ${missing[*]}" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[warden] npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/lib/ensure-engine.sh

echo "[warden] building the CLI" >&2
npm run --silent build

# Images: rebuilt only when their content hash changed; offline base from debootstrap if no registry.
node bin/warden.js images build --offline
