"""systemd units of the agent are valid (systemd-analyze verify)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

UNITS = REPO_ROOT / "containers" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_verify(tmp_path: Path):
    fake = tmp_path / "spma"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    units = []
    for unit in sorted(UNITS.glob("spma*.*")):
        text = unit.read_text().replace("/usr/bin/spma", str(fake))  # verify wants the binary to exist
        (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / unit.name))
    assert len(units) >= 3
    res = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "agent" in (UNITS / "spma.service").read_text()
