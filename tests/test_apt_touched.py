"""The apt plan finds what its marks touch without walking the whole cache (backends/apt/
touched.py): the packages it gets must be exactly, and in the same order, what a walk of every
package in the cache keeps — installed, or marked for a new install (or purge) — on a fresh root
and on one with installed packages, upgrades, removals, garbage and pins that step down; when
the dependency walk cannot prove it found every new install, the walk of the whole cache is
taken, and the plan is the same either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.apt
pytest.importorskip("apt_pkg")


def _scan(desired: Any) -> List[int]:
    dep = desired.dep
    return [p.id for p in desired.ac.packages
            if p.current_ver is not None or dep.marked_install(p) or dep.marked_delete(p)]  # fmt: skip


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Dict[str, int]:
    """Every answer of touched() compared with the walk of the whole cache; counts the answers
    that were proven (a list) and those left to the walk (None)."""
    import spma.backends.apt.facts as facts
    import spma.backends.apt.fixpoint as fixpoint
    import spma.backends.apt.touched as touched

    real = touched.touched
    seen = {"proven": 0, "unproven": 0}

    def check(desired: Any, ordered: bool = True) -> Optional[List[Any]]:
        got = real(desired, ordered)
        if got is None:
            seen["unproven"] += 1
        else:
            seen["proven"] += 1
            ids = [p.id for p in got]
            assert (ids if ordered else sorted(ids)) == (
                _scan(desired) if ordered else sorted(_scan(desired))
            )
            assert len(set(ids)) == len(ids)
        return got

    for mod in (touched, facts, fixpoint):
        monkeypatch.setattr(mod, "touched", check)
    return seen


def _plans(host: Host, tree: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    """The plan as spma makes it, then with every shortcut refused (the whole cache walked)."""
    import spma.backends.apt.facts as facts
    import spma.backends.apt.fixpoint as fixpoint
    import spma.backends.apt.touched as touched

    first = host.plan(tree).plan
    with monkeypatch.context() as m:
        for mod in (touched, facts, fixpoint):
            m.setattr(mod, "touched", lambda desired, ordered=True: None)
        second = host.plan(tree).plan
    return [first, second]


@pytest.mark.parametrize("boot", [True, False], ids=["boot", "live"])
def test_fresh_root_is_proven_without_a_walk(tmp_path: Path, checked: Dict[str, int],
                                              monkeypatch: pytest.MonkeyPatch, boot: bool) -> None:  # fmt: skip
    from tests.builders.debrepo import deb, make_repo

    debs = [deb("libc6=2.36-1"), deb("libz=1.0-1", depends=["libc6"]), deb("mta=1.0-1", provides=["mail-agent"]),
            deb("tool=1.0-1", depends=["libz | libc6", "mail-agent"], recommends=["weak"]), deb("weak=1.0-1"),
            deb("app=1.0-1", depends=["tool (>= 1.0)", "libc6"]),
            deb("app=2.0-1", depends=["tool (>= 1.0)", "libc6"]), deb("other=1.0-1")]  # fmt: skip
    repo = make_repo(tmp_path / "repo", debs)
    host = Host(tmp_path / "h", boot=boot)
    tree = profile_tree({"app": None, "other": None}, {"os": str(repo)}, packager="apt")
    first, second = _plans(host, tree, monkeypatch)
    assert first == second
    assert {a["name"] for a in first["actions"]} == {"app", "other", "tool", "libz", "libc6", "mta"}
    assert checked["proven"] >= 3 and checked["unproven"] == 0


@pytest.mark.parametrize("boot", [True, False], ids=["boot", "live"])
def test_installed_root_upgrades_removals_and_garbage(tmp_path: Path, checked: Dict[str, int],
                                                      monkeypatch: pytest.MonkeyPatch, boot: bool) -> None:  # fmt: skip
    from tests.builders.debrepo import deb, make_repo

    old = [deb("libc6=2.36-1"), deb("libz=1.0-1", depends=["libc6"]), deb("tool=1.0-1", depends=["libz | libc6"]),
           deb("app=1.0-1", depends=["tool (>= 1.0)", "libc6", "libz"]), deb("gone=1.0-1", depends=["libc6"]),
           deb("helper=1.0-1"), deb("uses=1.0-1", depends=["helper"])]  # fmt: skip
    new = old + [deb("libc6=2.36-9"), deb("tool=2.0-1", depends=["libz (>= 1.0)", "libc6", "newlib"]),
                 deb("newlib=1.0-1"), deb("extra=1.0-1", depends=["app", "tool"])]  # fmt: skip
    host = Host(tmp_path / "h", boot=boot)
    host.apply(profile_tree({"app": None, "gone": None, "uses": None}, {"os": str(make_repo(tmp_path / "o", old))},
                            packager="apt"), boot=True)  # fmt: skip
    checked.update(proven=0, unproven=0)
    tree = profile_tree(
        {"app": None, "extra": None}, {"os": str(make_repo(tmp_path / "n", new))}, packager="apt"
    )
    first, second = _plans(host, tree, monkeypatch)
    assert first == second
    got = {(a["action"], a["name"]) for a in first["actions"]}
    assert {("upgrade", "libc6"), ("upgrade", "tool"), ("install", "newlib"), ("install", "extra"),
            ("remove", "gone"), ("remove", "uses"), ("remove", "helper")} <= got  # fmt: skip
    assert checked["proven"] >= 3


def test_a_pin_that_steps_down(
    tmp_path: Path, checked: Dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.builders.debrepo import deb, make_repo

    debs = [deb("base=1.0-1"), deb("base=2.0-1"), deb("sib=1.0-1", depends=["base (= 1.0-1)"]),
            deb("sib=2.0-1", depends=["base (= 2.0-1)"]), deb("top=1.0-1", depends=["sib"]),
            deb("top=2.0-1", depends=["sib (>= 2.0)"])]  # fmt: skip
    repo = make_repo(tmp_path / "repo", debs)
    host = Host(tmp_path / "h", boot=True)
    host.apply(profile_tree({"top": None}, {"os": str(repo)}, packager="apt"))
    tree = profile_tree({"top": None, "base": {"1.0-1": ["all"]}}, {"os": str(repo)}, packager="apt")
    first, second = _plans(host, tree, monkeypatch)
    assert first == second
    assert {(a["action"], a["name"], a["to"]) for a in first["actions"]} >= {("downgrade", "base", "1.0-1")}
    assert checked["proven"] >= 1


def test_a_new_install_the_walk_cannot_reach_is_left_to_the_full_walk(tmp_path: Path) -> None:
    """apt's counters are the proof: a new install nothing planned depends on (here marked by
    hand) makes the shortcut answer None, and the callers walk the whole cache."""
    import os

    from spma.backends.apt.marks import Desired
    from spma.backends.apt.touched import touched

    from spma import rootfs, run, state
    from spma.backend import load_backend
    from spma.profile import load_profile
    from tests.builders.debrepo import deb, make_repo

    repo = make_repo(
        tmp_path / "repo", [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6"]), deb("loner=1.0-1")]
    )
    host = Host(tmp_path / "h", boot=True)
    profile = load_profile(str(host.write(profile_tree({"app": None}, {"os": str(repo)}, packager="apt"))))
    root = os.path.abspath(str(host.root))
    backend = load_backend("apt", root=root, statedir=rootfs.makedirs(root, state.state_dir(root)))
    with backend.session(run._request(profile, host.opts(), "apt")) as session:
        desired = Desired(session.cache, session.request, {}, set(), ["amd64"])
        desired.solve()
        got = touched(desired)
        assert got is not None and sorted(p.name for p in got) == ["app", "libc6"]
        desired.dep.mark_install(desired.ac["loner"], False)
        assert touched(desired) is None
        desired.dep.mark_keep(desired.ac["loner"])
        got = touched(desired)
        assert got is not None and [p.id for p in got] == _scan(desired)
