#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for tests and the demo, and prints the directory holding them.
#
# Order of preference:
#   1. $KUBEBUILDER_ASSETS, when it is set and holds all three binaries (the envtest convention);
#   2. a cached build under ${SECCOMP_OPERATOR_CACHE:-~/.cache/seccomp-operator}, keyed by version;
#   3. a fresh build with the machine's Go toolchain from the Go module proxy (progress goes to stderr). Concurrent
#      callers wait for one build (a lock in the cache directory) instead of racing it.
# Only the directory is printed on stdout, so callers can do: ASSETS=$(scripts/control-plane-binaries.sh)
set -euo pipefail

log() { printf '[control-plane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=lib/kubernetes.sh
source "$(dirname "$0")/lib/kubernetes.sh"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
BINARIES=(kube-apiserver etcd kubectl)

have_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

out="$cache_root/control-plane/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"
if have_all "$out"; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go toolchain not found; install Go or set KUBEBUILDER_ASSETS" >&2; exit 1; }
take_build_lock
if have_all "$out"; then  # built by whoever held the lock before us
  echo "$out"
  exit 0
fi
log "first build: ~8 min on 2 cores, ~4 GiB of Go module and build cache"
rm -rf "$out.partial"
mkdir -p "$out.partial"
build_kubernetes_commands "$out.partial" kube-apiserver kubectl

log "building etcd ${ETCD_VERSION}"
work="$(mktemp -d "${TMPDIR:-/tmp}/etcd-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
  go mod init local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
  go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" go.etcd.io/etcd/server/v3
)

have_all "$out.partial"
rm -rf "$out"
mv "$out.partial" "$out"
log "binaries ready in $out ($(du -sh "$out" | cut -f1))"
echo "$out"
