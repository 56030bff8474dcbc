#!/usr/bin/env bash
# Starts Warden's local single-node Kubernetes cluster, building it first when its version is not in
# the cache (see docs/KUBERNETES.md): etcd, kube-apiserver (127.0.0.1 only), kube-controller-manager,
# kube-scheduler and a kubelet over this cluster's own containerd (Debian's, with its own config, root,
# state and socket: Docker's containerd is not touched), runc and the CNI bridge plugin.
#
# Idempotent: what already runs is kept, what is missing is started. Needs root. Installs what it
# needs from Debian's packages and the Go module proxy. Prints the kubeconfig's path (0600, an RBAC
# user bound to cluster-admin) as its last line:
#   export KUBECONFIG="$(bash scripts/kube-up.sh | tail -n 1)"
# Stop it with scripts/kube-down.sh; load Warden's images with scripts/kube-images.sh.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/kube/env.sh
. "$here/lib/kube/env.sh"
# shellcheck source=lib/kube/build.sh
. "$here/lib/kube/build.sh"
# shellcheck source=lib/kube/pki.sh
. "$here/lib/kube/pki.sh"
# shellcheck source=lib/kube/net.sh
. "$here/lib/kube/net.sh"

[ "$(id -u)" = 0 ] || kube_die "run as root (the node runs containers, makes a bridge and firewall rules)"
[ "$(uname -s)" = Linux ] || kube_die "Linux only"

kube_packages() {
  local need=() p
  # containerd (CRI) + runc + CNI plugins: the node; iptables/iproute2: its network; openssl: certs;
  # gcc + libc6-dev: the static pause binary; curl: readiness probes and bootstrap calls
  local want=(containerd runc containernetworking-plugins iptables iproute2 openssl gcc libc6-dev curl util-linux)
  [ "$KUBE_NETPOL" != kube-router ] || want+=(ipset)
  for p in "${want[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    kube_log "installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

kube_check_version() {
  local pid exe
  for pid in $(kube_all_pids); do
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    case "$exe" in
      "$KUBE_BIN"/* | "$KUBE_ROUTER_BIN" | */containerd | */containerd-shim-runc-v2) ;;
      *) kube_die "another version of the cluster runs ($exe, pid $pid): run scripts/kube-down.sh first" ;;
    esac
  done
}

kube_start() { # name args... : starts the daemon unless it already runs; its own session, own log
  local name="$1"; shift
  [ -z "$(kube_daemon_pid "$name")" ] || return 0
  kube_log "starting $name (log: $KUBE_LOGS/$name.log)"
  # setsid: the daemons outlive this script and ignore its terminal's signals. This script is not a
  # process-group leader, so setsid execs in place and $! is the daemon's pid.
  # They must not inherit the lock on fd 8, or kube-down would wait for them forever.
  setsid "$(kube_daemon_bin "$name")" "$@" >"$KUBE_LOGS/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$KUBE_RUN/$name.pid"
}

