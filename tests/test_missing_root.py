"""`spma plan --root DIR` and `spma apply --root DIR` on a missing DIR: both refuse (exit 3) on
both backends, and neither creates anything (issue 10, point 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, SPMA

PROFILE = {"software": {"components": {"spma": {}}, "packages": {"foo": {}},
                        "repositories": [{"name": "r", "gpgcheck": False,
                                          "protocols": [{"name": "file", "url": "file:///nonexistent"}]}]}}  # fmt: skip


@pytest.mark.parametrize("backend", ["dnf", "apt"])
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_missing_root_is_refused_and_not_created(tmp_path: Path, backend: str, command: str) -> None:
    import os
    import subprocess

    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(PROFILE))
    root = tmp_path / "no" / "such" / "root"
    res = subprocess.run(SPMA + [command, str(prof), "--root", str(root), "--backend", backend],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))  # fmt: skip
    assert res.returncode == 3, res.stderr
    assert "does not exist or is not a directory" in res.stderr
    assert "mkdir -p" in res.stderr
    assert not (tmp_path / "no").exists()


def test_a_file_as_root_is_refused(tmp_path: Path) -> None:
    from spma import run
    from spma.errors import UsageError

    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(PROFILE))
    afile = tmp_path / "file"
    afile.write_text("")
    for call in (run.plan, run.apply):
        with pytest.raises(UsageError):
            call(str(prof), run.Options(root=str(afile), backend="dnf"))
