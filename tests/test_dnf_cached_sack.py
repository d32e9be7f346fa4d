"""A plan reads its sack straight from dnf's metadata cache (backends/dnf/sack.py) when every
repository is local and its cache is current; it must plan exactly what dnf.Base's fill_sack
gives. Each case plans twice on the same root, once from the cache and once with that path
turned off, and the plans must be identical: installed packages and upgrades, priorities,
repository excludes and includes, modular repositories with default and enabled streams; a
stale cache, a missing repository and remote URLs take dnf's own path."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from spma.backends.dnf import sack as cached_sack

from spma.errors import RepoError
from spma.model import Repository, SolveRequest
from tests.dnf_fixtures import SPECS, fixture_repo
from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.dnf


class _Spy:
    """Records whether each plan's sack came from the cache."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.used: List[bool] = []
        self._real = cached_sack.load
        self._off = False
        monkeypatch.setattr(cached_sack, "load", self._load)

    def _load(self, root: Any, request: Any) -> Optional[cached_sack.Cached]:
        got = None if self._off else self._real(root, request)
        self.used.append(got is not None)
        return got

    def plan(self, host: Host, tree: Dict[str, Any], *, cache: bool) -> str:
        self._off = not cache
        try:
            return json.dumps(host.plan(tree).plan, indent=1, sort_keys=True)
        finally:
            self._off = False


def _same_both_ways(spy: _Spy, host: Host, tree: Dict[str, Any]) -> Dict[str, Any]:
    host.plan(tree)  # fills dnf's cache if this root has none yet
    fast = spy.plan(host, tree, cache=True)
    assert spy.used[-1], "the plan did not read the sack from the cache"
    slow = spy.plan(host, tree, cache=False)
    assert fast == slow
    return dict(json.loads(fast))


def _to(plan: Dict[str, Any]) -> Dict[str, Optional[str]]:
    return {a["name"]: a["to"] for a in plan["actions"]}


