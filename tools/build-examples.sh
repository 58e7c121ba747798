#!/usr/bin/env bash
# Generate the SDKs from the package schema and compile the examples that use them:
#
#     bash tools/build-examples.sh [typescript] [go] [python]     # default: all three
#
# typescript: `npm ci` of examples/typescript (package-lock.json pinned; npm's cache in
#   ~/.cache/amibackup/npm, offline when it holds everything). The SDK is a `file:` dependency
#   installed as a copy (--install-links), so its own postinstall compiles it with tsc: a
#   generated SDK that does not compile fails here. Then `tsc --noEmit` type-checks the
#   program against it. The install goes to ~/.cache/amibackup/examples/typescript-<stamp>
#   (stamp: package.json, package-lock.json and the generated SDK) and examples/typescript/
#   node_modules links to it: unchanged, it is reused, also by a fresh clone.
# go: `go build` of examples/go, which compiles the generated Go SDK (go.mod replaces its
#   module path with sdk/go). Go's build cache makes a repeat take seconds.
# python: `pip install --no-deps --target` of the generated sdk/python (pulumi_amibackup, with
#   the metadata it reads its version from) into ~/.cache/amibackup/examples/python-<stamp>
#   (stamp: the generated SDK), which examples/python/site-packages links to; the program runs
#   with PYTHONPATH at that link. Its dependencies (pulumi, semver, packaging) are the
#   interpreter's, so the checkout's .venv is not touched. Then the SDK imports and the
#   example byte-compiles.
# Progress goes to stderr.
set -euo pipefail
shopt -s inherit_errexit  # `cached` runs in $(...): a failed install stops the build
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'build-examples: %s\n' "$*" >&2; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(typescript go python)

bash "$root/tools/gen-sdks.sh" "${AMIBACKUP_SCHEMA:-$root/schema/schema.json}" >&2

# cached KIND STAMP INSTALL: the folder holding KIND's install for STAMP in the examples cache
# (named by the stamp, so a fresh clone such as CI reuses it). `INSTALL FOLDER` runs only
# when that folder lacks a finished install; KIND's installs of other stamps untouched for
# two days go. Progress to stderr, the folder to stdout.
cached() {
    local kind=$1 stamp=$2 install=$3
    local cache_root=${AMIBACKUP_EXAMPLES_CACHE:-$HOME/.cache/amibackup/examples}
    local cache=$cache_root/$kind-$stamp
    if [ -f "$cache/.installed" ]; then
        log "$kind: $stamp already installed in $cache"
    else
        local start
        start=$(date +%s)
        rm -rf "$cache"
        mkdir -p "$cache"
        "$install" "$cache" >&2 || { rm -rf "$cache"; return 1; }
        log "$kind: installed in $(( $(date +%s) - start ))s"
        find "$cache_root" -mindepth 1 -maxdepth 1 -name "$kind-*" -mtime +2 \
            -exec rm -rf {} + 2>/dev/null || true
    fi
    touch "$cache/.installed"
    printf '%s\n' "$cache"
}

# node_modules as `npm ci` makes it, in the same layout as the checkout (examples/typescript
# next to sdk/nodejs) for the `file:` dependency; the SDK compiles in its postinstall.
install_typescript() {
    local cache=$1 dir=$root/examples/typescript
    log "typescript: npm ci into $cache (the SDK compiles in its postinstall)"
    mkdir -p "$cache/examples/typescript" "$cache/sdk"
    cp "$dir/package.json" "$dir/package-lock.json" "$cache/examples/typescript/"
    cp -R "$root/sdk/nodejs" "$cache/sdk/nodejs"
    (cd "$cache/examples/typescript" &&
        npm_config_cache=${npm_config_cache:-$HOME/.cache/amibackup/npm} \
        npm ci --install-links --prefer-offline --no-audit --no-fund --loglevel=error)
}

build_typescript() {
    local dir=$root/examples/typescript
    command -v npm >/dev/null 2>&1 || { log "npm is not on PATH (Node.js >= 20 needed)"; return 1; }
    local stamp
    stamp=$(cd "$root" && { cat examples/typescript/package.json examples/typescript/package-lock.json
                            find sdk/nodejs -type f | LC_ALL=C sort | xargs sha256sum; } |
            sha256sum | cut -c1-16)
    # node_modules lives in the cache; the example's node_modules is a link to it.
    local cache
    cache=$(cached typescript "$stamp" install_typescript)
    if [ -e "$dir/node_modules" ] && [ ! -L "$dir/node_modules" ]; then
        rm -rf "$dir/node_modules"  # a plain install from before: replaced by the link
    fi
    ln -sfn "$cache/examples/typescript/node_modules" "$dir/node_modules"
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

# The SDK as pip installs it (its version comes from the install's metadata). PIP_CONSTRAINT
# (unlike -c) reaches pip's isolated build environment: the SDK is built with the
# setuptools and wheel pinned in constraints.txt.
install_python() {
    local cache=$1 python=${AMIBACKUP_PYTHON:-$root/.venv/bin/python}
    log "python: pip install --no-deps --target $cache sdk/python"
    PIP_CONSTRAINT="$root/constraints.txt" \
        "$python" -m pip install -q --disable-pip-version-check --no-deps --target "$cache" \
        "$root/sdk/python"
}

build_python() {
    local dir=$root/examples/python python=${AMIBACKUP_PYTHON:-$root/.venv/bin/python}
    [ -x "$python" ] || { log "python: no $python (bash tools/setup.sh makes .venv)"; return 1; }
    local stamp
    stamp=$(cd "$root" && find sdk/python -type f | LC_ALL=C sort | xargs sha256sum |
            sha256sum | cut -c1-16)
    local cache
    cache=$(cached python "$stamp" install_python)
    ln -sfn "$cache" "$dir/site-packages"
    log "python: import pulumi_amibackup, byte-compile examples/python"
    PYTHONPATH=$cache "$python" -c 'import pulumi_amibackup' >&2
    "$python" -m py_compile "$dir/__main__.py" >&2
}

for target in "${targets[@]}"; do
    case $target in
        typescript) build_typescript ;;
        go) build_go ;;
        python) build_python ;;
        *) log "unknown target $target: typescript, go or python"; exit 2 ;;
    esac
done
