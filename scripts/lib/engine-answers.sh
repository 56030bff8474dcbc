#!/usr/bin/env bash
# After a test run: does the Docker engine still answer? When it does not, say so, with the engine's
# own goroutine dump (SIGUSR1), and name the one hang seen here: Debian's docker.io 20.10.24 lacks the
# libnetwork fix for a lock-order deadlock between a container leaving a network and the removal of
# another one's endpoint on it (moby/moby#42545, backported as moby/libnetwork#2679 after 20.10.24).
# Then every engine call waits forever: the tests still running fail on timeouts that name no cause.
# Exit code: 0 the engine answers, 1 it does not.
set -uo pipefail
timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && exit 0
echo "[test] the Docker engine stopped answering (docker version: no answer within 15 s)"
pid="$(pgrep -xo dockerd || true)"
[ -n "$pid" ] || { echo "[test] no dockerd process is running"; exit 1; }
before="$(ls -t /var/run/docker/goroutine-stacks-*.log 2>/dev/null | head -n 1)"
kill -USR1 "$pid" 2>/dev/null || true
dump=
for _ in $(seq 50); do
  dump="$(ls -t /var/run/docker/goroutine-stacks-*.log 2>/dev/null | head -n 1)"
  [ -n "$dump" ] && [ "$dump" != "$before" ] && break
  dump=
  sleep 0.1
done
[ -n "$dump" ] || { echo "[test] dockerd wrote no goroutine dump"; exit 1; }
echo "[test] dockerd's goroutine dump: $dump"
if grep -q 'processEndpointDelete' "$dump" && grep -q 'getSvcRecords' "$dump"; then
  echo "[test] it is libnetwork's lock-order deadlock (moby/libnetwork#2679, not in Debian's docker.io 20.10.24): restart dockerd"
fi
exit 1
