"""A plan that resolves imports only what it uses, on dnf and on apt: not spma.explain (and its dataclasses),
which words failures, nor the standard library modules that only a failure, a terminal, an
agent's splay or a confirmation prompt need. Each is a few milliseconds of every plan's start
(bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.rpmrepo import make_repo
from tests.conftest import SNAP1
from tests.helpers import REPO_ROOT, Host, import_probe, profile_tree

_NOT_NEEDED = [
    "spma.explain",
    "spma.backends.dnf.problems",
    "tempfile",
    "shutil",
    "random",
    "difflib",
    "bz2",
    "lzma",
]

_PROBE = import_probe("cli", _NOT_NEEDED)


def _plan(root: Path, profile: Path) -> dict:
    argv = [sys.executable, "-c", _PROBE, "plan", str(profile), "--root", str(root), "--running-kernel", "",
            "--format", "json", "--out", str(root.parent / "plan.json")]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin",
                                                                    "HOME": str(root.parent), "LC_ALL": "C"})  # fmt: skip
    return dict(json.loads(res.stdout.splitlines()[-1]), stderr=res.stderr)


@pytest.mark.dnf
def test_a_resolving_plan_imports_neither_the_failure_words_nor_unused_stdlib(tmp_path: Path) -> None:
    pytest.importorskip("dnf")
    repo = make_repo(tmp_path / "os", SNAP1)
    host = Host(tmp_path / "h")
    prof = host.write(profile_tree({"bar": None}, {"os": str(repo)}))
    first = _plan(host.root, prof)  # fills dnf's metadata cache under the root (dnf.Base loads it)
    assert first["code"] == 0, first["stderr"]
    got = _plan(host.root, prof)  # then read straight from that cache, as every later plan is
    assert got["code"] == 0, got["stderr"]
    assert json.loads((host.root.parent / "plan.json").read_text())["summary"]["install"] >= 1
    assert got["imported"] == []
    # and a plan that fails on a declaration still words it (the lazy import is there)
    bad = host.write(profile_tree({"no-such-package": None}, {"os": str(repo)}))
    failed = _plan(host.root, bad)
    assert failed["code"] == 4 and "spma.explain" in failed["imported"], failed
    assert "no-such-package" in failed["stderr"]


@pytest.mark.apt
def test_the_same_on_apt(tmp_path: Path) -> None:
    pytest.importorskip("apt_pkg")
    from tests.builders.debrepo import deb, make_repo

    repo = make_repo(tmp_path / "os", [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6"])])
    host = Host(tmp_path / "h", boot=True)
    prof = host.write(profile_tree({"app": None}, {"os": str(repo)}, packager="apt"))
    assert _plan(host.root, prof)["code"] == 0  # the first plan fetches the lists
    got = _plan(host.root, prof)
    assert got["code"] == 0, got["stderr"]
    assert json.loads((host.root.parent / "plan.json").read_text())["summary"]["install"] == 2
    assert got["imported"] == []
    bad = host.write(profile_tree({"no-such-package": None}, {"os": str(repo)}, packager="apt"))
    failed = _plan(host.root, bad)
    assert failed["code"] == 4 and "spma.explain" in failed["imported"], failed
    assert "no-such-package" in failed["stderr"]
