#!/usr/bin/env bash
# Set up everything on a fresh machine (Python 3.11, pip, Go): a virtualenv in .venv
# with amibackup and its test extras at the versions pinned in constraints.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt \
    -e ".[test]"
