#!/usr/bin/env bash
# The loopback Debian mirror the seed library (lib/) is fetched from in tests, CI and `npm start`:
# every `pool/main/.../*.deb` path pinned in lib/bramble.lock (or named in lib/*.bramble) is
# downloaded with `apt-get download PKG:ARCH=VERSION` into a directory laid out like a Debian mirror
# ($BRAMBLE_DEBIAN_DIR, default /var/cache/bramble/debian), so deb.debian.org or
# snapshot.debian.org can stand in its place. Idempotent; runs as root (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR_DIR="${BRAMBLE_DEBIAN_DIR:-/var/cache/bramble/debian}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The packers test/engine/fetch.test.ts makes its archive fixtures with (the engine uses none).
fixture_tools=()
for t in zip:zip zstd:zstd xz:xz-utils; do command -v "${t%%:*}" >/dev/null || fixture_tools+=("${t#*:}"); done
if [ ${#fixture_tools[@]} -gt 0 ]; then
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${fixture_tools[@]}" >/dev/null
fi

mapfile -t paths < <(grep -rhoE 'pool/main/[a-z0-9]+/[^/" ]+/[^/" ]+\.deb' lib --include='*.bramble' --include='bramble.lock' | sort -u)
missing=()
for p in "${paths[@]}"; do [ -s "$MIRROR_DIR/$p" ] || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-seeds: all ${#paths[@]} .deb files are in $MIRROR_DIR"
  exit 0
fi

# Foreign architectures the pins name (arm64 busybox for an aarch64 userland).
for p in "${missing[@]}"; do
  arch="${p##*_}"; arch="${arch%.deb}"
  if [ "$arch" != all ] && [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    $SUDO dpkg --add-architecture "$arch"
  fi
done
$SUDO apt-get update -qq || echo "setup-seeds: apt-get update failed; trying the package lists there are" >&2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 777 "$work" # apt downloads as the _apt user
for p in "${missing[@]}"; do
  file="${p##*/}"
  pkg="${file%%_*}"
  arch="${file##*_}"; arch="${arch%.deb}"
  spec="$pkg"; [ "$arch" = all ] || spec="$pkg:$arch"
  # The version (with its epoch, which file names leave out) whose Filename is this pool path.
  version="$(apt-cache show "$spec" 2>/dev/null | awk -v want="$p" '
    /^Version: / { v = $2 } /^Filename: / { if ($2 == want) { print v; exit } }')"
  if [ -z "$version" ]; then
    echo "setup-seeds: apt knows no $spec whose file is $p" >&2
    echo "setup-seeds: (a Debian point release replaced it? bump the path in lib/*.bramble and its pin in lib/bramble.lock to what 'apt-cache show $spec' lists)" >&2
    exit 1
  fi
  echo "setup-seeds: apt-get download $spec=$version"
  (cd "$work" && apt-get download -qq "$spec=$version")
  mkdir -p "$MIRROR_DIR/${p%/*}"
  mv "$work/$(ls "$work" | grep -F "${pkg}_" | grep -F "_${arch}.deb" | head -n1)" "$MIRROR_DIR/$p.tmp"
  mv "$MIRROR_DIR/$p.tmp" "$MIRROR_DIR/$p"
done
chmod -R a+rX "$MIRROR_DIR"
echo "setup-seeds: $MIRROR_DIR has ${#paths[@]} .deb files"
