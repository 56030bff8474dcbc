# shellcheck shell=bash
# Builds the cluster's binaries into $KUBE_BIN (once per version) and the pause image archive.
# Sourced by scripts/kube-up.sh after env.sh. Everything heavy runs under `nice -n 19`.
#
# Why a wrapper module: `go install k8s.io/kubernetes/cmd/...@vX` fails because that module's go.mod
# replaces every staging module (k8s.io/api, client-go, ...) with ./staging/...; replace directives of a
# dependency are ignored, so a main module of our own requires k8s.io/kubernetes and replaces each
# staging module with its published v0.X.Y of the same release. The list is read from the release's own
# go.mod, so a version bump needs no edit here. etcd is built in the same module, at the exact version
# Kubernetes' go.mod pins for its client (so no second dependency graph is compiled).
#
# The binaries: kube-apiserver, kube-controller-manager (ownerReference garbage collection, namespace
# and service-account controllers), kube-scheduler (6 packages on top of the others: costs a link),
# kubelet, etcd. Not built: kube-proxy (no Service routing; Warden reaches pods by IP or port-forward),
# kubectl (any kubectl >= 1.35 or curl works; Warden uses @kubernetes/client-node), crictl.

KUBE_BUILD_BINARIES=(kubelet kube-apiserver kube-controller-manager kube-scheduler etcd)

# A Go that can build this release: the machine's when new enough, else Debian's golang-go plus the
# toolchain the release asks for, fetched as a module through the Go module proxy (that is what
# GOTOOLCHAIN does; Debian's Go 1.19 predates GOTOOLCHAIN, so it is done by hand there).
kube_go() {
  local want="$1" go have
  go="$(command -v go || true)"
  if [ -z "$go" ]; then
    kube_log "no Go: installing Debian's golang-go"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
    go="$(command -v go)"
  fi
  have="$("$go" env GOVERSION 2>/dev/null | sed 's/^go//')"
  if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ]; then
    echo "$go"; return
  fi
  local mod="golang.org/toolchain@v0.0.1-go$want.linux-amd64" dir
  kube_log "Go $have is older than the $want this release needs: fetching $mod"
  dir="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod "$go" mod download -json "$mod" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$dir" ] || [ ! -f "$dir/bin/go" ]; then kube_die "could not fetch Go $want as $mod"; fi
  # module zips do not keep exec bits; the go command sets them when it switches toolchains itself
  chmod -R u+w "$dir" && chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
  echo "$dir/bin/go"
}

kube_build_binaries() {
  local v="${KUBE_VERSION#v}" minor src go gomod
  minor="${v#*.}"; minor="${minor%%.*}"
  src="$KUBE_BUILD/src"
  export GOMODCACHE="$KUBE_CACHE/gomod" GOCACHE="$KUBE_CACHE/gocache" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
  mkdir -p "$src/cmd/etcd" "$KUBE_BIN.partial"

  go="$(kube_go 1.21.0)"
  kube_log "fetching k8s.io/kubernetes@$KUBE_VERSION through the Go module proxy"
  gomod="$(nice -n 19 "$go" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$gomod" ] || kube_die "k8s.io/kubernetes@$KUBE_VERSION is not on the Go module proxy"
  local want_go; want_go="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  go="$(kube_go "$want_go")"

  {
    printf 'module warden.local/kube-build\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$want_go" "$KUBE_VERSION"
    sed -n '/^replace (/,/^)/p' "$gomod" | awk -v ver="v0.$minor.${v##*.}" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, ver }'
    printf ')\n'
  } >"$src/go.mod"
  cp "$(dirname "${BASH_SOURCE[0]}")/etcd-main.go" "$src/cmd/etcd/main.go"

  local pkg="k8s.io/component-base/version"
  local ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  local start=$SECONDS
  kube_log "building ${KUBE_BUILD_BINARIES[*]} (~6 min on 2 idle cores, ~20 min on busy ones; log: $KUBE_BUILD/build.log)"
  (cd "$src" && nice -n 19 "$go" build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN.partial/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ./cmd/etcd) \
    >"$KUBE_BUILD/build.log" 2>&1 || { tail -n 30 "$KUBE_BUILD/build.log" >&2; kube_die "go build failed (log: $KUBE_BUILD/build.log)"; }
  rm -rf "$KUBE_BIN" && mv "$KUBE_BIN.partial" "$KUBE_BIN"
  echo "$((SECONDS - start))" >"$KUBE_BUILD/build-seconds"
  kube_log "built in $((SECONDS - start)) s: $(du -sh "$KUBE_BIN" | cut -f1) of binaries"
}

