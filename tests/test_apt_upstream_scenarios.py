"""Scenarios of apt's own integration tests (Debian apt sources, test/integration/*), translated
into declared end states and run on real apt/dpkg. Each step asserts the package state apt's
test expects, that dpkg's database changed exactly as the plan said, and that the next plan is
empty.

`insertinstalledpackage` becomes a first profile that installs the package; `apt-get install X`
adds X to the declaration, `apt-get remove X` + `apt-get autoremove` drops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest

from spma.convergence import planned_final
from tests.builders.debrepo import Deb, deb, dpkg_installed, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile

pytestmark = pytest.mark.apt


def dpkg_keys(host: Host) -> List[Tuple[str, str, str]]:
    """(name, arch, version) of what dpkg lists as installed, in plan terms."""
    from spma.backends.apt import AptBackend

    return AptBackend(root=str(host.root), statedir=str(host.base / "probe")).installed_packages()


def repo(tmp_path: Path, name: str, debs: List[Deb]) -> str:
    return "file://%s" % make_repo(tmp_path / name, debs)


def step(host: Host, decl: Mapping[str, Optional[str]], url: str, expect: Optional[Dict[str, str]] = None,
         **spma: Any) -> Dict[str, Any]:  # fmt: skip
    tree = apt_profile(decl, url, **spma)
    before = dpkg_keys(host)
    res = host.apply(tree)
    assert set(dpkg_keys(host)) == planned_final(before, res.plan["actions"]), res.plan["actions"]
    assert "post_apply" not in res.plan  # spma's own check agrees
    again = host.plan(tree)
    assert again.plan["actions"] == [], again.plan["actions"]
    if expect is not None:
        assert dpkg_installed(host.root) == expect, res.plan["actions"]
    return res.plan


# test-apt-get-autoremove: install unrelated + debhelper (pulls po-debconf); remove debhelper;
# autoremove takes po-debconf. The declared end state does both in one plan.
def test_autoremove_after_remove(tmp_path: Path) -> None:
    url = repo(tmp_path, "r", [deb("unrelated=1"), deb("po-debconf=1.0.16"),
                               deb("debhelper=8.0.0", depends=["po-debconf"])])  # fmt: skip
    host = Host(tmp_path / "h", boot=True)
    step(host, {"unrelated": None, "debhelper": None}, url,
         {"debhelper": "8.0.0", "po-debconf": "1.0.16", "unrelated": "1"})  # fmt: skip
    plan = step(host, {"unrelated": None}, url, {"unrelated": "1"})
    assert sorted((a["action"], a["name"]) for a in plan["actions"]) == [("remove", "debhelper"),
                                                                          ("remove", "po-debconf")]  # fmt: skip


# test-apt-get-autoremove-real-virtual-provider: foo depends on needs (= 1), (= 2), (= 3); four
# providers and the real `needs` are installed and auto; autoremove (classic solver) removes only
# needs-provider4, the one provider nothing's versioned dependency can use.
def test_autoremove_real_and_virtual_providers(tmp_path: Path) -> None:
    debs = [deb("needs=1")] + [
        deb("needs-provider%d=1" % i, provides=["needs (= %d)" % i]) for i in (1, 2, 3, 4)
    ]
    debs.append(deb("foo=1", depends=["needs (= 1)", "needs (= 2)", "needs (= 3)"]))
    url = repo(tmp_path, "r", debs)
    host = Host(tmp_path / "h", boot=True)
    every = {d.name: None for d in debs}
    step(host, every, url)
    plan = step(host, {"foo": None}, url)
    assert [(a["action"], a["name"]) for a in plan["actions"]] == [("remove", "needs-provider4")]
    assert set(dpkg_installed(host.root)) == {"foo", "needs", "needs-provider1", "needs-provider2",
                                              "needs-provider3"}  # fmt: skip


# test-bug-604222-new-and-autoremove, the photoapp part (a t64-style library transition): apt
# upgrade keeps photoapp2 back, because version 2 conflicts with the installed photoapp1 and
# needs libfoto1t64 instead of libfoto1. Once photoapp1 is no longer declared, the same plan
# removes it and takes photoapp2 2 (the apt backend's garbage fixpoint), not the next run.
def test_library_transition_kept_back_then_taken(tmp_path: Path) -> None:
    debs = [
        deb("libfoto1=1"),
        deb("photoapp1=1", depends=["libfoto1"], recommends=["libgphoto2-l10n (= 1)"]),
        deb("photoapp2=1"),
        deb("libfoto1t64=1", provides=["libfoto1"]),
        deb("photoapp2=2", conflicts=["photoapp1"], depends=["libfoto1t64"],
            recommends=["libgphoto2-l10n (= 2)"]),
        deb("libgphoto2-l10n=2"),
    ]  # fmt: skip
    url = repo(tmp_path, "r", debs)
    old = repo(tmp_path, "old", [d for d in debs if d.name in ("libfoto1", "photoapp1") or d.version == "1"
                                 and d.name == "photoapp2"])  # fmt: skip
    host = Host(tmp_path / "h", boot=True)
    step(
        host,
        {"photoapp1": None, "photoapp2": None},
        old,
        {"libfoto1": "1", "photoapp1": "1", "photoapp2": "1"},
    )
    # both still declared: photoapp2 stays at the best version installable with photoapp1, as
    # `apt upgrade` keeps it back
    plan = step(host, {"photoapp1": None, "photoapp2": None}, url)
    inst = dpkg_installed(host.root)
    kept = {k: inst.get(k) for k in ("libfoto1", "photoapp1", "photoapp2")}
    assert kept == {"libfoto1": "1", "photoapp1": "1", "photoapp2": "1"}, plan["actions"]
    # photoapp1 dropped: photoapp2 moves to 2 with libfoto1t64, libfoto1 goes, in one plan
    plan = step(host, {"photoapp2": None}, url, {"libfoto1t64": "1", "photoapp2": "2"})
    # with recommendations on, the recommended version comes along with the upgrade
    other = Host(tmp_path / "weak", boot=True)
    step(other, {"photoapp1": None, "photoapp2": None}, old)
    step(other, {"photoapp2": None}, url, {"libfoto1t64": "1", "libgphoto2-l10n": "2", "photoapp2": "2"},
         install_weak_deps=True)  # fmt: skip


# test-ignore-provides-if-versioned-breaks (the Breaks/Replaces takeover idiom): a new package
# takes files over from an old one; declaring the new one takes the old one out in one plan.
def test_breaks_replaces_takeover(tmp_path: Path) -> None:
    debs = [deb("oldtool=1"), Deb("newtool", "2", breaks=("oldtool (<< 2)",), replaces=("oldtool (<< 2)",),
                                  provides=("oldtool",))]  # fmt: skip
    url = repo(tmp_path, "r", debs)
    host = Host(tmp_path / "h", boot=True)
    step(host, {"oldtool": None}, url, {"oldtool": "1"})
    plan = step(host, {"newtool": None}, url, {"newtool": "2"})
    assert sorted((a["action"], a["name"]) for a in plan["actions"]) == [("install", "newtool"),
                                                                          ("remove", "oldtool")]  # fmt: skip
