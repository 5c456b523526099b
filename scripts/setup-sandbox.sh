#!/usr/bin/env bash
# What the build sandbox needs beyond bubblewrap (scripts/setup.sh installs that):
#   slirp4netns  a fixed-output build's network namespace of its own, joined to the outside by
#                user-mode NAT (docs/sandbox.md): never the host's network, its loopback or its
#                abstract unix sockets. Debian's package; a networked build fails without it.
#   iptables     the rules loaded into that namespace (iptables-restore, entered with nsenter)
#                that reject every address of this host but a configured mirror's
#                (core/builders/build-network.ts); a networked build fails without it.
#   iproute2     `ip`: the network tests' other machine, a network namespace behind a veth pair
#                (test/helpers/outside-host.ts).
# Safe to run again: installs only what is missing. Runs as root (or with sudo).
set -euo pipefail
PACKAGES=(slirp4netns iptables iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-sandbox: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
