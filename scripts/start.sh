#!/usr/bin/env bash
# `npm start`: build and serve the app on the bundled example. Installs nothing: that is
# `npm run setup` (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then
  echo "node_modules is missing: run npm run setup first (it installs what this machine lacks)" >&2
  exit 1
fi
node scripts/build.mjs
# The seed library's .deb files come from the loopback mirror setup filled (docs/seeds.md),
# unless this user points mirror://debian/ elsewhere.
if [ -z "${BRAMBLE_MIRROR_DEBIAN:-}" ]; then
  mirror_out="$(mktemp)"
  node scripts/debian-mirror.mjs > "$mirror_out" &
  mirror_pid=$!
  trap 'kill "$mirror_pid" 2>/dev/null || true; rm -f "$mirror_out"' EXIT
  for _ in $(seq 50); do [ -s "$mirror_out" ] && break; sleep 0.1; done
  BRAMBLE_MIRROR_DEBIAN="$(head -n1 "$mirror_out")"
  export BRAMBLE_MIRROR_DEBIAN
  echo "start: the Debian mirror for the seed library is $BRAMBLE_MIRROR_DEBIAN"
fi
node bin/bramble.mjs serve "${1:-examples/hello}"
