#!/usr/bin/env bash
# Sourced by scripts/docker-*.sh: picks the compose client (the `docker compose` plugin, else Debian's
# `docker-compose`) and the compose file for the mode. Sets COMPOSE (array), COMPOSE_FILE_FOR_MODE.
compose_init() {
  local mode="$1"
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then COMPOSE=(docker-compose)
  else
    echo "[warden] no compose client: install the compose plugin, or Debian's docker-compose (apt-get install -y docker-compose)" >&2
    return 1
  fi
  if [ "$mode" = prod ]; then COMPOSE+=(-f compose.prod.yaml); else COMPOSE+=(-f compose.yaml); fi
}

# The host settings compose.yaml / compose.prod.yaml read: the socket's group, the user that owns ./data.
compose_env() {
  local sock="${DOCKER_SOCKET:-/var/run/docker.sock}"
  [ -S "$sock" ] || { echo "[warden] no engine socket at $sock" >&2; return 1; }
  export DOCKER_GID="${DOCKER_GID:-$(stat -c %g "$sock")}"
  if [ "$(id -u)" = 0 ]; then export WARDEN_UID="${WARDEN_UID:-1000}" WARDEN_GID="${WARDEN_GID:-1000}"
  else export WARDEN_UID="${WARDEN_UID:-$(id -u)}" WARDEN_GID="${WARDEN_GID:-$(id -g)}"; fi
  # the instance (label warden.instance) of this deployment: WARDEN_INSTANCE, or the older spelling as a
  # warden.instance= entry of WARDEN_LABELS; unset: the compose file's default (warden-dev / warden)
  if [ -z "${WARDEN_INSTANCE:-}" ]; then
    local kv
    IFS=, read -r -a kvs <<< "${WARDEN_LABELS:-}"
    for kv in "${kvs[@]}"; do case "$kv" in warden.instance=*) export WARDEN_INSTANCE="${kv#warden.instance=}";; esac; done
  fi
  export PWD   # compose maps ${PWD}/workspaces and ${PWD}/data: the scripts run from the repository root
}
