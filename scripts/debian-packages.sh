#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (as root, with apt-get); progress on
# stderr. Exits 1 without installing anything when not root or without apt-get, so callers can say what is missing.
set -euo pipefail
[[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null || exit 1
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  printf '[packages] installing Debian packages: %s\n' "${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
