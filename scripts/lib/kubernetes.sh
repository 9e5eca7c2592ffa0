# Sourced by control-plane-binaries.sh and node-binaries.sh: the Kubernetes version, the cache location, a lock that
# keeps concurrent builds out of each other's way, and a build of commands from the k8s.io/kubernetes module.
# shellcheck shell=bash

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
cache_root="${SECCOMP_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seccomp-operator}"

# Holds the build lock on fd 9 until the calling script exits. Builds share the Go module and build caches and would
# otherwise fight over the CPUs, and two writers of one output directory would move it from under each other.
take_build_lock() {
  mkdir -p "$cache_root"
  exec 9>"$cache_root/.build.lock"
  if ! flock -n 9; then
    log "waiting for another build of binaries on this machine to finish (lock $cache_root/.build.lock)"
    flock 9
  fi
}

# build_kubernetes_commands OUT_DIR CMD...: builds k8s.io/kubernetes/cmd/<CMD> at $K8S_VERSION into OUT_DIR with the
# machine's Go toolchain and the Go module proxy (progress on stderr).
# A subshell function: its EXIT trap removes the work directory however the build ends.
build_kubernetes_commands() (
  set -euo pipefail
  local out="$1" cmd pkg minor gomod staging_version work ldflags
  shift
  command -v go >/dev/null || { echo "error: Go toolchain not found" >&2; exit 1; }
  work="$(mktemp -d "${TMPDIR:-/tmp}/k8s-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
  # k8s.io/kubernetes pins its staging modules to v0.0.0 with replace lines pointing into its own tree; a consumer
  # must replace each one with the matching published v0.<minor>.<patch> tag.
  log "resolving k8s.io/kubernetes@${K8S_VERSION}"
  gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module local/kubernetes"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$gomod" | head -n 1
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    grep -oE '^\s*k8s\.io/[A-Za-z0-9._/-]+ => \./staging/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >"$work/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
    printf ')\n'
  } >"$work/tools.go"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  cd "$work"
  log "downloading modules for Kubernetes ${K8S_VERSION}"
  go mod tidy -e >/dev/null 2>&1 || true
  go mod download
  for cmd in "$@"; do
    log "building ${cmd} ${K8S_VERSION}"
    go build -trimpath -ldflags "$ldflags" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  done
)
