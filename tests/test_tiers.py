"""Two tiers: without the dnf and apt bindings the real-backend tests skip (never error) and the
pure tier still runs, importing no package manager."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO_ROOT

PURE = ["tests/test_policy.py", "tests/test_deferral.py", "tests/test_plan_type.py"]
REAL = ["tests/test_dnf_reconcile.py", "tests/test_apt_reconcile.py", "tests/test_both_backends.py"]


def test_without_bindings_the_real_tier_skips_and_the_pure_tier_passes() -> None:
    p = subprocess.run(
        [sys.executable, "scripts/test-without-bindings.py", "-q", "-m", "not dnf and not apt"] + PURE + REAL,
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:]
    last = p.stdout.strip().splitlines()[-1]
    assert "passed" in last and "skipped" in last and "error" not in last and "failed" not in last, last
