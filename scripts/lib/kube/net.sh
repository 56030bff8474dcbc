# shellcheck shell=bash
# The node's pod network: one Linux bridge ($KUBE_BRIDGE) holding the pods' /24, made here (not by the
# CNI plugin) so the node's address exists before the kubelet binds to it, and the firewall rules
# around it. Sourced by kube-up.sh and kube-down.sh after env.sh.
#
# Rules (every chain is named $KUBE_FW_TAG-*, every jump carries the comment $KUBE_FW_TAG):
#   filter FORWARD -> WARDEN-KUBE-FORWARD: pod <-> pod on the bridge accepted (Docker sets the FORWARD
#     policy to DROP, and with br_netfilter even bridged frames pass FORWARD); replies to pods
#     accepted; pods -> beyond the node only when WARDEN_KUBE_POD_EGRESS=1.
#   mangle INPUT -> WARDEN-KUBE-INPUT: nothing from a pod reaches the host itself (the kubelet API,
#     the host's services), except replies to connections the host opened. In mangle, which runs
#     before filter: a NetworkPolicy enforcer's ACCEPT in filter INPUT (kube-router accepts traffic
#     its policies allow, including pods without a policy) cannot reopen the node.
#   nat POSTROUTING -> WARDEN-KUBE-POSTROUTING: masquerade pods going beyond the node (egress=1 only).
#   ip6tables: nothing IPv6 is forwarded between pods or to the host (pods have link-local IPv6
#     addresses that the IPv4 rules would not see).

kube_fw_jump() { # binary table chain target position(-I|-A)
  local ipt="$1" table="$2" chain="$3" target="$4" how="$5"
  "$ipt" -w -t "$table" -N "$target" 2>/dev/null || "$ipt" -w -t "$table" -F "$target"
  "$ipt" -w -t "$table" -C "$chain" -m comment --comment "$KUBE_FW_TAG" -j "$target" 2>/dev/null ||
    if [ "$how" = -I ]; then "$ipt" -w -t "$table" -I "$chain" 1 -m comment --comment "$KUBE_FW_TAG" -j "$target"
    else "$ipt" -w -t "$table" -A "$chain" -m comment --comment "$KUBE_FW_TAG" -j "$target"; fi
}

kube_firewall_up() {
  local fwd="$KUBE_FW_TAG-FORWARD" in="$KUBE_FW_TAG-INPUT" post="$KUBE_FW_TAG-POSTROUTING"
  kube_fw_jump iptables filter FORWARD "$fwd" -I
  iptables -w -A "$fwd" -i "$KUBE_BRIDGE" -o "$KUBE_BRIDGE" -j ACCEPT
  iptables -w -A "$fwd" -o "$KUBE_BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  if [ "$KUBE_POD_EGRESS" = 1 ]; then iptables -w -A "$fwd" -i "$KUBE_BRIDGE" ! -o "$KUBE_BRIDGE" -j ACCEPT
  else iptables -w -A "$fwd" -i "$KUBE_BRIDGE" -j DROP; fi
  kube_fw_jump iptables mangle INPUT "$in" -I
  iptables -w -t mangle -A "$in" -i "$KUBE_BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  iptables -w -t mangle -A "$in" -i "$KUBE_BRIDGE" -j DROP
  kube_fw_jump iptables nat POSTROUTING "$post" -I
  [ "$KUBE_POD_EGRESS" != 1 ] || iptables -w -t nat -A "$post" -s "$KUBE_POD_CIDR" ! -o "$KUBE_BRIDGE" -j MASQUERADE
  if ip6tables -w -S >/dev/null 2>&1; then
    kube_fw_jump ip6tables filter FORWARD "$fwd" -I
    ip6tables -w -A "$fwd" -i "$KUBE_BRIDGE" -j DROP
    ip6tables -w -A "$fwd" -o "$KUBE_BRIDGE" -j DROP
    kube_fw_jump ip6tables filter INPUT "$in" -I
    ip6tables -w -A "$in" -i "$KUBE_BRIDGE" -j DROP
  fi
}

# Removes every jump that carries the tag and every chain named after it, in both families, both
# backends (kube-router's rules are in the legacy one, see kube_netpol) and all tables; also the chains
# of the kubelet and of kube-router (KUBE-*: nothing else on these machines makes them), then
# kube-router's ipsets.
kube_firewall_down() {
  local ipt table rule chain
  for ipt in iptables ip6tables iptables-legacy ip6tables-legacy; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    "$ipt" -w -S >/dev/null 2>&1 || continue
    for table in filter nat mangle raw; do
      { "$ipt" -w -t "$table" -S 2>/dev/null || true; } | { grep -E -- "-A [A-Z0-9_-]+ .*(--comment \"?$KUBE_FW_TAG\"?|-j ($KUBE_FW_TAG|KUBE)-)" || true; } |
        while read -r rule; do
          chain="$(echo "$rule" | awk '{print $2}')"
          case "$chain" in "$KUBE_FW_TAG"-* | KUBE-*) continue ;; esac # flushed with their chain below
          eval "$ipt -w -t $table ${rule/-A/-D}" || true
        done
      { "$ipt" -w -t "$table" -S 2>/dev/null || true; } | awk -v t="$KUBE_FW_TAG" '$1 == "-N" && (index($2, t "-") == 1 || index($2, "KUBE-") == 1) {print $2}' |
        while read -r chain; do "$ipt" -w -t "$table" -F "$chain"; done
      { "$ipt" -w -t "$table" -S 2>/dev/null || true; } | awk -v t="$KUBE_FW_TAG" '$1 == "-N" && (index($2, t "-") == 1 || index($2, "KUBE-") == 1) {print $2}' |
        while read -r chain; do "$ipt" -w -t "$table" -X "$chain"; done
    done
  done
  if command -v ipset >/dev/null 2>&1; then
    { ipset list -n 2>/dev/null || true; } | { grep -E '^(KUBE-|kube-router)' || true; } | while read -r set; do ipset destroy "$set" 2>/dev/null || true; done
  fi
}

kube_bridge_up() {
  if ! ip link show "$KUBE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$KUBE_BRIDGE" type bridge
  fi
  local addrs; addrs="$(ip -o addr show dev "$KUBE_BRIDGE")"
  [[ "$addrs" == *" $KUBE_NODE_IP/"* ]] || ip addr add "$KUBE_NODE_IP/${KUBE_POD_CIDR#*/}" dev "$KUBE_BRIDGE"
  ip link set "$KUBE_BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  # frames between two pods on the bridge must pass iptables (FORWARD): that is where NetworkPolicy
  # and the rules above act. Docker's engine turns these on too; kube-down leaves them on.
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
}

kube_bridge_down() {
  local veth
  # veths of pods whose namespace is gone vanish on their own; any still enslaved are removed here
  for veth in $(ip -o link show master "$KUBE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$veth" 2>/dev/null || true
  done
  ! ip link show "$KUBE_BRIDGE" >/dev/null 2>&1 || ip link del "$KUBE_BRIDGE"
}
