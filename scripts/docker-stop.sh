#!/usr/bin/env bash
# Stop Warden in Docker and everything it started. Usage: scripts/docker-stop.sh [--prod] [--keep-sandboxes]
#  1. `compose down`: SIGTERM to the server (tini forwards it), which removes its ephemeral sandboxes
#     and exits; then its container and network go.
#  2. Its persistent sandboxes (they survive restarts on purpose) are removed too, by the instance
#     label this deployment gives every sandbox (warden.instance=$WARDEN_INSTANCE, default warden-dev,
#     or warden with --prod): scripts/emergency-stop.sh --label ... (docker CLI only).
#     --keep-sandboxes skips this step.
# Works with no variable set; honours COMPOSE_PROJECT_NAME, WARDEN_INSTANCE (and WARDEN_LABELS'
# warden.instance=, the older spelling) like docker-start.sh.
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
bash scripts/emergency-stop.sh --label "warden.instance=${WARDEN_INSTANCE:-$default_instance}"
