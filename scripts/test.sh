#!/bin/bash
# Installs what the tests need, then runs lint, type checks and the whole suite (real dnf/rpm
# on sandbox roots; fixture RPMs are built once and cached in ~/.cache/spma-test-rpms).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# runtime code must run on EL9's Python 3.9
.venv/bin/vermin -q -t=3.9- --no-tips --violations --eval-annotations spma backends errata
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
