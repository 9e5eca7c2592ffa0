#!/usr/bin/env bash
# Builds the operator image from ./Dockerfile with buildah (no Docker daemon) and prints the path of an OCI archive
# that `ctr images import` reads. For the real-node tests and `seccomp-operator demo --kubelet`; users build the
# same Dockerfile with `docker build -t seccomp-operator:0.1.0 .`.
#
# Nothing here needs a container registry:
#   - base: the Dockerfile's default base (python:3.11-slim-bookworm) lives in a registry, so its PYTHON_IMAGE
#     build argument gets a Debian bookworm root filesystem made by mmdebstrap instead (Debian's own Python 3.11,
#     python3-venv, pip and libseccomp2), imported into buildah's storage as a local image;
#   - wheels: pip on the host (which reaches the package index anyway for .venv) builds the dependencies' wheels
#     into a wheelhouse; the build reads it through the Dockerfile's PIP_NO_INDEX/PIP_FIND_LINKS build arguments and
#     a read-only volume, so nothing in the build talks to the network.
#
# The archive is cached in ${SECCOMP_OPERATOR_CACHE:-~/.cache/seccomp-operator}/image/, keyed by the sha256 of the
# Dockerfile, .dockerignore, everything it lets into the build context and the base's package list: a rebuild
# happens only when one of them changes. Next to it, <archive>.json records the build time and sizes.
#
# Usage: scripts/image.sh [--rebuild]      (progress on stderr, only the archive path on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

rebuild=0
[[ "${1:-}" == "--rebuild" ]] && rebuild=1
for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (Debian package $tool; scripts/bootstrap.sh installs it as root)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "error: building the image with buildah here needs root" >&2; exit 1; }

PYTHON="${PYTHON:-.venv/bin/python}"
NAME=seccomp-operator
TAG="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)"
BASE_SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,libseccomp2
BASE_REF="localhost/seccomp-operator-base:${BASE_SUITE}"

cache_root="${SECCOMP_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seccomp-operator}"
cache="$cache_root/image"
mkdir -p "$cache"

key="$(
  {
    sha256sum Dockerfile .dockerignore pyproject.toml README.md
    find seccomp_operator -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
    echo "$BASE_SUITE $BASE_PACKAGES"
  } | sha256sum | cut -c1-16
)"
archive="$cache/${NAME}-${TAG}-${key}.oci.tar"
if [[ $rebuild -eq 0 && -s "$archive" && -s "$archive.json" ]]; then
  echo "$archive"
  exit 0
fi

# One build at a time: builds share the base and the wheelhouse.
exec 9>"$cache/.lock"
if ! flock -n 9; then
  log "waiting for another image build to finish"
  flock 9
  if [[ $rebuild -eq 0 && -s "$archive" && -s "$archive.json" ]]; then
    echo "$archive"
    exit 0
  fi
fi

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/image-build.XXXXXX")"
storage=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
  buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
  buildah "${storage[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the base ------------------------------------------------------------------------------------------------------
base_tar="$cache/base-${BASE_SUITE}-$(echo "$BASE_PACKAGES" | sha256sum | cut -c1-12).tar"
if [[ ! -s "$base_tar" ]]; then
  log "making a Debian ${BASE_SUITE} root filesystem with ${BASE_PACKAGES} (mmdebstrap)"
  mmdebstrap --quiet --format=tar --variant=essential --include="$BASE_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$BASE_SUITE" "$base_tar.partial" >&2
  mv "$base_tar.partial" "$base_tar"
fi
log "importing the base as ${BASE_REF}"
container="$(buildah "${storage[@]}" from --quiet scratch)"
buildah "${storage[@]}" add --quiet "$container" "$base_tar" / >/dev/null
buildah "${storage[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd python3 "$container"
buildah "${storage[@]}" commit --quiet --rm "$container" "$BASE_REF" >/dev/null

# --- the wheelhouse ------------------------------------------------------------------------------------------------
wheelhouse="$work/wheelhouse"
log "building the dependencies' wheels on the host"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$wheelhouse" . 'setuptools>=77' wheel >&2
rm -f "$wheelhouse"/seccomp_operator-*.whl  # the Dockerfile builds the project itself

# --- the image -----------------------------------------------------------------------------------------------------
log "building ${NAME}:${TAG} from Dockerfile (buildah bud, chroot isolation)"
buildah "${storage[@]}" bud --quiet --isolation chroot --layers=false \
  --build-arg "PYTHON_IMAGE=${BASE_REF}" \
  --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheelhouse \
  --volume "$wheelhouse:/wheelhouse:ro" \
  --tag "localhost/${NAME}:${TAG}" --file Dockerfile . >/dev/null
rm -f "$archive.partial"
# The name a kubelet asks for is `seccomp-operator:0.1.0`, which the CRI normalises to docker.io/library/...; the
# archive carries that full name, so `ctr images import` keeps it.
buildah "${storage[@]}" push --quiet "localhost/${NAME}:${TAG}" \
  "oci-archive:$archive.partial:docker.io/library/${NAME}:${TAG}" >&2
mv "$archive.partial" "$archive"
seconds=$((SECONDS - started))
archive_bytes="$(stat -c %s "$archive")"
# What the image takes once unpacked on a node: the sum of its layers, uncompressed.
unpacked="$(
  python3 - "$archive" <<'PY'
import gzip, json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    blob = lambda digest: tar.extractfile("blobs/sha256/" + digest.split(":")[1]).read()
    manifest = json.loads(blob(json.loads(tar.extractfile("index.json").read())["manifests"][0]["digest"]))
    print(sum(len(gzip.decompress(blob(layer["digest"]))) for layer in manifest["layers"]))
PY
)"
printf '{"image": "%s:%s", "archive": "%s", "archive_bytes": %s, "unpacked_bytes": %s, "build_seconds": %s, "load": "%s"}\n' \
  "$NAME" "$TAG" "$(basename "$archive")" "$archive_bytes" "${unpacked:-0}" "$seconds" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" >"$archive.json"
# Older archives of this image are of no further use.
find "$cache" -maxdepth 1 -name "${NAME}-*.oci.tar*" ! -name "$(basename "$archive")*" -delete
log "built in ${seconds} s: $(numfmt --to=iec "$archive_bytes") archive, $(numfmt --to=iec "$unpacked") unpacked ($archive)"
echo "$archive"
