#!/usr/bin/env bash
# Build tools/sdkgen (our SDK generator on Pulumi's code generators, pinned in
# tools/sdkgen/go.mod at the engine's version) into a cache folder outside the repository,
# and print the binary's path on stdout:
#
#     SDKGEN=$(bash tools/build-sdkgen.sh)
#     "$SDKGEN" -schema schema/schema.json -out sdk
#
# Idempotent: the cache folder is named by the pinned version and a hash of the tool's
# sources (main.go, go.mod, go.sum), so a change rebuilds and an unchanged tool is reused.
# It shares the Go module and build caches with tools/build-engine.sh: once the engine is
# built, the codegen packages are mostly compiled already.
#
# Environment:
#   AMIBACKUP_SDKGEN_CACHE  cache root (default: $HOME/.cache/amibackup/sdkgen)
# Progress goes to stderr; only the binary's path goes to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod_dir=$here/sdkgen
log() { printf 'build-sdkgen: %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }
version=$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2; exit }' "$mod_dir/go.mod")
engine_version=$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2; exit }' \
    "$here/pulumi-engine/go.mod")
if [ "$version" != "$engine_version" ]; then
    log "tools/sdkgen/go.mod pins pkg/v3 $version but the engine is $engine_version: they must match"
    exit 1
fi
sum=$(cat "$mod_dir/main.go" "$mod_dir/go.mod" "$mod_dir/go.sum" | sha256sum | cut -c1-12)
out_dir=${AMIBACKUP_SDKGEN_CACHE:-$HOME/.cache/amibackup/sdkgen}/$version-$sum
bin=$out_dir/sdkgen

if [ -x "$bin" ]; then
    log "sdkgen ($version, sources $sum) already built"
else
    mkdir -p "$out_dir"
    log "building sdkgen ($version) into $out_dir"
    start=$(date +%s)
    tmp="$out_dir/.sdkgen.tmp.$$"
    trap 'rm -f "$tmp"' EXIT
    (cd "$mod_dir" && GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly" \
        go build -trimpath -ldflags "-s -w" -o "$tmp" .) >&2
    mv -f "$tmp" "$bin"
    trap - EXIT
    log "built in $(( $(date +%s) - start ))s"
fi
printf '%s\n' "$bin"
