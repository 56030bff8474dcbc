#!/usr/bin/env bash
# Stop Warden in Docker and everything it started. Usage: scripts/docker-stop.sh [--prod] [--keep-sandboxes]
#  1. `compose down`: SIGTERM to the server (tini forwards it), which removes its ephemeral sandboxes
#     and exits; then its container and network go.
#  2. Its persistent sandboxes (they survive restarts on purpose) are removed too, by the instance
#     label this deployment gives every sandbox (WARDEN_LABELS, default warden.instance=warden[-dev]):
#     scripts/emergency-stop.sh --label ... (docker CLI only). --keep-sandboxes skips this step.
# Honours COMPOSE_PROJECT_NAME and WARDEN_LABELS like docker-start.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=dev; keep=0
for a in "$@"; do case "$a" in --prod) mode=prod;; --keep-sandboxes) keep=1;; *) echo "usage: $0 [--prod] [--keep-sandboxes]" >&2; exit 2;; esac; done
# shellcheck source=lib/compose.sh
. scripts/lib/compose.sh
compose_init "$mode"
compose_env
# compose.prod.yaml names secret files that must exist even to stop
if [ "$mode" = prod ]; then mkdir -p secrets; [ -e secrets/warden_token ] || : > secrets/warden_token; [ -e secrets/api-keys.env ] || : > secrets/api-keys.env; fi
"${COMPOSE[@]}" down --remove-orphans --timeout 30
[ "$keep" = 1 ] && exit 0
default_instance=warden-dev; [ "$mode" = prod ] && default_instance=warden
instance="warden.instance=$default_instance"
for kv in ${WARDEN_LABELS//,/ }; do case "$kv" in warden.instance=*) instance="$kv";; esac; done
bash scripts/emergency-stop.sh --label "$instance"
