#!/usr/bin/env bash
# Installs the reference Starlark interpreter (starlark-go's `starlark` command) at a pinned
# version, for the differential test (test/starlark/differential.test.ts). Needs Go and the
# Go module proxy; without Go it says so and stops (the test then skips with that message).
# Safe to run again: it does nothing when the binary is already there.
set -euo pipefail
VERSION="v0.0.0-20260908191801-89a6a09411d5"
DEST="${STARLARK_GO_DIR:-/opt/starlark-go/$VERSION}"
if [ -x "$DEST/starlark" ]; then exit 0; fi
GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
if [ -z "$GO" ]; then
  echo "setup-starlark: Go is absent; the differential test against starlark-go will skip" >&2
  exit 0
fi
mkdir -p "$DEST"
echo "setup-starlark: go install go.starlark.net/cmd/starlark@$VERSION"
GOBIN="$DEST" GOFLAGS=-buildvcs=false "$GO" install "go.starlark.net/cmd/starlark@$VERSION"
