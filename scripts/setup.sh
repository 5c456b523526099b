#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test Bramble Studio.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# bubblewrap: the sandbox. chromium: the UI tests. gcc and the aarch64 cross compiler: no
# example uses them any more (examples/cross builds with the seed library's lib/cc.bramble);
# test/seeds binds a fake over them to show a build never sees the host's, and the reapi test
# still compiles its tools with them. git: fetch_git. The backends' own needs: scripts/setup-backends.sh.
# patch and openssl: setup-buildbarn.sh's (installed here so that its build can run beside the
# other steps without two apt-get at once).
APT_PACKAGES=(bubblewrap chromium fonts-liberation git gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross procps patch openssl)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Buildbarn (bb_storage, bb_scheduler, bb_worker, bb_runner) from the Go module proxy, for the
# reapi tests: several minutes of compiling on a fresh machine, so it runs beside the steps
# below (which mostly download) and is waited for at the end.
bash scripts/setup-buildbarn.sh &
buildbarn_pid=$!

# slirp4netns: a fixed-output build's own network namespace (docs/sandbox.md).
bash scripts/setup-sandbox.sh
# qemu-user with binfmt_misc, podman serving the Docker API, sshd. A backend that cannot be
# set up here must not stop everything else: its tests print why they skip.
bash scripts/setup-backends.sh || echo "setup: the backends' setup failed; their tests will say what is missing" >&2

# The loopback Debian mirror of the seed library's pinned .deb files (lib/, docs/seeds.md).
bash scripts/setup-seeds.sh
# starlark-go's `starlark` command (pinned), for the differential test of our interpreter.
bash scripts/setup-starlark.sh || echo "setup: installing starlark-go failed; the differential test will say so" >&2
# Nix (bench/nix's peer), static busybox and perl (the sandbox's store view): scripts/setup-speed.sh.
bash scripts/setup-speed.sh || echo "setup: the speed benchmarks' setup failed; bench nix will say what is missing" >&2

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

wait "$buildbarn_pid" || echo "setup: building Buildbarn failed; the reapi tests will fail saying so" >&2
