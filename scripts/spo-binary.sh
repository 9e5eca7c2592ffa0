#!/usr/bin/env bash
# Provides security-profiles-operator (SPO), the peer that `make bench` measures beside seccomp-operator, and prints
# the directory holding it. Nothing of SPO is committed to this repository: the binary is built here from the Go
# module proxy, and its CRDs are read at run time from the module in the Go module cache.
#
# The printed directory holds:
#   security-profiles-operator   the one binary (manager, daemon, ... subcommands)
#   module-dir                   the module's directory in the Go module cache (CRDs under deploy/base-crds/crds)
#
# Order of preference:
#   1. a cached build under ${SECCOMP_OPERATOR_CACHE:-~/.cache/seccomp-operator}/spo-<version>/;
#   2. a fresh build with the machine's Go toolchain (~5 min and ~1.7 GB of memory on 2 cores from a cold build
#      cache; progress on stderr).
# Only the directory is printed on stdout, so callers can do: SPO=$(scripts/spo-binary.sh)
set -euo pipefail

SPO_VERSION="${SPO_VERSION:-v1.0.0}"
SPO_MODULE=sigs.k8s.io/security-profiles-operator
# Pulled in through sigstore; the version SPO's go.sum names is not served, the next release is.
BOULDER_REPLACEMENT=v0.20260309.0
# libseccomp-dev to build (the daemon links libseccomp); socat to run the daemons, each in its own network
# namespace, against the API server on the host's loopback.
DEBIAN_PACKAGES=(libseccomp-dev socat)

log() { printf '[spo %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

"$(dirname "$0")/debian-packages.sh" "${DEBIAN_PACKAGES[@]}" || true  # checked one by one below
command -v socat >/dev/null || { echo "error: socat is needed to run SPO's daemons (apt-get install socat)" >&2; exit 1; }
command -v go >/dev/null || { echo "error: Go toolchain not found; needed to build SPO" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

cache_root="${SECCOMP_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seccomp-operator}"
out="$cache_root/spo-${SPO_VERSION}"

module_json() {
  # `go mod download mod@version` works outside any module; run it in an empty directory all the same.
  local empty
  empty="$(mktemp -d "${TMPDIR:-/tmp}/spo-mod.XXXXXX")"
  (cd "$empty" && go mod download -json "${SPO_MODULE}@${SPO_VERSION}")
  rmdir "$empty"
}
json_field() { sed -n "s/^\s*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n 1; }

if [[ -x "$out/security-profiles-operator" ]]; then
  # The binary stays; the module cache may have been cleaned since (go clean -modcache): fetch the module again.
  if [[ ! -d "$(cat "$out/module-dir" 2>/dev/null)/deploy/base-crds/crds" ]]; then
    log "re-downloading ${SPO_MODULE}@${SPO_VERSION} for its CRDs"
    module_json | json_field Dir >"$out/module-dir"
  fi
  echo "$out"
  exit 0
fi

pkg-config --exists libseccomp 2>/dev/null || [[ -f /usr/include/seccomp.h ]] ||
  { echo "error: libseccomp headers not found (apt-get install libseccomp-dev)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/spo-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "downloading ${SPO_MODULE}@${SPO_VERSION}"
info="$(module_json)"
dir="$(json_field Dir <<<"$info")"
gomod="$(json_field GoMod <<<"$info")"
[[ -d "$dir" && -f "$gomod" ]] || { echo "error: go mod download gave no module directory" >&2; exit 1; }

# A throw-away main module that requires SPO. `go install mod@version` cannot be used: it reads the module's version
# list, which the proxy refuses for this module. SPO's own go.sum comes along: checksum look-ups of a few of its
# dependencies fail otherwise.
{
  echo "module local/spo-build"
  echo
  sed -n 's/^go \(.*\)$/go \1/p' "$gomod" | head -n 1
  echo
  echo "require ${SPO_MODULE} ${SPO_VERSION}"
  echo
  echo "replace github.com/letsencrypt/boulder => github.com/letsencrypt/boulder ${BOULDER_REPLACEMENT}"
} >"$work/go.mod"
cp "$dir/go.sum" "$work/go.sum"
chmod u+w "$work/go.sum"

rm -rf "$out.partial"
mkdir -p "$out.partial"
log "building ${SPO_MODULE}/cmd/security-profiles-operator ${SPO_VERSION} (~5 min on 2 cores from a cold build cache)"
# The tags of SPO's own release build minus AppArmor and BPF (neither is measured); seccomp needs cgo + libseccomp.
(
  cd "$work"
  GONOSUMDB=github.com/letsencrypt/boulder CGO_ENABLED=1 CGO_LDFLAGS=-lseccomp \
    go build -trimpath -tags 'netgo osusergo seccomp no_bpf' -ldflags '-s -w' \
    -o "$out.partial/security-profiles-operator" "${SPO_MODULE}/cmd/security-profiles-operator"
)
echo "$dir" >"$out.partial/module-dir"
"$out.partial/security-profiles-operator" --help >/dev/null
rm -rf "$out"
mv "$out.partial" "$out"
log "security-profiles-operator ready in $out ($(du -sh "$out/security-profiles-operator" | cut -f1))"
echo "$out"
