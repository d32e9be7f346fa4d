"""A plan skips `apt update` only when apt would leave its lists exactly as they are (local,
unsigned sources whose Release apt holds byte for byte, every index present, nothing stale in
the lists): the plan is then the one made after an update. Any other state — an index missing,
a source that changed, a list file of a repository the profile dropped, a Release dated in the
future — runs the update, as before."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.apt
pytest.importorskip("apt_pkg")


def _lists(host: Host) -> Path:
    return host.root / "var/lib/spma/cache/apt/lists"


def _names(result: Any) -> Dict[str, Any]:
    return {a["name"]: a["to"] for a in result.plan["actions"]}


def test_unchanged_local_sources_plan_without_update(tmp_path: Path, apt_updates: List[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from spma.backends.apt.config import AptRoot

    from tests.builders.debrepo import deb, make_repo

    repo = make_repo(tmp_path / "r", [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6"])])
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"app": None}, {"os": str(repo)}, packager="apt")
    first = host.plan(tree)
    assert len(apt_updates) == 1  # nothing in the lists yet
    second = host.plan(tree)
    assert len(apt_updates) == 1
    monkeypatch.setattr(AptRoot, "_lists_current", lambda self, request, slist, *built: False)
    third = host.plan(tree)
    assert len(apt_updates) == 2
    assert first.plan == second.plan == third.plan
    assert _names(second) == {"app": "1.0-1", "libc6": "2.36-1"}


def test_a_changed_source_is_updated(tmp_path: Path, apt_updates: List[int]) -> None:
    from tests.builders.debrepo import deb, make_repo

    debs = [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6"])]
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"app": None}, {"os": str(make_repo(tmp_path / "r", debs))}, packager="apt")
    assert _names(host.plan(tree)) == {"app": "1.0-1", "libc6": "2.36-1"}
    make_repo(tmp_path / "r", debs + [deb("app=2.0-1", depends=["libc6"])])
    assert _names(host.plan(tree)) == {"app": "2.0-1", "libc6": "2.36-1"}
    assert len(apt_updates) == 2


def test_a_missing_index_is_not_current(tmp_path: Path) -> None:
    """apt fetches an index missing from its lists even when the Release did not change."""
    import apt_pkg
    from spma.backends.apt.config import AptRoot

    from spma import rootfs, run, state
    from spma.profile import load_profile
    from tests.builders.debrepo import deb, make_repo

    repo = make_repo(tmp_path / "r", [deb("libc6=2.36-1")])
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"libc6": None}, {"os": str(repo)}, packager="apt")
    host.plan(tree)
    request = run._request(load_profile(str(host.write(tree))), host.opts(), "apt")
    root = os.path.abspath(str(host.root))
    apt_root = AptRoot(root, rootfs.makedirs(root, state.state_dir(root)))

    def current() -> bool:
        apt_root.configure(request)
        slist = apt_pkg.SourceList()
        slist.read_main_list()
        return apt_root._lists_current(request, slist)

    assert current()
    index = next(p for p in _lists(host).iterdir() if p.name.endswith("_Packages"))
    index.unlink()
    assert not current()


def test_the_lists_of_a_dropped_repository_are_cleaned_by_update(
    tmp_path: Path, apt_updates: List[int]
) -> None:
    from tests.builders.debrepo import deb, make_repo

    one = make_repo(tmp_path / "one", [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6"])])
    two = make_repo(tmp_path / "two", [deb("extra=1.0-1")])
    host = Host(tmp_path / "h", boot=True)
    host.plan(profile_tree({"app": None, "extra": None}, {"one": str(one), "two": str(two)}, packager="apt"))
    assert any("_two_" in p.name for p in _lists(host).iterdir())
    result = host.plan(profile_tree({"app": None}, {"one": str(one)}, packager="apt"))
    assert len(apt_updates) == 2
    assert not any("_two_" in p.name for p in _lists(host).iterdir())
    assert _names(result) == {"app": "1.0-1", "libc6": "2.36-1"}


def test_a_release_dated_in_the_future_is_left_to_apt(tmp_path: Path, apt_updates: List[int]) -> None:
    """apt refuses a Release that is not valid yet; a copy planted in its lists is no reason to
    trust it: the plan runs the update, and fails as apt does."""
    from spma.errors import RepoError
    from tests.builders.debrepo import deb, make_repo

    repo = make_repo(tmp_path / "r", [deb("libc6=2.36-1")])
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"libc6": None}, {"os": str(repo)}, packager="apt")
    host.plan(tree)
    release = Path(repo) / "Release"
    text = release.read_text()
    future = "\n".join("Date: Fri, 01 Jan 2100 00:00:00 UTC" if ln.startswith("Date:") else ln
                       for ln in text.splitlines()) + "\n"  # fmt: skip
    assert future != text
    release.write_text(future)
    copy = next(p for p in _lists(host).iterdir() if p.name.endswith("_Release"))
    os.unlink(copy)
    copy.write_text(future)
    with pytest.raises(RepoError):
        host.plan(tree)
    assert len(apt_updates) == 2


@pytest.mark.parametrize("gone", ["index", "release"])
@pytest.mark.parametrize("style", ["flat", "suite"])
def test_a_list_file_gone_is_fetched_again_and_read(tmp_path: Path, style: str, gone: str) -> None:
    """Whatever `apt update` puts back in the lists (a regular file, or the link apt makes to a
    flat source's uncompressed index) is read by the same run: before, a re-created link left the
    cache as it was opened, without that source's packages ("no package of that name"), plan and
    apply alike, until the next run."""
    from tests.builders.debrepo import deb, make_repo

    repo = make_repo(tmp_path / "r", [deb("foo=1.0-1")], suite="s" if style == "suite" else None)
    url = "file://%s s main" % repo if style == "suite" else str(repo)
    host = Host(tmp_path / "h")
    tree = profile_tree({"foo": None}, {"os": url}, packager="apt")

    def remove() -> None:
        victims = [
            p
            for p in _lists(host).iterdir()
            if p.name.endswith("Release" if gone == "release" else "Packages")
        ]
        assert victims, sorted(p.name for p in _lists(host).iterdir())
        for p in victims:
            p.unlink()

    first = _names(host.plan(tree))
    assert first == {"foo": "1.0-1"}
    remove()
    assert _names(host.plan(tree)) == first
    remove()
    host.apply(tree)
    remove()
    assert _names(host.plan(tree)) == {}
