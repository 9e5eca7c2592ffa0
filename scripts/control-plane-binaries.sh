#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for tests and the demo, and prints the directory holding them.
#
# Order of preference:
#   1. $KUBEBUILDER_ASSETS, when it is set and holds all three binaries (the envtest convention);
#   2. a cached build under ${SECCOMP_OPERATOR_CACHE:-~/.cache/seccomp-operator}, keyed by version;
#   3. a fresh build with the machine's Go toolchain from the Go module proxy (progress goes to stderr).
# Only the directory is printed on stdout, so callers can do: ASSETS=$(scripts/control-plane-binaries.sh)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
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

cache_root="${SECCOMP_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seccomp-operator}"
out="$cache_root/control-plane/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"
if have_all "$out"; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go toolchain not found; install Go or set KUBEBUILDER_ASSETS" >&2; exit 1; }
log() { printf '[control-plane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/cp-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out.partial"
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local

# k8s.io/kubernetes pins its staging modules to v0.0.0 with replace lines pointing into its own tree; a consumer
# must replace each one with the matching published v0.<minor>.<patch> tag.
log "resolving k8s.io/kubernetes@${K8S_VERSION} (first build: ~25 min on 2 cores, ~3 GiB of Go module and build cache)"
gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
staging_version="v0.${K8S_VERSION#v1.}"
mkdir -p "$work/k8s"
{
  echo "module local/controlplane"
  echo
  sed -n 's/^go \(.*\)$/go \1/p' "$gomod" | head -n 1
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  grep -oE '^\s*k8s\.io/[A-Za-z0-9._/-]+ => \./staging/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} >"$work/k8s/go.mod"
cat >"$work/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
(
  cd "$work/k8s"
  log "downloading modules for Kubernetes ${K8S_VERSION}"
  go mod tidy -e >/dev/null 2>&1 || true
  go mod download
  for cmd in kube-apiserver kubectl; do
    log "building ${cmd} ${K8S_VERSION}"
    go build -trimpath -ldflags "$ldflags" -o "$out.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  done
)

log "building etcd ${ETCD_VERSION}"
mkdir -p "$work/etcd"
(
  cd "$work/etcd"
  go mod init local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
  go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" go.etcd.io/etcd/server/v3
)

have_all "$out.partial"
rm -rf "$out"
mv "$out.partial" "$out"
log "binaries ready in $out ($(du -sh "$out" | cut -f1))"
echo "$out"