kube_write() { # file: stdin to file, atomically and only when it changed
  local tmp="$1.partial"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

kube_expect_running() { # name: after a failed readiness probe, say why
  if [ -z "$(kube_daemon_pid "$1")" ]; then
    tail -n 20 "$KUBE_LOGS/$1.log" >&2 || true
    kube_die "$1 exited (log: $KUBE_LOGS/$1.log)"
  fi
  tail -n 20 "$KUBE_LOGS/$1.log" >&2 || true
  kube_die "$1 did not become ready (log: $KUBE_LOGS/$1.log)"
}

kube_containerd() {
  mkdir -p "$KUBE_STATE/containerd" "$KUBE_STATE/cni/net.d" "$KUBE_RUN/containerd"
  kube_write "$KUBE_STATE/containerd/config.toml" <<EOF
# Warden's local cluster: a containerd of its own (scripts/kube-up.sh), beside Docker's.
version = 2
root = "$KUBE_STATE/containerd/root"
state = "$KUBE_RUN/containerd/state"
# plugins this node never uses (and that would log errors on ext4)
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$KUBE_CONTAINERD_SOCK"
[ttrpc]
  address = "$KUBE_CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$KUBE_PAUSE_IMAGE"
  # exec/attach/port-forward streams: on loopback only (the kubelet proxies them)
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_unprivileged_ports = false
  # root here lacks CAP_SYS_RESOURCE (a VM whose init drops it): runc cannot give the pause container
  # the negative OOM score the CRI asks for; clamp scores to containerd's own (0) instead
  restrict_oom_score_adj = true
  enable_unprivileged_icmp = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$KUBE_RUNC_ROOT"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$KUBE_CNI_BIN"
    conf_dir = "$KUBE_STATE/cni/net.d"
    max_conf_num = 1
EOF
  # containerd watches this directory: never show it a half-written file
  kube_write "$KUBE_STATE/cni/net.d/10-warden-kube.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$KUBE_CNI_NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$KUBE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$KUBE_POD_CIDR", "gateway": "$KUBE_NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$KUBE_STATE/cni/ipam"
      }
    }
  ]
}
EOF
  kube_start containerd --config "$KUBE_STATE/containerd/config.toml"
  kube_wait 30 "containerd ready" kube_ctr version || kube_expect_running containerd
  # (no `| grep -q` in these scripts: under pipefail the writer's SIGPIPE would read as "no match")
  local images; images="$(kube_ctr images ls -q)"
  if [[ $'\n'"$images"$'\n' != *$'\n'"$KUBE_PAUSE_IMAGE"$'\n'* ]]; then
    kube_ctr images import "$KUBE_BUILD/pause.tar" >/dev/null
  fi
}

kube_etcd() {
  mkdir -p "$KUBE_STATE/etcd" && chmod 0700 "$KUBE_STATE/etcd"
  local peer="http://127.0.0.1:$KUBE_ETCD_PEER_PORT" client="https://127.0.0.1:$KUBE_ETCD_PORT"
  # --unsafe-no-fsync: a throwaway test cluster (kube-down wipes its data) need not survive a power
  # loss, and fsync on a shared VM disk makes every API write wait.
  kube_start etcd --name warden-kube --data-dir "$KUBE_STATE/etcd" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "warden-kube=$peer" \
    --listen-metrics-urls "" \
    --client-cert-auth --trusted-ca-file "$KUBE_PKI/ca.crt" \
    --cert-file "$KUBE_PKI/etcd-server.crt" --key-file "$KUBE_PKI/etcd-server.key" \
    --unsafe-no-fsync --log-level warn
  kube_wait 60 "etcd ready" curl -sf --cacert "$KUBE_PKI/ca.crt" --cert "$KUBE_PKI/apiserver-etcd-client.crt" \
    --key "$KUBE_PKI/apiserver-etcd-client.key" "$client/health" || kube_expect_running etcd
}

kube_apiserver() {
  kube_start kube-apiserver \
    --bind-address=127.0.0.1 --secure-port="$KUBE_API_PORT" --advertise-address="$KUBE_NODE_IP" \
    --etcd-servers="https://127.0.0.1:$KUBE_ETCD_PORT" --etcd-cafile="$KUBE_PKI/ca.crt" \
    --etcd-certfile="$KUBE_PKI/apiserver-etcd-client.crt" --etcd-keyfile="$KUBE_PKI/apiserver-etcd-client.key" \
    --tls-cert-file="$KUBE_PKI/apiserver.crt" --tls-private-key-file="$KUBE_PKI/apiserver.key" \
    --client-ca-file="$KUBE_PKI/ca.crt" --anonymous-auth=false \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=false \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$KUBE_PKI/sa.pub" --service-account-signing-key-file="$KUBE_PKI/sa.key" \
    --service-cluster-ip-range="$KUBE_SERVICE_CIDR" \
    --kubelet-client-certificate="$KUBE_PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$KUBE_PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$KUBE_PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --profiling=false
  kube_wait 120 "kube-apiserver ready" kube_api "$KUBE_API_URL/readyz" || kube_expect_running kube-apiserver
}

kube_rbac_binding() { # name clusterrole kind subject
  local body
  body="{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"app.kubernetes.io/managed-by\":\"warden-kube-up\"}},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"$2\"},\"subjects\":[{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"$3\",\"name\":\"$4\"}]}"
  kube_api -o /dev/null -X PUT -H 'Content-Type: application/json' --data "$body" \
    "$KUBE_API_URL/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/$1"
}

