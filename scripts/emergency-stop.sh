#!/usr/bin/env bash
# EMERGENCY STOP without Node: kill and remove every Warden-labelled container, then Warden's networks
# and volumes, with the docker CLI alone. Works when Warden itself is dead or hung.
# Usage: scripts/emergency-stop.sh [--label key=value]   (narrow to one label, e.g. a tenant)
# Exit 0 when nothing Warden-labelled is left; 1 otherwise.
set -uo pipefail
filter=(--filter "label=warden.managed=true")
if [ "${1:-}" = "--label" ] && [ -n "${2:-}" ]; then filter+=(--filter "label=$2"); fi
DOCKER="${DOCKER:-docker}"
t0=$(date +%s%N)

containers=$($DOCKER ps -aq "${filter[@]}")
nc=0
if [ -n "$containers" ]; then
  nc=$(echo "$containers" | wc -l)
  # kill first (all at once), then remove: rm -f alone would wait for each in turn
  echo "$containers" | xargs -r $DOCKER kill >/dev/null 2>&1 || true
  echo "$containers" | xargs -r $DOCKER rm -f -v >/dev/null 2>&1 || true
fi
networks=$($DOCKER network ls -q "${filter[@]}")
nn=0
if [ -n "$networks" ]; then nn=$(echo "$networks" | wc -l); echo "$networks" | xargs -r $DOCKER network rm >/dev/null 2>&1 || true; fi
volumes=$($DOCKER volume ls -q "${filter[@]}")
nv=0
if [ -n "$volumes" ]; then nv=$(echo "$volumes" | wc -l); echo "$volumes" | xargs -r $DOCKER volume rm -f >/dev/null 2>&1 || true; fi

left=$($DOCKER ps -aq "${filter[@]}" | wc -l)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "emergency-stop: removed $nc containers, $nn networks, $nv volumes in ${ms} ms; $left left"
[ "$left" -eq 0 ]
