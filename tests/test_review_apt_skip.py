"""Adversarial review of the plan's `apt update` skip (backends/apt/config.py _lists_current):
a plan made without the update must be the plan made after it. `apt update` deletes every list
file no line of the source list owns any more; kept, the repository priority filter
(sources.filter_lists, which reads the lists by URI) counts their packages as a kept
repository's and hides what another repository offers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.apt
pytest.importorskip("apt_pkg")


def _names(result: Any) -> Dict[str, Any]:
    return {a["name"]: a["to"] for a in result.plan["actions"]}


def _suite(mirror: Path, suite: str, components: Dict[str, Any]) -> str:
    """A suite of a local mirror with its components, as a Debian mirror publishes it (binary-all
    indexes too, which apt reads for every component when the Release lists `all`)."""
    from tests.builders.debrepo import _ftparchive, make_repo

    for comp, debs in components.items():
        built = make_repo(mirror.parent / ("build-%s-%s" % (suite, comp)), debs, suite=suite, component=comp)
        shutil.copytree(built / "dists", mirror / "dists", dirs_exist_ok=True)
        shutil.copytree(built / "pool", mirror / "pool", dirs_exist_ok=True)
        amd64 = mirror / "dists" / suite / comp / "binary-amd64/Packages"
        (amd64.parent.parent / "binary-all").mkdir()
        (amd64.parent.parent / "binary-all/Packages").write_bytes(amd64.read_bytes())
    release = _ftparchive(["-o", "APT::FTPArchive::Release::Suite=%s" % suite,
                           "-o", "APT::FTPArchive::Release::Codename=%s" % suite,
                           "-o", "APT::FTPArchive::Release::Architectures=all amd64",
                           "-o", "APT::FTPArchive::Release::Components=%s" % " ".join(components),
                           "release", "dists/%s" % suite], mirror)  # fmt: skip
    (mirror / "dists" / suite / "Release").write_bytes(release)
    return "file://%s %s %s" % (mirror, suite, " ".join(components))


def _layout(tmp: Path, how: str) -> Dict[str, Any]:
    """(every source, the ones kept): `tool` 1.0-1 only in what the profile drops, below or
    beside what it keeps under the same URI."""
    from tests.builders.debrepo import deb, make_repo

    if how == "below":  # file:/m/old, dropped, lies below file:/m, kept
        top = make_repo(tmp / "m", [deb("base=2.0-1")])
        old = make_repo(tmp / "m" / "old", [deb("base=1.0-1"), deb("tool=1.0-1")])
        return {"every": {"top": str(top), "old": str(old)}, "kept": {"top": str(top)}}
    mirror = tmp / "mirror"
    if how == "suite":  # `old` and `new` of one mirror; `old` dropped
        gone = _suite(mirror, "old", {"main": [deb("base=1.0-1"), deb("tool=1.0-1")]})
        new = _suite(mirror, "new", {"main": [deb("base=2.0-1")]})
        return {"every": {"old": gone, "new": new}, "kept": {"new": new}}
    both = _suite(mirror, "s", {"main": [deb("base=2.0-1")], "extra": [deb("tool=1.0-1")]})
    return {
        "every": {"mirror": both},
        "kept": {"mirror": both.rsplit(" ", 1)[0]},
    }  # `s main extra` -> `s main`


def _tree(packages: Dict[str, Any], repos: Dict[str, str]) -> Dict[str, Any]:
    tree = profile_tree(packages, repos, packager="apt")
    for r in tree["software"]["repositories"]:
        r["priority"] = 50 if r["name"] == "other" else 10
    return tree


@pytest.mark.parametrize("how", ["below", "suite", "component"])
@pytest.mark.parametrize("skip", [True, False], ids=["skip", "update"])
def test_lists_no_source_owns_do_not_outlive_the_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, apt_updates: List[int], how: str, skip: bool
) -> None:
    from spma.backends.apt.config import AptRoot

    from tests.builders.debrepo import deb, make_repo

    if not skip:
        monkeypatch.setattr(AptRoot, "_lists_current", lambda self, request, slist, *cache: False)
    repos = _layout(tmp_path, how)
    other = str(make_repo(tmp_path / "other", [deb("tool=5.0-1")]))
    host = Host(tmp_path / "h", boot=True)
    assert _names(host.plan(_tree({"base": None}, dict(repos["every"], other=other)))) == {"base": "2.0-1"}
    kept = dict(repos["kept"], other=other)
    assert _names(host.plan(_tree({"base": None, "tool": None}, kept))) == {"base": "2.0-1", "tool": "5.0-1"}
    if skip:  # once apt has cleaned its lists, they are current again
        ran = len(apt_updates)
        assert _names(host.plan(_tree({"base": None, "tool": None}, kept))) == {
            "base": "2.0-1",
            "tool": "5.0-1",
        }
        assert len(apt_updates) == ran


@pytest.mark.parametrize("how", ["first line", "lower case"])
@pytest.mark.parametrize("skip", [True, False], ids=["skip", "update"])
def test_an_expired_release_is_refused_as_apt_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, skip: bool
) -> None:
    """apt refuses a Release whose Valid-Until has passed, even one it already holds, signed
    or not: the plan fails as apt's update fails, whatever way the Release spells the field."""
    from spma.backends.apt.config import AptRoot

    from spma.errors import RepoError
    from tests.builders.debrepo import deb, make_repo

    if not skip:
        monkeypatch.setattr(AptRoot, "_lists_current", lambda self, request, slist, *cache: False)
    repo = make_repo(tmp_path / "r", [deb("libc6=2.36-1")])
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"libc6": None}, {"os": str(repo)}, packager="apt")
    host.plan(tree)
    release = repo / "Release"
    expired = "Thu, 01 Jan 2015 00:00:00 UTC"
    text = release.read_text()
    if how == "first line":
        text = "Valid-Until: %s\n" % expired + text
    else:
        text = text.replace("\nMD5Sum:", "\nvalid-until: %s\nMD5Sum:" % expired, 1)
    release.write_text(text)
    # the copy apt holds is that Release, as an update made before it expired fetched it
    copy = next(
        p for p in (host.root / "var/lib/spma/cache/apt/lists").iterdir() if p.name.endswith("_Release")
    )
    copy.write_text(text)
    with pytest.raises(RepoError, match="expired"):
        host.plan(tree)
