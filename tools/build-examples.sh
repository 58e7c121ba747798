#!/usr/bin/env bash
# Generate the SDKs from the package schema and compile the examples that use them:
#
#     bash tools/build-examples.sh [typescript] [go]     # default: both
#
# typescript: `npm ci` in examples/typescript (package-lock.json pinned; npm's cache in
#   ~/.cache/amibackup/npm, offline when it holds everything). The SDK is a `file:` dependency
#   installed as a copy (--install-links), so its own postinstall compiles it with tsc: a
#   generated SDK that does not compile fails here. Then `tsc --noEmit` type-checks the
#   program against it. Skipped when package-lock.json and the generated SDK are unchanged
#   since the last install (a stamp in node_modules).
# go: `go build` of examples/go, which compiles the generated Go SDK (go.mod replaces its
#   module path with sdk/go). Go's build cache makes a repeat take seconds.
# Progress goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'build-examples: %s\n' "$*" >&2; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(typescript go)

bash "$root/tools/gen-sdks.sh" "${AMIBACKUP_SCHEMA:-$root/schema/schema.json}" >&2

build_typescript() {
    local dir=$root/examples/typescript
    command -v npm >/dev/null 2>&1 || { log "npm is not on PATH (Node.js >= 20 needed)"; return 1; }
    local stamp
    stamp=$(cd "$root" && { cat examples/typescript/package-lock.json
                            find sdk/nodejs -type f | LC_ALL=C sort | xargs sha256sum; } |
            sha256sum | cut -c1-16)
    if [ "$(cat "$dir/node_modules/.amibackup-stamp" 2>/dev/null)" = "$stamp" ]; then
        log "typescript: node_modules up to date ($stamp)"
    else
        log "typescript: npm ci (the SDK compiles in its postinstall)"
        local start
        start=$(date +%s)
        (cd "$dir" && npm_config_cache=${npm_config_cache:-$HOME/.cache/amibackup/npm} \
            npm ci --install-links --prefer-offline --no-audit --no-fund --loglevel=error) >&2
        printf '%s\n' "$stamp" > "$dir/node_modules/.amibackup-stamp"
        log "typescript: installed in $(( $(date +%s) - start ))s"
    fi
    log "typescript: tsc --noEmit"
    (cd "$dir" && node_modules/.bin/tsc --noEmit -p .) >&2
}

build_go() {
    command -v go >/dev/null 2>&1 || { log "go is not on PATH"; return 1; }
    local out=${AMIBACKUP_GO_EXAMPLE_OUT:-$HOME/.cache/amibackup/examples/go}
    mkdir -p "$out"
    log "go: go build examples/go (and the SDK in sdk/go)"
    # The engine's build flags, so that the Go build cache it filled is reused.
    (cd "$root/examples/go" && GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly" \
        go build -trimpath -tags osusergo,grpcnotrace -o "$out/amibackup-go-example" .) >&2
}

for target in "${targets[@]}"; do
    case $target in
        typescript) build_typescript ;;
        go) build_go ;;
        *) log "unknown target $target: typescript or go"; exit 2 ;;
    esac
done
