"""`spma plan` through the installed command's entry point (spma.entry) ends without the
interpreter's teardown; what it prints, writes and exits with must be exactly what the CLI
gives: a plan with changes and --detailed-exitcode, an empty plan, a refusal to resolve (exit 4
with its hint), a usage error and --help, JSON and text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.helpers import REPO_ROOT, Host, profile_tree

pytestmark = pytest.mark.dnf

ENTRY = [sys.executable, "-c", "import sys; sys.argv[0] = 'spma'; from spma.entry import main; main()"]
CLI = [sys.executable, "-m", "spma.cli"]


def _run(prefix: List[str], args: List[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(prefix + args, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("case", ["changes", "changes-text", "unknown-package", "usage", "help"])
def test_plan_through_the_entry_point_is_the_cli(tmp_path: Path, repos: Dict[str, str], case: str) -> None:
    host = Host(tmp_path)
    packages = {"nosuchpkg": None} if case == "unknown-package" else {"foo": None}
    profile = host.write(profile_tree(packages, {"snap2": repos["snap2"]}))
    args = ["plan", str(profile), "--root", str(host.root), "--running-kernel", ""]
    if case == "changes":
        args += ["--format", "json", "--detailed-exitcode", "--out", "OUT"]
    elif case == "unknown-package":
        args += ["--format", "json"]
    elif case == "usage":
        args += ["--format", "yaml"]
    elif case == "help":
        args = ["plan", "--help"]
    seen = []
    for prefix, out in ((CLI, tmp_path / "cli.json"), (ENTRY, tmp_path / "entry.json")):
        p = _run(prefix, [str(out) if a == "OUT" else a for a in args])
        seen.append((p.returncode, p.stdout, p.stderr, out.read_text() if out.exists() else None))
    assert seen[0] == seen[1]
    code = seen[0][0]
    assert code == {"changes": 2, "changes-text": 0, "unknown-package": 4, "usage": 3, "help": 0}[case], (
        seen[0]
    )
    if case == "changes":
        assert json.loads(seen[0][3])["summary"]["install"] >= 1
        assert seen[0][1] == seen[0][3]  # stdout carries the same document as --out