# The pod sandbox image: a static C program packed by hand as a one-layer docker-archive that
# `ctr images import` names $KUBE_PAUSE_IMAGE (no registry, no Docker engine needed).
kube_build_pause() {
  local out="$KUBE_BUILD/pause.tar" d lsha csha
  d="$(mktemp -d)"
  nice -n 19 gcc -Os -static -s -o "$d/pause" "$(dirname "${BASH_SOURCE[0]}")/pause.c" || kube_die "cannot compile pause.c (gcc and libc6-dev needed)"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf "$d/layer.tar" pause
  lsha="$(sha256sum "$d/layer.tar" | cut -d' ' -f1)"
  printf '{"architecture":"amd64","os":"linux","config":{"User":"65535:65535","Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$lsha" >"$d/config.json"
  csha="$(sha256sum "$d/config.json" | cut -d' ' -f1)"
  mkdir "$d/$lsha" && mv "$d/layer.tar" "$d/$lsha/layer.tar" && mv "$d/config.json" "$d/$csha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$csha" "$KUBE_PAUSE_IMAGE" "$lsha" >"$d/manifest.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf "$out.partial" manifest.json "$csha.json" "$lsha/layer.tar"
  mv "$out.partial" "$out" && rm -rf "$d"
}

# kube-router's network policy controller (WARDEN_KUBE_NETPOL=kube-router): the NetworkPolicy
# enforcer of this node (the bridge CNI enforces none). Its own module: go install works as is.
kube_build_kube_router() {
  local go start=$SECONDS root="${KUBE_ROUTER_BIN%/bin/kube-router}"
  export GOMODCACHE="$KUBE_CACHE/gomod" GOCACHE="$KUBE_CACHE/gocache" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
  go="$(kube_go 1.22.0)"
  mkdir -p "$root/bin.partial"
  kube_log "building kube-router $KUBE_ROUTER_VERSION (network policy controller; ~5 min on 2 idle cores; log: $root/build.log)"
  GOBIN="$root/bin.partial" nice -n 19 "$go" install -trimpath -ldflags "-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION" >"$root/build.log" 2>&1 ||
    { tail -n 30 "$root/build.log" >&2; kube_die "building kube-router failed (log: $root/build.log)"; }
  rm -rf "${root:?}/bin" && mv "$root/bin.partial" "$root/bin"
  echo "$((SECONDS - start))" >"$root/build-seconds"
  kube_log "built kube-router in $((SECONDS - start)) s"
}

kube_build() {
  local b missing=0 built=0
  for b in "${KUBE_BUILD_BINARIES[@]}"; do [ -x "$KUBE_BIN/$b" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    mkdir -p "$KUBE_BUILD"
    exec 9>"$KUBE_CACHE/build.lock"
    flock 9 # two kube-up runs at once: the second waits and then finds the binaries
    for b in "${KUBE_BUILD_BINARIES[@]}"; do [ -x "$KUBE_BIN/$b" ] || { kube_build_binaries; built=1; break; }; done
    exec 9>&-
  fi
  if [ "$KUBE_NETPOL" = kube-router ] && [ ! -x "$KUBE_ROUTER_BIN" ]; then
    mkdir -p "${KUBE_ROUTER_BIN%/bin/kube-router}"
    exec 9>"$KUBE_CACHE/build.lock"
    flock 9
    [ -x "$KUBE_ROUTER_BIN" ] || { kube_build_kube_router; built=1; }
    exec 9>&-
  fi
  if [ "$built" = 1 ] && [ "${WARDEN_KUBE_KEEP_GO_CACHE:-0}" != 1 ]; then
    # the compiled-package cache (~4 GB) only speeds up a rebuild; the module cache is kept (~1.2 GB:
    # a rebuild then needs no download)
    rm -rf "$KUBE_CACHE/gocache"
  fi
  [ -s "$KUBE_BUILD/pause.tar" ] || kube_build_pause
}
