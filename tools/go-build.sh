# Sourced by tools/build-engine.sh and tools/build-yaml-host.sh: one Go build into a cache.
#
#     go_build_into <module dir> <output file> <package> <ldflags> [<build tags>]
#
# Builds <package> with the module's pinned go.mod/go.sum (the caller exports
# GOFLAGS=-mod=readonly) into a temporary file beside <output>, then moves it into place,
# so an interrupted build never leaves a half-written binary where the idempotence checks
# look. The build log goes to stderr.
go_build_into() {
    local mod_dir=$1 out=$2 pkg=$3 ldflags=$4 tags=${5:-}
    local tmp="$out.tmp.$$"
    trap 'rm -f "'"$tmp"'"' EXIT
    (
        cd "$mod_dir"
        go build -trimpath ${tags:+-tags "$tags"} -ldflags "$ldflags" -o "$tmp" "$pkg"
    ) >&2
    mv -f "$tmp" "$out"
    trap - EXIT
}
