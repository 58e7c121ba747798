#!/usr/bin/env bash
# Generate amibackup's language SDKs from its package schema with Pulumi's own code generators
# (tools/sdkgen, built once into ~/.cache/amibackup/sdkgen by tools/build-sdkgen.sh):
#
#     bash tools/gen-sdks.sh [SCHEMA]     # default SCHEMA: schema/schema.json
#
# writes sdk/nodejs (npm package @amibackup/pulumi), sdk/go (Go module
# github.com/amibackup/amibackup/sdk/go) and sdk/python (pulumi_amibackup), replacing what was
# there. The SDKs are generated, not committed (sdk/ is in .gitignore): the schema is the one
# source, and CI generates and compiles them on every run (tests/test_sdks.py).
# Progress goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
schema=${1:-$root/schema/schema.json}
[ -f "$schema" ] || { echo "gen-sdks: no package schema at $schema" >&2; exit 1; }
sdkgen=$(bash "$root/tools/build-sdkgen.sh")
"$sdkgen" -schema "$schema" -out "$root/sdk" -language nodejs,go,python