kube_bootstrap_rbac() {
  kube_rbac_binding warden:cluster-admins cluster-admin Group warden:cluster-admins
  kube_rbac_binding warden:kubelet-api-admin system:kubelet-api-admin User kube-apiserver-kubelet-client
  if [ "$KUBE_NETPOL" = kube-router ]; then
    kube_api -o /dev/null -X PUT -H 'Content-Type: application/json' "$KUBE_API_URL/apis/rbac.authorization.k8s.io/v1/clusterroles/warden:kube-router" --data \
      '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"warden:kube-router","labels":{"app.kubernetes.io/managed-by":"warden-kube-up"}},"rules":[{"apiGroups":[""],"resources":["pods","namespaces","nodes","services","endpoints"],"verbs":["get","list","watch"]},{"apiGroups":["networking.k8s.io"],"resources":["networkpolicies"],"verbs":["get","list","watch"]},{"apiGroups":["discovery.k8s.io"],"resources":["endpointslices"],"verbs":["get","list","watch"]}]}'
    kube_rbac_binding warden:kube-router warden:kube-router User warden:kube-router
  fi
}

# NetworkPolicy enforcement: kube-router's network policy controller only (no routing, no service
# proxy). Its chains go first in filter FORWARD/INPUT/OUTPUT; the node's own pod->host drop is in
# mangle (lib/kube/net.sh), which it cannot override.
kube_netpol() {
  [ "$KUBE_NETPOL" = kube-router ] || return 0
  # kube-router's policy controller rewrites the whole filter table on every sync (iptables-save, its
  # edits, iptables-restore without --noflush: cloudnativelabs/kube-router#1248 and #1372), so a rule
  # anyone else adds in between is lost. Docker's engine on this host uses iptables' nf_tables backend,
  # and losing a new network's rules there leaves that network's containers unreachable. So kube-router
  # gets the legacy backend: tables of its own, which the kernel evaluates beside the nf_tables ones (a
  # packet passes only when both accept, so its policies still bind the pods, and the rules of
  # kube_firewall_up still keep pods off the node).
  local bin="$KUBE_RUN/kube-router-path" t s
  mkdir -p "$bin"
  for t in iptables ip6tables; do
    for s in "" -save -restore; do ln -sfn "$(command -v "$t-legacy$s")" "$bin/$t$s"; done
  done
  (
    PATH="$bin:$PATH"
    kube_start kube-router --kubeconfig="$KUBE_CONFIGS/kube-router.kubeconfig" --hostname-override="$KUBE_NODE_NAME" \
      --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
      --health-port=0 --metrics-port=0 --iptables-sync-period=1m --service-cluster-ip-range="$KUBE_SERVICE_CIDR"
  )
  kube_wait 60 "kube-router (network policies) ready" iptables-legacy -w -S KUBE-ROUTER-FORWARD || kube_expect_running kube-router
}

