#!/usr/bin/env bash
# `npm start`: set up what is missing, build, and serve the app on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
exec node bin/bramble.mjs serve "${1:-examples/hello}"
