#!/usr/bin/env bash
# Provides what a real node needs besides the control plane (kubelet, kube-controller-manager, kube-scheduler and
# kube-proxy, at the Kubernetes version of scripts/lib/kubernetes.sh), and prints the directory holding them.
#
# Order of preference:
#   1. $SECCOMP_OPERATOR_NODE_BINARIES, when set (it must then hold all four: a wrong setting fails, it never
#      falls back to a build);
#   2. $KUBEBUILDER_ASSETS, when it holds all four;
#   3. a cached build under ${SECCOMP_OPERATOR_CACHE:-~/.cache}/seccomp-operator/node/k8s-<version>;
#   4. a fresh build from the same k8s.io/kubernetes module as kube-apiserver (scripts/control-plane-binaries.sh),
#      with the machine's Go toolchain; with that build's Go caches warm it takes about 6 minutes on 2 cores.
# Only the directory is printed on stdout, so callers can do: NODE=$(scripts/node-binaries.sh)
set -euo pipefail

log() { printf '[node-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=lib/kubernetes.sh
source "$(dirname "$0")/lib/kubernetes.sh"
BINARIES=(kubelet kube-controller-manager kube-scheduler kube-proxy)

have_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

if [[ -n "${SECCOMP_OPERATOR_NODE_BINARIES:-}" ]]; then
  have_all "$SECCOMP_OPERATOR_NODE_BINARIES" || {
    echo "error: SECCOMP_OPERATOR_NODE_BINARIES=$SECCOMP_OPERATOR_NODE_BINARIES does not hold all of ${BINARIES[*]}" >&2
    exit 1
  }
  echo "$SECCOMP_OPERATOR_NODE_BINARIES"
  exit 0
fi
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

out="$cache_root/node/k8s-${K8S_VERSION}"
if have_all "$out"; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || {
  echo "error: Go toolchain not found; install Go or set SECCOMP_OPERATOR_NODE_BINARIES" >&2
  exit 1
}
take_build_lock
if have_all "$out"; then
  echo "$out"
  exit 0
fi
started=$SECONDS
rm -rf "$out.partial"
mkdir -p "$out.partial"
build_kubernetes_commands "$out.partial" "${BINARIES[@]}"
have_all "$out.partial"
rm -rf "$out"
mv "$out.partial" "$out"
log "binaries ready in $out ($(du -sh "$out" | cut -f1), built in $((SECONDS - started)) s)"
echo "$out"
