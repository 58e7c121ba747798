#!/usr/bin/env bash
# The main job on the embedded default: set up, then the dev kit's demo (a moto server on
# 127.0.0.1, the real Pulumi engine, the schedule played, pulumi destroy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh
exec .venv/bin/python -m devkit.demo "$@"
