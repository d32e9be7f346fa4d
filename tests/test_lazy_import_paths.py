"""Every path that needs a module a resolving plan no longer imports at its start still finds it,
each in a fresh process (where nothing else imported it first) and with its exit code: an
unsolvable goal, a declared name or version no repository has, an unknown profile field worded
with its near match, and text output on a terminal (the width comes from shutil)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.builders.rpmrepo import make_repo, parse
from tests.conftest import SNAP1
from tests.helpers import REPO_ROOT, Host, profile_tree

pytestmark = pytest.mark.dnf
pytest.importorskip("dnf")

_ENV = {
    "PYTHONPATH": str(REPO_ROOT),
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "TERM": "xterm",
    "COLUMNS": "100",
}


def _argv(host: Host, profile: Path, *extra: str) -> List[str]:
    return [sys.executable, "-c", "from spma.entry import main; main()", "plan", str(profile), "--root",
            str(host.root), "--running-kernel", "", *extra]  # fmt: skip


def _spma(host: Host, profile: Path, *extra: str) -> Dict[str, Any]:
    res = subprocess.run(_argv(host, profile, *extra), capture_output=True, text=True,
                         env=dict(_ENV, HOME=str(host.root.parent)))  # fmt: skip
    return {"code": res.returncode, "out": res.stdout, "err": res.stderr}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("lazy")
    repo = make_repo(tmp / "os", SNAP1 + [parse("archy-1.0-1.x86_64")])
    return Host(tmp / "h"), {"os": str(repo)}


def test_an_unsolvable_goal_is_worded(setup: Any) -> None:
    host, repos = setup
    got = _spma(host, host.write(profile_tree({"anti": None, "tool": None}, repos)))
    assert got["code"] == 4 and "Traceback" not in got["err"], got
    assert "anti" in got["err"] and "tool" in got["err"]


@pytest.mark.parametrize("packages", [{"no-such-package": None}, {"foo": "9.9-1"}])
def test_a_declaration_no_repository_meets_is_worded(setup: Any, packages: Any) -> None:
    host, repos = setup
    got = _spma(host, host.write(profile_tree(packages, repos)))
    assert got["code"] == 4 and "Traceback" not in got["err"], got
    assert next(iter(packages)) in got["err"]


def test_an_excluded_or_other_arch_declaration_is_worded(setup: Any) -> None:
    host, repos = setup
    for name, prof in (
        ("tool", profile_tree({"tool": None}, repos, excludes=["tool"])),
        ("archy", profile_tree({"archy": {"": ["i686"]}}, repos)),
    ):
        got = _spma(host, host.write(prof))
        assert got["code"] == 4 and "Traceback" not in got["err"], got
        assert name in got["err"]


def test_an_unknown_field_gets_its_near_match(setup: Any) -> None:
    host, repos = setup
    got = _spma(host, host.write(profile_tree({"foo": None}, repos, packagr="dnf")))
    assert got["code"] == 3 and "Traceback" not in got["err"], got
    assert "did you mean 'packager'" in got["err"]


def test_text_on_a_terminal(setup: Any) -> None:
    host, repos = setup
    from tests.test_cli_terminal import pty_run

    argv = _argv(host, host.write(profile_tree({"bar": None}, repos)), "--format", "text")
    code, screen = pty_run(argv, env=dict(_ENV, HOME=str(host.root.parent)), timeout=120)
    assert code in (0, 2) and "Traceback" not in screen, screen
    assert "bar" in screen and "foo" in screen
    assert "\x1b[" in screen  # rendered for a terminal (colour), its width from shutil
    # and the same plan as JSON agrees on what it installs
    doc = json.loads(_spma(host, host.write(profile_tree({"bar": None}, repos)), "--format", "json")["out"])
    assert {a["name"] for a in doc["actions"] if a["action"] == "install"} == {"bar", "foo"}
