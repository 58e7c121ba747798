#!/usr/bin/env bash
# The main job on the embedded default: set up, then the dev kit's demo (a moto server on
# 127.0.0.1, the real Pulumi engine, the schedule played, pulumi destroy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh
ticks=6
[ "${1:-}" = "--ticks" ] && ticks=${2:?--ticks takes a number}
exec .venv/bin/python -c \
    'import sys; from amibackup.local import demo; sys.exit(demo.run(ticks=int(sys.argv[1])))' "$ticks"
