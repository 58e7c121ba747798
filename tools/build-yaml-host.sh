#!/usr/bin/env bash
# Build the Pulumi YAML language host from the Go module proxy into a cache folder
# outside the repository, and install it beside the Pulumi CLI (the CLI looks for
# `pulumi-language-<runtime>` beside itself first):
#
#     BIN=$(bash tools/build-engine.sh)
#     bash tools/build-yaml-host.sh "$BIN"      # prints the host's path
#
# The version is the one pinned in tools/pulumi-language-yaml/go.mod (go.sum pins every
# dependency). Idempotent: when <cache>/<version>/pulumi-language-yaml exists and runs,
# nothing is built; installing it beside the CLI is a cheap copy done every time.
#
# Environment:
#   AMIBACKUP_YAML_CACHE    cache root (default: $HOME/.cache/amibackup/language-yaml)
#   AMIBACKUP_YAML_REBUILD  set to 1 to rebuild even if the binary is there
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod_dir=$here/pulumi-language-yaml

log() { printf 'build-yaml-host: %s\n' "$*" >&2; }
# shellcheck source=go-build.sh
. "$here/go-build.sh"

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }

version=$(awk '$1 == "require" && $2 == "github.com/pulumi/pulumi-yaml" { print $3; exit }' "$mod_dir/go.mod")
[ -n "$version" ] || { log "cannot read the pulumi-yaml version from $mod_dir/go.mod"; exit 1; }

cache_root=${AMIBACKUP_YAML_CACHE:-$HOME/.cache/amibackup/language-yaml}
out_dir=$cache_root/$version
host=$out_dir/pulumi-language-yaml
mkdir -p "$out_dir"

# The Go commands read only the module's own files; never let them edit go.mod.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"

host_ok() {
    # The host has no --version flag; it prints usage and exits non-zero without an
    # engine address, so "runs at all" is: the file is an executable ELF that starts.
    [ -x "$host" ] && { "$host" --help 2>&1 || true; } | grep -q -- '-tracing'
}

if [ "${AMIBACKUP_YAML_REBUILD:-0}" != 1 ] && host_ok; then
    log "pulumi-language-yaml $version already built in $out_dir"
else
    log "building pulumi-language-yaml $version into $out_dir (about 3 minutes on 2 cores)"
    start=$(date +%s)
    go_build_into "$mod_dir" "$host" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml \
        "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$version"
    host_ok || { log "built $host but it does not start"; exit 1; }
    log "built in $(( $(date +%s) - start ))s"
fi

if [ $# -ge 1 ] && [ -n "$1" ]; then
    install -m 0755 "$host" "$1/pulumi-language-yaml"
    printf '%s\n' "$1/pulumi-language-yaml"
else
    printf '%s\n' "$host"
fi
