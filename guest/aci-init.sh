#!/bin/sh
# aci-init.sh UID GID DIR... -- COMMAND...
#
# The first instant of a sandbox on Azure Container Instances, as PID 1 (root). ACI sets no user for
# the container, mounts no tmpfs and has no volume with an owner, so the workload's directories
# (workspace, home) are plain directories of the container's filesystem: give each to the
# workload's uid:gid (mode 0700, as Docker's tmpfs mounts are), make /tmp 1777, then exec COMMAND
# (the guard's init), which stays PID 1. Nothing of the workload runs yet, so nothing can race this.
set -eu
uid=$1
gid=$2
shift 2
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  mkdir -p "$1"
  # the image's own files there (a template's app) become the workload's too; skipped when they are already
  if [ "$(stat -c %u:%g "$1")" != "$uid:$gid" ]; then chown -R "$uid:$gid" "$1"; fi
  chmod 0700 "$1"
  shift
done
[ "$#" -gt 0 ] && shift
mkdir -p /tmp
chmod 1777 /tmp
exec "$@"
