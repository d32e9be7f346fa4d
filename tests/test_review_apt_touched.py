"""Adversarial review of backends/apt/touched.py: the shortcut's answer is checked against the
walk of the whole cache (tests/test_apt_touched.py's `checked`) on forms the dependency walk
must follow: a foreign architecture with Multi-Arch same/foreign/allowed and `:any`, a virtual
package, Recommends taken with install_weak_deps, and an installed package held by dpkg."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Set, Tuple

import pytest

from tests.helpers import Host, profile_tree
from tests.test_apt_touched import _plans, checked  # noqa: F401 - the fixture

pytestmark = pytest.mark.apt
pytest.importorskip("apt_pkg")


def _rows(plan: Dict[str, Any]) -> Set[Tuple[str, str, str, Any]]:
    return {(a["action"], a["name"], a["arch"], a["to"]) for a in plan["actions"]}


@pytest.mark.parametrize("boot", [True, False], ids=["boot", "live"])
def test_multiarch_virtual_and_weak(tmp_path: Path, checked: Dict[str, int],  # noqa: F811
                                    monkeypatch: pytest.MonkeyPatch, boot: bool) -> None:  # fmt: skip
    from tests.builders.debrepo import deb, make_repo

    debs = [
        deb("libc6=1.0-1", arch="amd64", multiarch="same"),
        deb("libc6=1.0-1", arch="i386", multiarch="same"),
        deb("perl=1.0-1", arch="amd64", multiarch="allowed"),
        deb("script=1.0-1", depends=["perl:any"]),
        deb("py=1.0-1", arch="amd64", multiarch="foreign", provides=["python-api"]),
        deb("app32=1.0-1", arch="i386", depends=["libc6", "python-api"]),
        deb("tool=1.0-1", depends=["libc6"], recommends=["weak"]),
        deb("weak=1.0-1", depends=["weakdep"]),
        deb("weakdep=1.0-1"),
        deb("kept=1.0-1"),
        deb("kept=2.0-1"),
        deb("needkept=1.0-1", depends=["kept (>= 2.0)"]),
        deb("needkept2=1.0-1", depends=["needkept | weakdep"]),
    ]
    repo = make_repo(tmp_path / "repo", debs)
    host = Host(tmp_path / "h", boot=boot)
    (host.root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (host.root / "var/lib/dpkg/arch").write_text("amd64\ni386\n")
    tree = profile_tree({"kept": {"1.0-1": ["all"]}}, {"os": str(repo)}, packager="apt")
    host.apply(tree, boot=True)
    status = host.root / "var/lib/dpkg/status"
    status.write_text(
        status.read_text().replace("Status: install ok installed", "Status: hold ok installed")
    )
    checked.update(proven=0, unproven=0)
    tree = profile_tree({"script": None, "app32": {"": ["i386"]}, "tool": None,
                         "needkept2": None}, {"os": str(repo)}, packager="apt", install_weak_deps="yes")  # fmt: skip
    first, second = _plans(host, tree, monkeypatch)
    assert first == second
    rows = _rows(first)
    names = {r[1] for r in rows}
    assert {"script", "perl", "app32", "py", "tool", "weak", "weakdep", "needkept2"} <= names, rows
    assert ("install", "libc6", "i386", "1.0-1") in rows
    assert checked["proven"] >= 1


def test_boot_and_live_plans_agree(tmp_path: Path) -> None:
    """A --boot plan takes what the marks touch in any order (no walk for the cache's order); a
    live plan in the cache's order: on a root where nothing is deferred, the two plans are the same."""
    from tests.builders.debrepo import deb, make_repo

    old = [
        deb("libfoo=1.0-1", arch="amd64", multiarch="same"),
        deb("gone=1.0-1"),
        deb("tool=1.0-1", depends=["libfoo"]),
    ]
    new = old + [
        deb("libfoo=2.0-1", arch="amd64", multiarch="same"),
        deb("tool=2.0-1", depends=["libfoo (>= 2.0)", "newlib"]),
        deb("newlib=1.0-1", recommends=["weak"]),
        deb("weak=1.0-1"),
        deb("app=1.0-1", depends=["tool"]),
    ]
    host = Host(tmp_path / "h", boot=True)
    host.apply(
        profile_tree(
            {"tool": None, "gone": None}, {"os": str(make_repo(tmp_path / "o", old))}, packager="apt"
        )
    )
    tree = profile_tree(
        {"app": None}, {"os": str(make_repo(tmp_path / "n", new))}, packager="apt", install_weak_deps="yes"
    )
    boot = host.plan(tree, boot=True).plan
    live = host.plan(tree, boot=False).plan
    assert not any(a["deferred"] for a in live["actions"])
    assert boot["actions"] == live["actions"]
    assert _rows(boot) >= {("install", "app", "all", "1.0-1"), ("upgrade", "libfoo", "amd64", "2.0-1"),
                           ("install", "weak", "all", "1.0-1"), ("remove", "gone", "all", None)}  # fmt: skip
