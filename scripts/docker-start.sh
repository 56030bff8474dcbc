#!/usr/bin/env bash
# Start Warden in Docker and wait until it is healthy. Usage: scripts/docker-start.sh [--prod] [--build]
#   default: development (compose.yaml: source mounted, hot reload, inspector on 9229)
#   --prod:  production (compose.prod.yaml: built image, limits, restart policy, secrets)
#   --build: rebuild the image first (otherwise built only when missing)
# Creates ./workspaces, ./data (owned by the container user) and ./config; for --prod also
# ./secrets/warden_token (generated) and ./secrets/api-keys.env (empty: put your keys there).
# Works with no variable set; honours COMPOSE_PROJECT_NAME, WARDEN_PORT, WARDEN_INSTANCE, WARDEN_LABELS,
# WARDEN_SERVER_BASE_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=dev; rebuild=0
for a in "$@"; do case "$a" in --prod) mode=prod;; --build) rebuild=1;; *) echo "usage: $0 [--prod] [--build]" >&2; exit 2;; esac; done
# shellcheck source=lib/compose.sh
. scripts/lib/compose.sh
bash scripts/lib/ensure-engine.sh
compose_init "$mode"
compose_env

mkdir -p workspaces data config
# the container user must own its state directory (a root-owned ./data would make it crash on start)
if [ "$(stat -c %u data)" != "$WARDEN_UID" ]; then
  if [ "$(id -u)" = 0 ]; then chown "$WARDEN_UID:$WARDEN_GID" data
  else echo "[warden] ./data is not owned by uid $WARDEN_UID; chown it (sudo chown $WARDEN_UID:$WARDEN_GID data)" >&2; exit 1; fi
fi
if [ "$mode" = prod ]; then
  mkdir -p secrets && chmod 700 secrets
  if [ ! -s secrets/warden_token ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/wdn_/' > secrets/warden_token)
    echo "[warden] generated the API token in secrets/warden_token" >&2
  fi
  [ -e secrets/api-keys.env ] || (umask 077; printf '# KEY=VALUE lines: ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY, GITHUB_TOKEN\n' > secrets/api-keys.env)
  # compose mounts secret files as they are: the container user must be able to read them
  [ "$(id -u)" = 0 ] && chown "$WARDEN_UID:$WARDEN_GID" secrets/warden_token secrets/api-keys.env
fi

image=warden-server-dev:latest; [ "$mode" = prod ] && image=warden-server:latest
if [ "$rebuild" = 1 ] || ! docker image inspect "$image" >/dev/null 2>&1; then bash scripts/docker-build.sh "--$mode"; fi
if ! docker image inspect warden-sandbox:latest >/dev/null 2>&1; then
  echo "[warden] warden-sandbox:latest is missing: building Warden's sandbox images (scripts/setup.sh does the same on the host)" >&2
  if [ -f dist/cli/main.js ]; then node bin/warden.js images build --offline
  else "${COMPOSE[@]}" run --rm --no-deps --entrypoint /usr/bin/tini warden -- node /app/bin/warden.js images build; fi
fi

t0=$SECONDS
"${COMPOSE[@]}" up -d
cid="$("${COMPOSE[@]}" ps -q warden)"
port="${WARDEN_PORT:-7070}"
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "[warden] Warden ($mode) is up on http://127.0.0.1:$port in $((SECONDS - t0)) s (container ${cid:0:12})" >&2
    if [ "$mode" = prod ]; then echo "[warden] API token: secrets/warden_token" >&2; else echo "[warden] API token: data/token; inspector: 127.0.0.1:${WARDEN_INSPECT_PORT:-9229}" >&2; fi
    exit 0
  fi
  sleep 1
done
echo "[warden] Warden did not answer on :$port within 120 s; last log lines:" >&2
"${COMPOSE[@]}" logs --tail 30 warden >&2 || true
exit 1
