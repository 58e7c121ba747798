#!/usr/bin/env bash
# Build the real Pulumi CLI engine from the Go module proxy, into a cache
# folder outside the repository, and print that folder's bin/ on stdout:
#
#     BIN=$(bash tools/build-engine.sh)
#     PATH="$BIN:$PATH" pulumi version
#
# The version is the one pinned in tools/pulumi-engine/go.mod (pkg/v3 and
# sdk/v3 at the same version; go.sum pins every dependency). Idempotent: when
# <cache>/<version>/bin/pulumi exists and runs, nothing is built.
#
# Environment:
#   AMIBACKUP_ENGINE_CACHE   cache root (default: $HOME/.cache/amibackup/engine)
#   AMIBACKUP_ENGINE_REBUILD set to 1 to rebuild even if the binary is there
#
# Needs: go (>= the go line of tools/pulumi-engine/go.mod), the Go module proxy.
# Progress and the build log go to stderr; only the bin dir goes to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod_dir=$here/pulumi-engine

log() { printf 'build-engine: %s\n' "$*" >&2; }
# shellcheck source=go-build.sh
. "$here/go-build.sh"

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }

version=$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2; exit }' "$mod_dir/go.mod")
[ -n "$version" ] || { log "cannot read the pkg/v3 version from $mod_dir/go.mod"; exit 1; }
sdk_version=$(awk '$1 == "github.com/pulumi/pulumi/sdk/v3" { print $2; exit }' "$mod_dir/go.mod")
if [ "$sdk_version" != "$version" ]; then
    log "go.mod pins pkg/v3 $version but sdk/v3 $sdk_version: they must match"
    exit 1
fi

cache_root=${AMIBACKUP_ENGINE_CACHE:-$HOME/.cache/amibackup/engine}
bin_dir=$cache_root/$version/bin
mkdir -p "$bin_dir"

# The Go commands read only the module's own files; never let them edit go.mod.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"

engine_ok() {
    [ -x "$bin_dir/pulumi" ] && "$bin_dir/pulumi" version >/dev/null 2>&1
}

if [ "${AMIBACKUP_ENGINE_REBUILD:-0}" != 1 ] && engine_ok; then
    log "pulumi $version already built in $bin_dir"
else
    log "building pulumi $version into $bin_dir (several minutes on 2 cores)"
    start=$(date +%s)
    go_build_into "$mod_dir" "$bin_dir/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
        "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
        osusergo,grpcnotrace
    engine_ok || { log "built $bin_dir/pulumi but 'pulumi version' fails"; exit 1; }
    log "built in $(( $(date +%s) - start ))s: $("$bin_dir/pulumi" version)"
fi

# Helper files next to the engine (cheap, so refreshed on every run).
# The dynamic-provider launcher: the engine looks for the plugin
# pulumi-resource-pulumi-python on PATH and beside the pulumi binary.
install -m 0755 "$here/pulumi-resource-pulumi-python" "$bin_dir/pulumi-resource-pulumi-python"
# The Python language host: the Go module proxy does not serve Pulumi's own (403), so
# the CLI finds ours, `pulumi-language-python` (devkit/langhost.py behind a launcher),
# beside itself. It lets `pulumi preview/up/refresh/destroy` run a Python program.
install -m 0755 "$here/pulumi-language-python" "$bin_dir/pulumi-language-python"
# The same launcher as `pulumi-language-nodejs` serves devkit/nodehost.py, which runs
# TypeScript programs with the npm package @pulumi/pulumi's own runner (Pulumi's Node.js
# host is not served either).
install -m 0755 "$here/pulumi-language-python" "$bin_dir/pulumi-language-nodejs"
# And as `pulumi-language-go`, devkit/gohost.py, which builds a Go program with `go build`
# and runs it (Pulumi's Go host is not served either).
install -m 0755 "$here/pulumi-language-python" "$bin_dir/pulumi-language-go"
rm -f "$bin_dir/pulumi-language-python-exec"  # the real host's script: ours does not use it

printf '%s\n' "$bin_dir"