def test_installed_root_upgrades_and_kernels(tmp_path: Path, repos: Dict[str, str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = Host(tmp_path, boot=True)
    host.apply(profile_tree({"foo": "1.0-1", "bar": "1.0-1", "kernel": "6.1.0-1", "tool": None},
                            {"snap1": repos["snap1"]}))  # fmt: skip
    spy = _Spy(monkeypatch)
    plan = _same_both_ways(spy, host, profile_tree(
        {"foo": None, "bar": None, "app": None, "kernel": ["6.2.0-1", "6.3.0-1"]}, {"snap2": repos["snap2"]}))  # fmt: skip
    assert _to(plan)["foo"] == "2.0-1" and "tool" in _to(plan)  # upgraded; tool removed (not declared)


def test_whole_process_reads_the_root_rpmdb(tmp_path: Path, repos: Dict[str, str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """In a fresh process nothing but the sack loader sets up rpm: the plan from the cache must
    still read the root's rpmdb (libdnf's configuration re-reads rpm's macros, so the rpmdb pin
    has to come after it) and equal dnf.Base's plan."""
    host = Host(tmp_path, boot=True)
    host.apply(profile_tree({"foo": "1.0-1", "tool": None}, {"snap1": repos["snap1"]}))
    tree = profile_tree({"foo": None, "app": None}, {"snap2": repos["snap2"]})
    host.plan(tree)
    p = host.cli("plan", "--boot", "--format", "json", profile=tree)
    assert p.returncode == 0, p.stderr
    spy = _Spy(monkeypatch)
    assert json.loads(p.stdout) == json.loads(spy.plan(host, tree, cache=False))
    assert ("upgrade", "foo") in {(a["action"], a["name"]) for a in json.loads(p.stdout)["actions"]}


def test_priorities_excludes_and_includes(tmp_path: Path, repos: Dict[str, str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = Host(tmp_path, boot=True)
    spy = _Spy(monkeypatch)
    tree = profile_tree({"foo": None, "bar": None, "lib": None, "tool": None, "app": None},
                        {"old": repos["snap1"], "new": repos["snap2"]})  # fmt: skip
    old, new = tree["software"]["repositories"]
    old["priority"] = 10  # the older snapshot wins wherever it has the name
    new["excludepkgs"] = ["tool"]
    plan = _same_both_ways(spy, host, tree)
    assert _to(plan)["foo"] == "1.1-1" and _to(plan)["tool"] == "1.0-1"
    del old["priority"]
    old["includepkgs"] = ["tool", "kernel*"]  # only these names from the older snapshot
    new["excludepkgs"] = ["lib-2*"]
    plan = _same_both_ways(spy, host, tree)
    assert _to(plan) == {"foo": "2.0-1", "bar": "2.0-1", "lib": "1.0-1", "tool": "2.0-1", "app": "1.0-1"}


@pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/corpus/dnf-fixtures is not present")
def test_modular_repository_default_and_enabled_streams(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    repo = fixture_repo("dnf-ci-fedora-modular", tmp_path / "repos")
    host = Host(tmp_path, boot=True)
    spy = _Spy(monkeypatch)
    (host.root / "etc").mkdir()
    (host.root / "etc" / "os-release").write_text('NAME=Fedora\nVERSION_ID=29\nPLATFORM_ID="platform:f29"\n')
    tree = profile_tree({"nodejs-docs": None}, {"modular": str(repo)})  # noarch, no dependencies
    # the default stream (8), not the highest version the repository has (11)
    assert _to(_same_both_ways(spy, host, tree))["nodejs-docs"] == "1:8.11.4-1.module_2030+42747d40"
    modules_d = host.root / "etc" / "dnf" / "modules.d"  # what `dnf module enable nodejs:10` writes
    modules_d.mkdir(parents=True)
    (modules_d / "nodejs.module").write_text("[nodejs]\nname=nodejs\nstream=10\nprofiles=\nstate=enabled\n")
    assert _to(_same_both_ways(spy, host, tree))["nodejs-docs"] == "1:10.11.0-1.module_2200+adbac02b"


def test_stale_cache_takes_dnf_path_and_refreshes(
    tmp_path: Path, repos: Dict[str, str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    mirror = tmp_path / "mirror"
    shutil.copytree(repos["snap1"], mirror)
    host = Host(tmp_path, boot=True)
    spy = _Spy(monkeypatch)
    tree = profile_tree({"foo": None}, {"mirror": str(mirror)})
    assert _to(host.plan(tree).plan)["foo"] == "1.1-1"
    assert spy.used == [False]  # no cache yet: dnf.Base loads and fills it
    assert _to(host.plan(tree).plan)["foo"] == "1.1-1"
    assert spy.used[-1]
    shutil.rmtree(mirror)
    shutil.copytree(repos["snap2"], mirror)  # the snapshot URL now serves newer metadata
    assert _to(host.plan(tree).plan)["foo"] == "2.0-1"
    assert not spy.used[-1]
    assert _to(host.plan(tree).plan)["foo"] == "2.0-1"
    assert spy.used[-1]


def test_missing_repository_is_named_as_before(tmp_path: Path, repos: Dict[str, str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = Host(tmp_path, boot=True)
    spy = _Spy(monkeypatch)
    tree = profile_tree({"foo": None}, {"snap2": repos["snap2"], "broken": str(tmp_path / "nothing")})
    errors = []
    for cache in (True, False):
        with pytest.raises(RepoError) as e:
            spy.plan(host, tree, cache=cache)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert (
        "repository broken (file://%s): metadata could not be loaded" % (tmp_path / "nothing") in errors[0]
    )
    assert spy.used == [False, False]


@pytest.mark.parametrize("urls,local", [
    (("file:///srv/repo",), True),
    (("/srv/repo",), False),  # dnf makes it a file:// URL itself
    (("http://mirror/repo",), False),
    (("file:///srv/$releasever/repo",), False),
    (("file:///srv/a%20b",), False),
    (("file://host/srv/repo",), False),
    (("file:///srv/a", "file:///srv/b"), False),
])  # fmt: skip
def test_only_plain_local_urls_are_read_from_the_cache(urls: tuple, local: bool) -> None:
    request = SolveRequest(packages=(), repositories=(Repository(name="r", baseurls=urls),))
    assert (cached_sack.local_origins(request) is not None) is local


@pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/corpus/dnf-fixtures is not present")
@pytest.mark.parametrize("where", ["var/lib/dnf/modulefailsafe", "nowhere"])
def test_module_failsafe_without_modular_metadata(tmp_path: Path, monkeypatch, where: str) -> None:  # type: ignore[no-untyped-def]
    """An enabled stream whose repository is gone leaves libdnf's fail-safe copy of its metadata
    in the root: module filtering must still run although no repository has modules metadata."""
    from tests.builders.rpmrepo import make_repo, parse

    plain = make_repo(tmp_path / "plain", [parse("nodejs-docs-20.0-1")])
    host = Host(tmp_path, boot=True)
    (host.root / "etc" / "dnf" / "modules.d").mkdir(parents=True)
    (host.root / "etc" / "os-release").write_text('NAME=Fedora\nVERSION_ID=29\nPLATFORM_ID="platform:f29"\n')
    (host.root / "etc" / "dnf" / "modules.d" / "nodejs.module").write_text(
        "[nodejs]\nname=nodejs\nstream=8\nprofiles=\nstate=enabled\n")  # fmt: skip
    if where != "nowhere":
        docs = (SPECS / "dnf-ci-fedora-modular" / "modules.yaml").read_text().split("\n---\n")
        stream8 = next(d for d in docs if "\n  name: nodejs\n  stream: 8\n" in d)
        (host.root / where).mkdir(parents=True)
        (host.root / where / "nodejs:8:x86_64.yaml").write_text("---\n" + stream8.lstrip("-\n") + "\n...\n")
    spy = _Spy(monkeypatch)
    tree = profile_tree({"nodejs-docs": None}, {"plain": str(plain)})
    outcomes = []
    for cache in (False, True, False):  # the first fills dnf's cache (a ResolveError comes after)
        try:
            outcomes.append(spy.plan(host, tree, cache=cache))
        except Exception as e:  # noqa: BLE001 - the same outcome both ways is the point
            outcomes.append("%s: %s" % (type(e).__name__, e))
    assert spy.used == [False, True, False]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    # the enabled stream hides the non-modular package of the same name
    assert outcomes[0].startswith("ResolveError") == (where != "nowhere")


@pytest.mark.parametrize("provide,said", [
    ("system-release(releasever) = 9+x", "'9+x'"),  # not a plain value: ignored, and said
    ("system-release(releasever) = 9", None),
])  # fmt: skip
def test_release_version_is_checked_alike(
    tmp_path: Path, monkeypatch, provide: str, said: Optional[str]
) -> None:  # type: ignore[no-untyped-def]
    from tests.builders.rpmrepo import make_repo, parse

    repo = make_repo(
        tmp_path / "rel", [parse("centos-release-9.0-1", provides=[provide]), parse("foo-1.0-1")]
    )
    host = Host(tmp_path, boot=True)
    host.apply(profile_tree({"centos-release": None}, {"rel": str(repo)}))
    spy = _Spy(monkeypatch)
    tree = profile_tree({"centos-release": None, "foo": None}, {"rel": str(repo)})

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.said: List[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            if "release version" in record.getMessage():
                self.said.append(record.getMessage())

    # the backend's own logger: another test's CLI run may have stopped propagation to the root
    log = logging.getLogger("spma.dnf")
    warnings = []
    for cache in (True, False):
        keep, level = Keep(), log.level
        log.addHandler(keep)
        log.setLevel(logging.DEBUG)  # and a --quiet run may have raised the level
        monkeypatch.setattr(log, "disabled", False)
        try:
            spy.plan(host, tree, cache=cache)
        finally:
            log.removeHandler(keep)
            log.setLevel(level)
        warnings.append(keep.said)
    assert spy.used == [True, False]
    assert warnings[0] == warnings[1]
    assert bool(warnings[0]) == bool(said) and all(said in w for w in warnings[0])