kube_controllers() {
  kube_start kube-controller-manager \
    --kubeconfig="$KUBE_CONFIGS/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$KUBE_CONFIGS/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$KUBE_CONFIGS/controller-manager.kubeconfig" \
    --authentication-skip-lookup=true --bind-address=127.0.0.1 --secure-port="$KUBE_CM_PORT" --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$KUBE_PKI/sa.key" \
    --root-ca-file="$KUBE_PKI/ca.crt" --cluster-name=warden-kube --profiling=false \
    --allocate-node-cidrs=true --cluster-cidr="$KUBE_POD_CIDR" --node-cidr-mask-size="${KUBE_POD_CIDR#*/}"
  # (the node's podCIDR is the bridge's own /24: what a NetworkPolicy ipBlock names as "the pod network")
  kube_start kube-scheduler \
    --kubeconfig="$KUBE_CONFIGS/scheduler.kubeconfig" \
    --authentication-kubeconfig="$KUBE_CONFIGS/scheduler.kubeconfig" \
    --authorization-kubeconfig="$KUBE_CONFIGS/scheduler.kubeconfig" \
    --authentication-skip-lookup=true --bind-address=127.0.0.1 --secure-port="$KUBE_SCHED_PORT" \
    --leader-elect=false --profiling=false
  # their serving certificates are self-signed (made at start): /healthz is open to anyone, -k is fine
  kube_wait 60 "kube-controller-manager ready" curl -skf "https://127.0.0.1:$KUBE_CM_PORT/healthz" || kube_expect_running kube-controller-manager
  kube_wait 60 "kube-scheduler ready" curl -skf "https://127.0.0.1:$KUBE_SCHED_PORT/healthz" || kube_expect_running kube-scheduler
}

kube_kubelet() {
  mkdir -p "$KUBE_STATE/kubelet"
  kube_write "$KUBE_CONFIGS/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# listens on the bridge's address only; pods are firewalled off from it (lib/kube/net.sh)
address: $KUBE_NODE_IP
port: $KUBE_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBE_KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $KUBE_PKI/ca.crt}
authorization:
  mode: Webhook
tlsCertFile: $KUBE_PKI/kubelet-server.crt
tlsPrivateKeyFile: $KUBE_PKI/kubelet-server.key
tlsMinVersion: VersionTLS12
containerRuntimeEndpoint: unix://$KUBE_CONTAINERD_SOCK
# these machines run cgroup v1 without systemd: kubelet >= 1.35 refuses v1 unless told
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# no kube-proxy and no iptables utility chains: the node's rules are lib/kube/net.sh's alone
makeIPTablesUtilChains: false
# the pids limit is per node in Kubernetes, applied to every pod: Warden's default sandbox pids cap
podPidsLimit: 512
# Warden's images cannot be pulled again: never garbage-collect them for disk space
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1Gi
  imagefs.available: 1Gi
  nodefs.inodesFree: 1%
containerLogMaxSize: 10Mi
containerLogMaxFiles: 2
serializeImagePulls: false
staticPodPath: ""
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
EOF
  # The kubelet sets kernel tunables at start (panic_on_oops=1, panic=10, overcommit_memory=1).
  # Their values from before the first start are kept, to be restored by kube-down.
  [ -f "$KUBE_STATE/sysctl.orig" ] || sysctl -e vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes | sed 's/ = /=/' >"$KUBE_STATE/sysctl.orig"
  kube_start kubelet --config="$KUBE_CONFIGS/kubelet.yaml" --kubeconfig="$KUBE_CONFIGS/kubelet.kubeconfig" \
    --root-dir="$KUBE_STATE/kubelet" --hostname-override="$KUBE_NODE_NAME" --node-ip="$KUBE_NODE_IP"
  kube_wait 60 "kubelet ready" curl -sf "http://127.0.0.1:$KUBE_KUBELET_HEALTHZ_PORT/healthz" || kube_expect_running kubelet
  # The machine is shared: an oops must not panic it (the kubelet checks these only at its start).
  grep -E '^kernel\.panic(_on_oops)?=' "$KUBE_STATE/sysctl.orig" | xargs -r sysctl -qw
  kube_wait 90 "node $KUBE_NODE_NAME ready" kube_node_ready || kube_expect_running kubelet
}

kube_node_ready() {
  # compact JSON (curl gets pretty JSON unless told); a condition's fields come in struct order
  local node; node="$(kube_api "$KUBE_API_URL/api/v1/nodes/$KUBE_NODE_NAME?pretty=0")" || return 1
  [[ "$node" == *'"type":"Ready","status":"True"'* ]]
}

main() {
  # one kube-up or kube-down at a time (the build has its own lock in the cache)
  exec 8>"$KUBE_RUN.lock" && flock 8
  kube_packages
  kube_check_version
  kube_build
  (umask 077 && mkdir -p "$KUBE_STATE" "$KUBE_RUN") && mkdir -p "$KUBE_LOGS" "$KUBE_CONFIGS"
  kube_pki
  kube_bridge_up
  kube_firewall_up
  kube_containerd
  kube_etcd
  kube_apiserver
  kube_bootstrap_rbac
  kube_controllers
  kube_kubelet
  kube_netpol
  # pods of the default namespace need its service account, which the controller-manager makes
  kube_wait 60 "service account default/default ready" kube_api "$KUBE_API_URL/api/v1/namespaces/default/serviceaccounts/default" ||
    kube_die "the controller-manager made no default service account (log: $KUBE_LOGS/kube-controller-manager.log)"
  kube_log "cluster $KUBE_VERSION up: $KUBE_API_URL"
  echo "$KUBE_KUBECONFIG"
}

main "$@"
