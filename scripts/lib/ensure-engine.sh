#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io when there is none, start dockerd in the
# background when it is not running, and wait for its socket. Idempotent. Sourced or run.
set -euo pipefail

engine_up() { docker info >/dev/null 2>&1 || /usr/bin/docker info >/dev/null 2>&1; }

if engine_up; then exit 0; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v dockerd >/dev/null 2>&1; then
  echo "[warden] no Docker engine: installing Debian's docker.io" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io iptables >/dev/null
fi

# gVisor: when Warden starts the engine itself and the host has no daemon.json yet, register Debian's
# runsc so sandboxes can ask for runtime: 'runsc' (WARDEN_GVISOR=0 skips this). An existing
# daemon.json is never touched.
if [ "${WARDEN_GVISOR:-1}" != 0 ] && ! pgrep -x dockerd >/dev/null 2>&1 && [ ! -e /etc/docker/daemon.json ]; then
  if ! command -v runsc >/dev/null 2>&1; then
    as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq runsc >/dev/null || echo "[warden] runsc not installable; gVisor stays off" >&2
  fi
  if command -v runsc >/dev/null 2>&1; then
    as_root mkdir -p /etc/docker
    echo '{ "runtimes": { "runsc": { "path": "'"$(command -v runsc)"'", "runtimeArgs": ["--network=host"] } } }' | as_root tee /etc/docker/daemon.json >/dev/null
    echo "[warden] registered gVisor (runsc) in /etc/docker/daemon.json" >&2
  fi
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "[warden] starting dockerd (log: /var/log/warden-dockerd.log)" >&2
  as_root bash -c 'nohup dockerd >/var/log/warden-dockerd.log 2>&1 &'
fi

for _ in $(seq 1 60); do
  if engine_up; then echo "[warden] engine up: $(docker version --format '{{.Server.Version}}' 2>/dev/null || true)" >&2; exit 0; fi
  sleep 1
done
echo "[warden] the Docker engine did not come up in 60 s; see /var/log/warden-dockerd.log" >&2
tail -n 20 /var/log/warden-dockerd.log >&2 || true
exit 1
