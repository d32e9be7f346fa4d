"""A plan keeps module filtering's outcome in the root's spma dnf cache (backends/dnf/modular.py)
and reuses it while nothing it depends on changed. Every input of that outcome is changed in
turn after a plan filled the cache: the next plan must be what dnf.Base's own filtering gives,
and must differ from the first (so the case proves the change was seen). A cache file that is
damaged, names packages that are not there, or is a link out of the root is never trusted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import pytest
from spma.backends.dnf import modular
from spma.backends.dnf import sack as cached_sack

from tests.dnf_fixtures import SPECS, fixture_repo
from tests.helpers import Host, profile_tree

pytestmark = [pytest.mark.dnf, pytest.mark.skipif(not SPECS.is_dir(), reason="corpus dnf-fixtures absent")]

_F29 = 'NAME=Fedora\nVERSION_ID=29\nPLATFORM_ID="platform:f29"\n'
_CACHE = "var/lib/spma/cache/dnf/" + modular._NAME


def _outcome(host: Host, tree: Dict[str, Any]) -> str:
    try:
        plan = host.plan(tree).plan
    except Exception as e:  # noqa: BLE001 - the same outcome both ways is the point
        return "%s: %s" % (type(e).__name__, e)
    return json.dumps({a["name"]: a["to"] for a in plan["actions"]}, sort_keys=True)


def _by_dnf(host: Host, tree: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as m:
        m.setattr(cached_sack, "load", lambda root, request: None)
        return _outcome(host, tree)


def _defaults(root: Path, stream: str) -> None:
    d = root / "etc" / "dnf" / "modules.defaults.d"
    d.mkdir(parents=True, exist_ok=True)
    (d / "nodejs.yaml").write_text(
        "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: nodejs\n  stream: %s\n"
        "  profiles:\n    %s: [default]\n...\n" % (stream, stream)
    )


def _enable(root: Path, stream: str) -> None:
    d = root / "etc" / "dnf" / "modules.d"
    d.mkdir(parents=True, exist_ok=True)
    (d / "nodejs.module").write_text("[nodejs]\nname=nodejs\nstream=%s\nprofiles=\nstate=enabled\n" % stream)


def _disable(root: Path) -> None:
    d = root / "etc" / "dnf" / "modules.d"
    d.mkdir(parents=True, exist_ok=True)
    (d / "nodejs.module").write_text("[nodejs]\nname=nodejs\nstream=\nprofiles=\nstate=disabled\n")


def _platform(root: Path, where: str, platform: str) -> None:
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / where).write_text(_F29.replace("platform:f29", platform))


CHANGES: Dict[str, Callable[[Path], None]] = {
    "stream enabled in modules.d": lambda r: _enable(r, "10"),
    "enabled stream switched": lambda r: _enable(r, "11"),  # from 10, enabled before the first plan
    "stream disabled": _disable,
    "default stream set in modules.defaults.d": lambda r: _defaults(r, "10"),
    "platform changed in etc/os-release": lambda r: _platform(r, "etc/os-release", "platform:f30"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_input_of_module_filtering_is_seen(tmp_path: Path, monkeypatch, change: str) -> None:  # type: ignore[no-untyped-def]
    repo = fixture_repo("dnf-ci-fedora-modular", tmp_path / "repos")
    host = Host(tmp_path, boot=True)
    (host.root / "etc").mkdir()
    (host.root / "etc" / "os-release").write_text(_F29)
    tree = profile_tree({"nodejs-docs": None}, {"modular": str(repo)})
    if change == "enabled stream switched":
        _enable(host.root, "10")
    first = _outcome(host, tree)  # fills dnf's metadata cache (dnf.Base path)
    assert _outcome(host, tree) == first  # the cached sack filters and writes module-excludes.json
    assert (host.root / _CACHE).is_file()
    assert _outcome(host, tree) == first  # read back
    CHANGES[change](host.root)
    after = _outcome(host, tree)
    assert after == _by_dnf(host, tree, monkeypatch)
    assert after != first, "the change made no difference: the case proves nothing"
    assert _outcome(host, tree) == after  # and the new outcome is kept in turn


def cached_modular_host(tmp_path: Path) -> Tuple[Host, Dict[str, Any], str]:
    """A root planned twice against the modular fixture: dnf's cache, then the module-excludes
    file written by the cached sack; with the tree and the plan's outcome."""
    repo = fixture_repo("dnf-ci-fedora-modular", tmp_path / "repos")
    host = Host(tmp_path / "h", boot=True)
    (host.root / "etc").mkdir()
    (host.root / "etc" / "os-release").write_text(_F29)
    tree = profile_tree({"nodejs-docs": None}, {"modular": str(repo)})
    first = _outcome(host, tree)
    assert _outcome(host, tree) == first
    assert (host.root / _CACHE).is_file()
    return host, tree, first


def _poison(path: Path, how: str, outside: Path) -> None:
    body = json.loads(path.read_text())
    if how == "garbage":
        path.write_bytes(b"\x00{not json")
    elif how == "wrong format":
        body["format"] = 99
        path.write_text(json.dumps(body))
    elif how == "unknown package, right key":
        body["excludes"].setdefault("modular", []).append("nosuch-0:1-1.noarch")
        path.write_text(json.dumps(body))
    elif how == "wrong types, right key":
        body["excludes"] = {"modular": [1, 2]}
        path.write_text(json.dumps(body))
    elif how == "link out of the root":
        outside.write_text(json.dumps(dict(body, excludes={})))
        path.unlink()
        os.symlink(outside, path)


@pytest.mark.parametrize(
    "how",
    [
        "garbage",
        "wrong format",
        "unknown package, right key",
        "wrong types, right key",
        "link out of the root",
    ],
)
def test_a_damaged_cache_is_filtered_again(tmp_path: Path, monkeypatch, how: str) -> None:  # type: ignore[no-untyped-def]
    host, tree, first = cached_modular_host(tmp_path)
    _poison(host.root / _CACHE, how, tmp_path / "outside.json")
    seen: Dict[str, Optional[bool]] = {"filtered": None}
    real = modular._save

    def save(*a: Any) -> None:
        seen["filtered"] = True
        real(*a)

    monkeypatch.setattr(modular, "_save", save)
    assert _outcome(host, tree) == first == _by_dnf(host, tree, monkeypatch)
    assert seen["filtered"], "the damaged cache was used"
    assert not (host.root / _CACHE).is_symlink()
