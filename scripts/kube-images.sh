#!/usr/bin/env bash
# Loads images from Docker into Warden's local cluster (scripts/kube-up.sh), skipping those already
# there. With no argument: Warden's own images for WARDEN_IMAGE_TAG (default latest) that Docker has.
#   WARDEN_IMAGE_TAG=kube node bin/warden.js images build --offline && bash scripts/kube-images.sh
#   bash scripts/kube-images.sh warden-sandbox:kube my/tool:1.2
# Prints the containerd names of the images loaded, one a line (the names pods use, with
# imagePullPolicy: Never).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/kube/env.sh
. "$here/lib/kube/env.sh"
# shellcheck source=lib/kube/images.sh
. "$here/lib/kube/images.sh"

refs=("$@")
if [ "${#refs[@]}" -eq 0 ]; then
  tag="${WARDEN_IMAGE_TAG:-latest}"
  for image in warden-sandbox warden-egress warden-agents warden-react-vite; do
    docker image inspect "$image:$tag" >/dev/null 2>&1 && refs+=("$image:$tag")
  done
  [ "${#refs[@]}" -gt 0 ] || kube_die "Docker has none of Warden's images tagged $tag: build them first (WARDEN_IMAGE_TAG=$tag node bin/warden.js images build --offline)"
fi
kube_load_images "${refs[@]}"
for ref in "${refs[@]}"; do kube_image_name "$ref"; done
