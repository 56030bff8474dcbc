# shellcheck shell=bash disable=SC2034 # (settings used by the scripts that source this file)
# Settings and helpers shared by scripts/kube-up.sh, scripts/kube-down.sh and scripts/kube-images.sh.
# Sourced, never run. Every path and port of Warden's local cluster is decided here, once.
#
# Overrides (environment):
#   WARDEN_KUBE_VERSION       Kubernetes release to build and run (default below; <= v1.36.x while the
#                             node runs Debian's containerd 1.6, see docs/KUBERNETES.md)
#   WARDEN_KUBE_CACHE         build cache, keyed by version (default /var/cache/warden-kube)
#   WARDEN_KUBE_STATE         cluster state: certificates, etcd data, kubelet and containerd roots, logs
#   WARDEN_KUBE_RUN           sockets and pid files
#   WARDEN_KUBE_API_PORT      the apiserver's port on 127.0.0.1 (default 6443)
#   WARDEN_KUBE_POD_CIDR      the pods' /24 on the node's bridge (default 10.244.0.0/24)
#   WARDEN_KUBE_SERVICE_CIDR  service cluster IPs (default 10.96.0.0/24; no kube-proxy: see docs)
#   WARDEN_KUBE_POD_EGRESS    1 (default): pods may be routed (masqueraded) beyond the node; 0: not
#   WARDEN_KUBE_NETPOL        kube-router (default): enforce NetworkPolicy with kube-router's network
#                             policy controller alone; none: no enforcement (the bridge CNI has none)

KUBE_VERSION="${WARDEN_KUBE_VERSION:-v1.36.3}"
KUBE_CACHE="${WARDEN_KUBE_CACHE:-/var/cache/warden-kube}"
KUBE_BUILD="$KUBE_CACHE/$KUBE_VERSION"
KUBE_BIN="$KUBE_BUILD/bin"
KUBE_STATE="${WARDEN_KUBE_STATE:-/var/lib/warden-kube}"
KUBE_RUN="${WARDEN_KUBE_RUN:-/run/warden-kube}"
KUBE_PKI="$KUBE_STATE/pki"
KUBE_LOGS="$KUBE_STATE/logs"
KUBE_CONFIGS="$KUBE_STATE/config"
KUBE_KUBECONFIG="$KUBE_STATE/kubeconfig"
KUBE_NODE_NAME="warden-kube"
KUBE_API_PORT="${WARDEN_KUBE_API_PORT:-6443}"
KUBE_API_URL="https://127.0.0.1:$KUBE_API_PORT"
KUBE_ETCD_PORT=12379
KUBE_ETCD_PEER_PORT=12380
KUBE_CM_PORT=10257
KUBE_SCHED_PORT=10259
KUBE_KUBELET_PORT=10250
KUBE_KUBELET_HEALTHZ_PORT=10248
KUBE_POD_CIDR="${WARDEN_KUBE_POD_CIDR:-10.244.0.0/24}"
KUBE_SERVICE_CIDR="${WARDEN_KUBE_SERVICE_CIDR:-10.96.0.0/24}"
KUBE_POD_EGRESS="${WARDEN_KUBE_POD_EGRESS:-1}"
KUBE_NETPOL="${WARDEN_KUBE_NETPOL:-kube-router}"
# The only kube-router on the Go module proxy; built in its own module (its client-go is older).
KUBE_ROUTER_VERSION="v2.1.0"
KUBE_ROUTER_BIN="$KUBE_CACHE/kube-router-$KUBE_ROUTER_VERSION/bin/kube-router"
KUBE_BRIDGE="wkube0"
# The bridge's own address is the pods' gateway and the node's InternalIP (the kubelet listens there
# only; pods are firewalled off from it, see kube_firewall_up).
KUBE_NODE_IP="${KUBE_POD_CIDR%.*/*}.1"
KUBE_SERVICE_IP="${KUBE_SERVICE_CIDR%.*/*}.1"
KUBE_CONTAINERD_SOCK="$KUBE_RUN/containerd/containerd.sock"
KUBE_RUNC_ROOT="$KUBE_RUN/runc"
KUBE_PAUSE_IMAGE="localhost/warden-kube/pause:1"
KUBE_CNI_NAME="warden-kube"
KUBE_CNI_BIN="/usr/lib/cni"
# Every iptables chain and rule this cluster adds carries this name (chains) or comment (jumps).
KUBE_FW_TAG="WARDEN-KUBE"

kube_log() { printf '[kube] %s\n' "$*" >&2; }
kube_die() { printf '[kube] error: %s\n' "$*" >&2; exit 1; }

# ctr against this cluster's containerd (never Docker's), in the CRI's namespace.
kube_ctr() { ctr --address "$KUBE_CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# curl as the cluster's superuser (used by the scripts only; the printed kubeconfig is an RBAC user).
kube_api() {
  curl -sS --fail-with-body --max-time 20 --cacert "$KUBE_PKI/ca.crt" --cert "$KUBE_PKI/super-admin.crt" \
    --key "$KUBE_PKI/super-admin.key" "$@"
}

# Path of the binary a daemon runs (containerd is Debian's; the rest come from the build cache).
kube_daemon_bin() {
  case "$1" in
    containerd) command -v containerd || echo /usr/bin/containerd ;;
    kube-router) echo "$KUBE_ROUTER_BIN" ;;
    *) echo "$KUBE_BIN/$1" ;;
  esac
}

# The pid of a running daemon of this cluster, or nothing. A pid file alone proves nothing (pids are
# reused): the process must run the expected binary and name this cluster's state in its argv.
kube_daemon_pid() {
  local name="$1" pidfile="$KUBE_RUN/$1.pid" pid exe
  [ -r "$pidfile" ] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [ "$exe" = "$(kube_daemon_bin "$name")" ] || return 0
  local args; args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$args" == *"$KUBE_STATE"* ]] || return 0
  echo "$pid"
}

# Pids of every process of this cluster, found by what they run rather than by a pid file: the
# daemons (binaries of the build cache, or containerd with this cluster's config), and the shims of
# this cluster's containerd. Used by kube-down to leave nothing behind even after a crash.
kube_all_pids() {
  local p exe args
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null || true)"
    [ -n "$exe" ] || continue
    args="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true)"
    case "$exe" in
      "$KUBE_CACHE"/*/bin/*) ;;
      */containerd) [[ "$args" == *"$KUBE_STATE/containerd/config.toml"* ]] || continue ;;
      */containerd-shim-runc-v2) [[ "$args" == *"-address $KUBE_CONTAINERD_SOCK"* ]] || continue ;;
      *) continue ;;
    esac
    echo "${p#/proc/}"
  done
}

# Wait until "$@" succeeds, at most $1 seconds, then log $2 (when not empty) (polls every 0.5 s: these are readiness probes of
# processes that offer no event to await).
kube_wait() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
  [ -z "$what" ] || kube_log "$what"
}
