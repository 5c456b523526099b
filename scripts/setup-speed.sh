#!/usr/bin/env bash
# What `npm run bench -- build|nix|startup|starlark` needs beyond the base setup:
# Debian's Nix (nix-bin 2.8, run daemonless by bench/nix against a store on tmpfs),
# static busybox (the one tool every benchmark derivation uses, in both systems), python3
# (the Starlark bench's peer) and perl (the sandbox's store-view helper, perl-base is
# essential on Debian but named here so a trimmed image gets it).
# Idempotent; runs as root (or through sudo).
set -euo pipefail
PACKAGES=(nix-bin busybox-static python3 perl-base)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-speed: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
