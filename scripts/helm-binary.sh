#!/usr/bin/env bash
# Provides the helm binary for tests that render charts/seccomp-operator, and prints its path.
#
# Order of preference:
#   1. $HELM, when it points at an executable;
#   2. a cached build under ${SECCOMP_OPERATOR_CACHE:-~/.cache/seccomp-operator}/helm-<version>/;
#   3. a fresh build with the machine's Go toolchain from the Go module proxy (~2 min on 2 cores; progress on
#      stderr). Debian bookworm ships no helm package and PyPI's "helm" is an unrelated project.
# Only the path is printed on stdout, so callers can do: HELM=$(scripts/helm-binary.sh)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"

if [[ -n "${HELM:-}" && -x "${HELM}" ]]; then
  echo "$HELM"
  exit 0
fi

cache_root="${SECCOMP_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seccomp-operator}"
out="$cache_root/helm-${HELM_VERSION}"
if [[ -x "$out/helm" ]]; then
  echo "$out/helm"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go toolchain not found; install Go or set HELM" >&2; exit 1; }
log() { printf '[helm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

rm -rf "$out.partial"
mkdir -p "$out.partial"
log "building helm ${HELM_VERSION} from the Go module proxy"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=local
# Like helm's own Makefile: the default Kubernetes version of `helm template` and `helm lint` is the minor of the
# k8s.io/client-go it is built with (without this it would be v1.20, older than the chart's kubeVersion).
gomod="$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
k8s_minor="$(sed -n 's/^\s*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -n 1)"
[[ -n "$k8s_minor" ]] || { echo "error: cannot read the k8s.io/client-go version from $gomod" >&2; exit 1; }
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done
# `go install pkg@version` builds outside any module, so no go.mod of this repo plays a part.
GOBIN="$out.partial" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
"$out.partial/helm" version --short >&2
rm -rf "$out"
mv "$out.partial" "$out"
log "helm ready in $out"
echo "$out/helm"
