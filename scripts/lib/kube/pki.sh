# shellcheck shell=bash
# The cluster's certificates and kubeconfigs (ECDSA P-256, one CA, 10 years: a local test cluster).
# Sourced by scripts/kube-up.sh after env.sh. Made once; made again when an address in them changes.
#
# Identities (who may do what is RBAC's job, set up by kube_bootstrap_rbac in kube-up.sh):
#   super-admin         O=system:masters: only the scripts use it (bootstrap, teardown)
#   admin               CN=warden, O=warden:cluster-admins: the kubeconfig kube-up prints; its rights
#                       come from an RBAC binding to cluster-admin, so they can be narrowed or revoked
#   kube-controller-manager, kube-scheduler, system:node:<node> (Node authorizer + NodeRestriction)
#   apiserver-kubelet-client  the apiserver's identity towards the kubelet (exec, logs, port-forward)
#   warden:kube-router  the network policy controller: reads pods, namespaces, nodes, policies

kube_pki_cert() { # name subject eku(clientAuth|serverAuth) [subjectAltName]
  local name="$1" subj="$2" eku="$3" san="${4:-}" ext
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KUBE_PKI/$name.key" 2>/dev/null
  ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku"
  [ -z "$san" ] || ext="$ext
subjectAltName=$san"
  openssl req -new -key "$KUBE_PKI/$name.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$KUBE_PKI/ca.crt" -CAkey "$KUBE_PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -extfile <(printf '%s\n' "$ext") -out "$KUBE_PKI/$name.crt" 2>/dev/null
}

kube_kubeconfig() { # file user cert-name
  local file="$1" user="$2" cert="$3"
  (umask 077 && cat >"$file.partial" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: warden-kube
  cluster:
    server: $KUBE_API_URL
    certificate-authority-data: $(base64 -w0 <"$KUBE_PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$KUBE_PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$KUBE_PKI/$cert.key")
contexts:
- name: warden-kube
  context:
    cluster: warden-kube
    user: $user
current-context: warden-kube
EOF
  )
  chmod 0600 "$file.partial" && mv "$file.partial" "$file"
}

kube_pki() {
  local stamp="v2 node=$KUBE_NODE_NAME ip=$KUBE_NODE_IP svc=$KUBE_SERVICE_IP api=$KUBE_API_PORT"
  if [ -f "$KUBE_PKI/stamp" ] && [ "$(cat "$KUBE_PKI/stamp")" = "$stamp" ] && [ -f "$KUBE_KUBECONFIG" ]; then return; fi
  kube_log "making certificates and kubeconfigs ($KUBE_PKI)"
  rm -rf "$KUBE_PKI" && (umask 077 && mkdir -p "$KUBE_PKI" "$KUBE_CONFIGS")
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KUBE_PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$KUBE_PKI/ca.key" -subj "/CN=warden-kube-ca" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$KUBE_PKI/ca.crt" 2>/dev/null
  kube_pki_cert etcd-server "/CN=warden-kube-etcd" serverAuth "IP:127.0.0.1,DNS:localhost"
  kube_pki_cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client" clientAuth
  kube_pki_cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$KUBE_SERVICE_IP,IP:$KUBE_NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  kube_pki_cert apiserver-kubelet-client "/O=warden:kubelet-api/CN=kube-apiserver-kubelet-client" clientAuth
  kube_pki_cert super-admin "/O=system:masters/CN=warden-kube-super-admin" clientAuth
  kube_pki_cert admin "/O=warden:cluster-admins/CN=warden" clientAuth
  kube_pki_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  kube_pki_cert scheduler "/CN=system:kube-scheduler" clientAuth
  kube_pki_cert kubelet "/O=system:nodes/CN=system:node:$KUBE_NODE_NAME" clientAuth
  kube_pki_cert kube-router "/CN=warden:kube-router" clientAuth
  kube_pki_cert kubelet-server "/CN=system:node:$KUBE_NODE_NAME" serverAuth "IP:$KUBE_NODE_IP,DNS:$KUBE_NODE_NAME"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KUBE_PKI/sa.key" 2>/dev/null
  openssl pkey -in "$KUBE_PKI/sa.key" -pubout -out "$KUBE_PKI/sa.pub" 2>/dev/null
  kube_kubeconfig "$KUBE_CONFIGS/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  kube_kubeconfig "$KUBE_CONFIGS/scheduler.kubeconfig" system:kube-scheduler scheduler
  kube_kubeconfig "$KUBE_CONFIGS/kubelet.kubeconfig" "system:node:$KUBE_NODE_NAME" kubelet
  kube_kubeconfig "$KUBE_CONFIGS/kube-router.kubeconfig" warden:kube-router kube-router
  kube_kubeconfig "$KUBE_CONFIGS/super-admin.kubeconfig" warden-kube-super-admin super-admin
  kube_kubeconfig "$KUBE_KUBECONFIG" warden admin
  chmod 0600 "$KUBE_PKI"/*
  echo "$stamp" >"$KUBE_PKI/stamp"
}
