#!/usr/bin/env bash
# Stops Warden's local Kubernetes cluster (scripts/kube-up.sh) and leaves nothing running: no process
# (daemons, containerd shims, containers), no mount, no network interface or namespace, no iptables
# rule or chain it added; the kernel tunables the kubelet changed are put back. Works after a crash
# too: everything is found by what it is (this cluster's binaries, sockets and paths), not only by
# pid files. Idempotent.
#
# The cluster's data (etcd, kubelet and CNI state, containers) is wiped, so the next kube-up starts an
# empty cluster; certificates and containerd's image store (the pause image and Warden's imported
# images) are kept. --purge removes all state too (not the build cache: rm -rf /var/cache/warden-kube).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/kube/env.sh
. "$here/lib/kube/env.sh"
# shellcheck source=lib/kube/net.sh
. "$here/lib/kube/net.sh"

purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    *) kube_die "unknown argument $arg (usage: kube-down.sh [--purge])" ;;
  esac
done
[ "$(id -u)" = 0 ] || kube_die "run as root"

# Graceful first: with the API and the kubelet alive, deleting every pod makes the kubelet stop each
# sandbox the normal way (containers killed, CNI teardown, volumes unmounted) before the object goes.
kube_drain_pods() {
  [ -n "$(kube_daemon_pid kube-apiserver)" ] && [ -n "$(kube_daemon_pid kubelet)" ] || return 0
  kube_api -o /dev/null "$KUBE_API_URL/readyz" 2>/dev/null || return 0
  kube_log "deleting every pod"
  local ns
  for ns in $(kube_api "$KUBE_API_URL/api/v1/namespaces?pretty=0" 2>/dev/null | grep -o '"name":"[^"]*","uid"' | cut -d'"' -f4); do
    kube_api -o /dev/null -X DELETE -H 'Content-Type: application/json' --data '{"gracePeriodSeconds":2}' \
      "$KUBE_API_URL/api/v1/namespaces/$ns/pods" 2>/dev/null || true
  done
  kube_wait 60 "pods gone" kube_no_pods || kube_log "pods still terminating after 60 s: removing them by force"
}

kube_no_pods() {
  local pods; pods="$(kube_api "$KUBE_API_URL/api/v1/pods?limit=1&pretty=0")" || return 1
  [[ "$pods" != *'"items":[{'* ]]
}

kube_stop() { # name: TERM, then KILL after 15 s
  local pid; pid="$(kube_daemon_pid "$1")"
  [ -n "$pid" ] || { rm -f "$KUBE_RUN/$1.pid"; return 0; }
  kube_log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  kube_wait 15 "" kube_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$KUBE_RUN/$1.pid"
}

kube_gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# Containers the kubelet did not stop: their network namespaces are noted, their tasks killed and
# removed, then the containers (and their snapshots).
kube_remove_containers() {
  [ -S "$KUBE_CONTAINERD_SOCK" ] && kube_ctr version >/dev/null 2>&1 || return 0
  local ids id
  ids="$(kube_ctr containers ls -q 2>/dev/null || true)"
  [ -n "$ids" ] || return 0
  kube_log "removing $(echo "$ids" | wc -l) containers"
  for id in $ids; do
    kube_ctr containers info "$id" 2>/dev/null | grep -o '"/var/run/netns/cni-[^"]*"\|"/run/netns/cni-[^"]*"' | tr -d '"' >>"$KUBE_RUN/netns" || true
    kube_ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $ids; do
    kube_ctr tasks delete -f "$id" >/dev/null 2>&1 || true
    kube_ctr containers delete "$id" >/dev/null 2>&1 || true
  done
}

# Whatever still runs: containers known to this cluster's runc root, then any process of this cluster.
kube_kill_leftovers() {
  local id pid pids
  if [ -d "$KUBE_RUNC_ROOT" ]; then
    for id in $(runc --root "$KUBE_RUNC_ROOT/k8s.io" list -q 2>/dev/null || true); do
      runc --root "$KUBE_RUNC_ROOT/k8s.io" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  pids="$(kube_all_pids)"
  [ -z "$pids" ] || { kube_log "killing leftover processes $pids"; for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done; }
  for pid in $pids; do kube_wait 10 "" kube_gone "$pid" || true; done
}

kube_unmount_all() {
  local m ns
  # deepest first; only mounts below this cluster's own directories
  for m in $(findmnt -rn -o TARGET | grep -E "^($KUBE_STATE|$KUBE_RUN)(/|$)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if [ -f "$KUBE_RUN/netns" ]; then
    sort -u "$KUBE_RUN/netns" | while read -r ns; do
      [ -e "$ns" ] || continue
      umount "$ns" 2>/dev/null || true
      rm -f "$ns"
    done
  fi
  # after a crash containerd could not name its pods' network namespaces: a CNI namespace is this
  # cluster's when the peer of its eth0 is a port of this cluster's bridge
  local ports peer
  ports="$(ip -o link show master "$KUBE_BRIDGE" 2>/dev/null | cut -d: -f1 || true)"
  for ns in /run/netns/cni-*; do
    if [ ! -e "$ns" ] || [ -z "$ports" ]; then continue; fi
    peer="$(ip -n "${ns##*/}" -o link show eth0 2>/dev/null | sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p')"
    if [ -n "$peer" ] && [[ $'\n'"$ports"$'\n' == *$'\n'"$peer"$'\n'* ]]; then
      umount "$ns" 2>/dev/null || true
      rm -f "$ns"
    fi
  done
}

kube_remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

kube_restore_sysctls() {
  [ -f "$KUBE_STATE/sysctl.orig" ] || return 0
  xargs -r sysctl -qw <"$KUBE_STATE/sysctl.orig" || true
  rm -f "$KUBE_STATE/sysctl.orig"
}

main() {
  exec 8>"$KUBE_RUN.lock" && flock 8 # one kube-up or kube-down at a time
  mkdir -p "$KUBE_RUN"
  kube_drain_pods
  kube_stop kube-router
  kube_stop kubelet
  kube_stop kube-scheduler
  kube_stop kube-controller-manager
  kube_stop kube-apiserver
  kube_stop etcd
  kube_remove_containers
  kube_stop containerd
  kube_kill_leftovers
  kube_unmount_all
  kube_bridge_down
  kube_firewall_down
  kube_remove_cgroups
  kube_restore_sysctls
  # the cluster's data: the next kube-up starts empty
  rm -rf "$KUBE_STATE/etcd" "$KUBE_STATE/kubelet" "$KUBE_STATE/cni/ipam" "$KUBE_RUN"
  if [ "$purge" = 1 ]; then rm -rf "$KUBE_STATE"; fi
  local left; left="$(kube_all_pids)"
  [ -z "$left" ] || kube_die "processes still running: $left"
  kube_log "cluster stopped"
}

main
