#!/usr/bin/env bash
# Builds the Buildbarn servers the reapi tests run against (bb_storage, bb_scheduler,
# bb_worker, bb_runner) from the Go module proxy, at the versions pinned by the tools module
# test/reapi/buildbarn/go.mod (+ go.sum), into $BUILDBARN_BIN (default
# /opt/bramble/buildbarn/bin). Their configs are test fixtures (test/reapi/buildbarn/config);
# test/reapi/cluster.ts starts them on loopback. Also puts the REAPI .proto files the reapi
# backend loads into dist/reapi-protos (scripts/reapi-protos.mjs).
#
# Buildbarn builds with Bazel, which patches a few dependencies (MODULE.bazel's
# module_override). Plain `go build` needs the same patches: they ship inside the pinned
# bb-storage and bb-remote-execution modules, and are applied here to copies of the patched
# modules under $BUILDBARN_SRC, wired in with replace directives in a generated -modfile.
#
# Safe to run again: it does nothing when the binaries were built from the same go.mod/go.sum.
# Needs Go (1.23+) and the Go module proxy. Build time on this 2-core machine with an empty
# Go build cache: 16 minutes wall clock at nice 19 while other work kept the load at ~17
# (measured 2026-12-01); ~20 s when only the link step is left.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/reapi-protos.mjs || echo "setup-buildbarn: no REAPI protos in dist/ (the reapi backend will say so)" >&2
MOD="$PWD/test/reapi/buildbarn"
DEST="${BUILDBARN_BIN:-/opt/bramble/buildbarn/bin}"
SRC="${BUILDBARN_SRC:-/opt/bramble/buildbarn/src}"
GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
if [ -z "$GO" ]; then
  echo "setup-buildbarn: Go is absent; the reapi tests cannot run without a Buildbarn cluster" >&2
  exit 1
fi
stamp="$(cat "$MOD/go.mod" "$MOD/go.sum" "$0" | sha256sum | cut -c1-64)"
if [ -f "$DEST/.stamp" ] && [ "$(cat "$DEST/.stamp")" = "$stamp" ] \
  && [ -x "$DEST/bb_storage" ] && [ -x "$DEST/bb_scheduler" ] && [ -x "$DEST/bb_worker" ] && [ -x "$DEST/bb_runner" ]; then
  exit 0
fi
# patch: for the dependencies' patches; openssl: the tests' TLS certificate.
missing=""
for t in patch openssl; do command -v $t >/dev/null || missing="$missing $t"; done
[ -z "$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
# Buildbarn's pseudo-versions are served by the proxy but not by its checksum database:
# the committed go.sum pins their hashes instead.
export GONOSUMDB=github.com/buildbarn GOFLAGS="-buildvcs=false"
cd "$MOD"
"$GO" mod download
dir_of() { "$GO" list -m -f '{{.Dir}}' "$1"; }
BB_STORAGE="$(dir_of github.com/buildbarn/bb-storage)"
BB_RE="$(dir_of github.com/buildbarn/bb-remote-execution)"
rm -rf "$SRC"
mkdir -p "$SRC" "$DEST"
cp go.mod "$SRC/build.mod"
cp go.sum "$SRC/build.sum"
# module  patch files (relative to the module that ships them)
patched() {
  local module="$1"; shift
  local copy="$SRC/$(echo "$module" | tr '/.' '__')"
  cp -r "$(dir_of "$module")" "$copy"
  chmod -R u+w "$copy"
  for p in "$@"; do patch -d "$copy" -p0 -s --batch --forward < "$p"; done
  # A pre-modules dependency (no go.mod) needs one to be a replacement directory.
  [ -f "$copy/go.mod" ] || echo "module $module" > "$copy/go.mod"
  echo "replace $module => $copy" >> "$SRC/build.mod"
}
patched github.com/hanwen/go-fuse/v2 \
  "$BB_RE/patches/com_github_hanwen_go_fuse_v2/direntrylist-offsets-and-testability.diff" \
  "$BB_RE/patches/com_github_hanwen_go_fuse_v2/writeback-cache.diff" \
  "$BB_RE/patches/com_github_hanwen_go_fuse_v2/notify-testability.diff"
patched google.golang.org/genproto/googleapis/bytestream \
  "$BB_STORAGE/patches/org_golang_google_genproto_googleapis_bytestream/service-registrar.diff"
patched github.com/grpc-ecosystem/go-grpc-prometheus \
  "$BB_STORAGE/patches/com_github_grpc_ecosystem_go_grpc_prometheus/client-metrics-prevent-handled-twice.diff"
patched golang.org/x/oauth2 \
  "$BB_STORAGE/patches/org_golang_x_oauth2/injectable-clock.diff"
echo "setup-buildbarn: go build bb_storage bb_scheduler bb_worker bb_runner (several minutes)"
start=$(date +%s)
"$GO" build -modfile="$SRC/build.mod" -p 2 -trimpath -o "$DEST/" tool
echo "$stamp" > "$DEST/.stamp"
echo "setup-buildbarn: built in $(( $(date +%s) - start )) s"
