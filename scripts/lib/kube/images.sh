# shellcheck shell=bash
# Loading images into the cluster's containerd (sourced after env.sh). The node pulls nothing: every
# image a pod names must already be in containerd's k8s.io namespace, and pods use
# imagePullPolicy: Never. Docker's image names map to containerd's normalized ones
# (warden-sandbox:kube -> docker.io/library/warden-sandbox:kube), which is also how the kubelet
# resolves a pod's `image: warden-sandbox:kube`.

kube_image_name() { # docker ref -> containerd's normalized name
  local ref="$1" first="${1%%/*}"
  [[ "$ref" == *:* || "$ref" == *@* ]] || ref="$ref:latest"
  if [[ "$ref" != */* ]]; then echo "docker.io/library/$ref"
  elif [[ "$first" == *.* || "$first" == *:* || "$first" == localhost ]]; then echo "$ref"
  else echo "docker.io/$ref"; fi
}

# kube_load_images REF...: `docker save REF | ctr -n k8s.io images import`, skipped when containerd
# already holds that exact image (it is labelled with the Docker image id it was saved from).
kube_load_images() {
  local ref id name
  kube_ctr version >/dev/null 2>&1 || kube_die "the cluster's containerd does not answer at $KUBE_CONTAINERD_SOCK: run scripts/kube-up.sh"
  for ref in "$@"; do
    id="$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null)" ||
      kube_die "Docker has no image $ref: build it first (WARDEN_IMAGE_TAG=<tag> node bin/warden.js images build --offline)"
    id="${id#sha256:}"
    name="$(kube_image_name "$ref")"
    if [ -n "$(kube_ctr images ls -q "name==$name,labels.\"warden.docker-id\"==$id")" ]; then
      kube_log "$name is up to date"
      continue
    fi
    kube_log "loading $ref into the cluster as $name"
    docker save "$ref" | kube_ctr images import - >/dev/null
    kube_ctr images label "$name" "warden.docker-id=$id" >/dev/null
  done
}
