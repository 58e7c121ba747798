#!/usr/bin/env bash
# The test command: set up, lint, then every test (the Pulumi engine tests included:
# the engine and the YAML language host are built from Go modules into ~/.cache/amibackup).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh
# The YAML language host goes beside the engine (for the plugin's YAML engine tests).
engine_bin=$(bash tools/build-engine.sh)
bash tools/build-yaml-host.sh "$engine_bin" >/dev/null
.venv/bin/ruff check .
.venv/bin/mypy
AMIBACKUP_REQUIRE_ENGINE=1 .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
