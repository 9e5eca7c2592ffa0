#!/usr/bin/env bash
# Makes a fresh machine ready: Debian packages (when root), the virtual environment, the control-plane and node
# binaries. Idempotent and quiet when everything is already there. Prints the control-plane binary directory last.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real node (tests/node, `demo --kubelet`) adds: CNI plugins for Pod networking, nftables for kube-proxy,
# buildah and mmdebstrap to build the image from the Dockerfile without a Docker daemon or a registry, openssl for
# the webhook certificate recipe of manifests/README.md, util-linux for setpriv/unshare/nsenter.
DEBIAN_PACKAGES=(libseccomp2 runc containerd busybox-static iproute2 gcc libc6-dev
  containernetworking-plugins nftables buildah mmdebstrap openssl util-linux)
log() { printf '[bootstrap] %s\n' "$*" >&2; }

scripts/debian-packages.sh "${DEBIAN_PACKAGES[@]}" ||
  log "not root: skipping Debian packages (${DEBIAN_PACKAGES[*]}); runtime tests will be skipped"

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  log "creating virtual environment .venv"
  [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[dev]' >&2
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# helm renders charts/ in the deploy tests; built once from the Go module proxy like the control plane.
scripts/helm-binary.sh >/dev/null
# kubelet, kube-controller-manager, kube-scheduler and kube-proxy for the real node; built after the control plane,
# whose build warms the Go caches they share.
assets="$(scripts/control-plane-binaries.sh)"
if [[ $(id -u) -eq 0 ]]; then
  scripts/node-binaries.sh >/dev/null
else
  log "not root: skipping the node binaries; the real-node tests will be skipped"
fi
echo "$assets"
