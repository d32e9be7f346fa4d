#!/bin/bash
# The main job, end to end: builds two repository snapshots of real RPMs, then reconciles a
# sandbox root with spma: plan, apply, an idempotent second plan, and a snapshot rollback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
