"""Smaller apt points seen on a real Debian root, each on real apt/dpkg: per-repository metadata
pins on one mirror, holds on undeclared packages reported, the root's own sources.list with
userrepos: no, a wrong signing key named, `Architecture: all` shown as `all`, the hold hint, and
a version set for another Debian release."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from spma.errors import RepoError, ResolveError, VersionSetError
from tests.builders.debrepo import deb, dpkg_installed, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import _signed, apt_profile, signed_debs  # noqa: F401 - the fixture is used

pytestmark = pytest.mark.apt

MAIN = [deb("foo=1.0-1"), deb("bar=1.0-1", depends=["foo"]), deb("native=1.0-1", arch="amd64")]
UPDATES = [deb("foo=1.1-1"), deb("native=1.1-1", arch="amd64")]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mirror with two suites, as bookworm and bookworm-updates share deb.debian.org."""
    base = tmp_path_factory.mktemp("mirror")
    make_repo(base / "m", MAIN, suite="s")
    make_repo(base / "u", UPDATES, suite="s-updates")
    shutil.copytree(base / "u" / "dists" / "s-updates", base / "m" / "dists" / "s-updates")
    for f in (base / "u" / "pool").iterdir():
        shutil.copyfile(f, base / "m" / "pool" / f.name)
    return base / "m"


def two_suites(m: Path, pins=(None, None), **spma) -> dict:  # type: ignore[no-untyped-def]
    prof = apt_profile({"bar": None}, "file://%s s main" % m, **spma)
    prof["software"]["repositories"].append(
        {
            "name": "updates",
            "gpgcheck": False,
            "protocols": [{"name": "file", "url": "file://%s s-updates main" % m}],
        }
    )
    for repo, pin in zip(prof["software"]["repositories"], pins):
        if pin:
            repo["metadata_sha256"] = pin
    return prof


def test_metadata_pins_per_repository_on_one_mirror(tmp_path: Path, mirror: Path):
    own = [
        hashlib.sha256((mirror / "dists" / s / "Release").read_bytes()).hexdigest()
        for s in ("s", "s-updates")
    ]
    assert own[0] != own[1]
    host = Host(tmp_path / "h", boot=True)
    res = host.apply(two_suites(mirror, pins=own))
    assert res.plan["inputs"]["repositories"] == {"os": "sha256:" + own[0], "updates": "sha256:" + own[1]}
    assert dpkg_installed(host.root) == {"bar": "1.0-1", "foo": "1.1-1"}
    with pytest.raises(RepoError, match="repository updates: metadata has sha256:%s" % own[1]):
        host.plan(two_suites(mirror, pins=(own[0], own[0])))


def test_a_hold_on_an_undeclared_package_is_reported_and_kept(tmp_path: Path, mirror: Path):
    host = Host(tmp_path / "h", boot=True)
    host.apply(apt_profile({"bar": None, "native": None}, "file://%s s main" % mirror))
    subprocess.run(["dpkg", "--root=%s" % host.root, "--set-selections"], input="foo hold\nnative hold\n",
                   text=True, check=True)  # fmt: skip
    res = host.apply(two_suites(mirror))  # foo would move to 1.1-1; native is no longer declared
    assert res.plan["actions"] == []
    notes = res.plan["notes"]
    assert any(
        n.startswith("foo 1.0-1 is held (apt-mark hold)") and "the sources offer 1.1-1" in n for n in notes
    )
    assert any(n.startswith("native 1.0-1 is held") and "not declared" in n and "apt-mark unhold native" in n
               for n in notes)  # fmt: skip
    assert dpkg_installed(host.root) == {"bar": "1.0-1", "foo": "1.0-1", "native": "1.0-1"}
    p = host.cli("plan", "--boot", profile=two_suites(mirror))
    assert p.returncode == 0 and "note: foo 1.0-1 is held" in p.stdout, p.stdout


def test_the_hold_error_says_how_to_release_it(tmp_path: Path, mirror: Path):
    host = Host(tmp_path / "h", boot=True)
    host.apply(apt_profile({"bar": None}, "file://%s s main" % mirror))
    subprocess.run(
        ["dpkg", "--root=%s" % host.root, "--set-selections"], input="foo hold\n", text=True, check=True
    )
    prof = two_suites(mirror)
    prof["software"]["packages"]["foo"] = {"1.1_2d1": {"arch": {"all": ""}}}
    with pytest.raises(ResolveError) as ei:
        host.plan(prof)
    assert "foo: held with apt-mark hold at 1.0-1, but the profile needs 1.1-1" in str(ei.value)
    assert "apt-mark unhold" in ei.value.hint


@pytest.mark.parametrize("userrepos", ["no", "yes"])
def test_userrepos_no_neutralises_the_roots_sources_list(tmp_path: Path, mirror: Path, userrepos: str):
    host = Host(tmp_path / "h", boot=True)
    (host.root / "etc/apt").mkdir(parents=True)
    theirs = "deb http://deb.debian.org/debian bookworm main\n"
    (host.root / "etc/apt/sources.list").write_text(theirs)
    host.apply(apt_profile({"bar": None}, "file://%s s main" % mirror, userrepos=userrepos))
    now = (host.root / "etc/apt/sources.list").read_text()
    if userrepos == "no":
        assert all(ln.startswith("#") for ln in now.splitlines()), now
        assert (host.root / "etc/apt/sources.list.spma-saved").read_text() == theirs
    else:
        assert now == theirs


def test_a_wrong_signing_key_names_the_repository_and_apts_error(tmp_path: Path, signed_debs):  # noqa: F811
    host = Host(tmp_path / "h", boot=True)
    with pytest.raises(RepoError) as ei:
        host.apply(_signed(signed_debs["url"], [signed_debs["other"]]))
    msg = str(ei.value)
    assert msg.startswith("apt sources could not be updated:\n  repository os ") and "NO_PUBKEY" in msg, msg


def test_architecture_all_is_shown_as_all(tmp_path: Path, mirror: Path):
    host = Host(tmp_path / "h", boot=True)
    res = host.apply(apt_profile({"bar": None, "native": None}, "file://%s s main" % mirror))
    assert {a["name"]: a["arch"] for a in res.plan["actions"]} == {
        "bar": "all",
        "foo": "all",
        "native": "amd64",
    }
    hist = sorted((host.root / "var/lib/spma/history").iterdir())[-1]
    assert {a["name"]: a["arch"] for a in json.loads(hist.read_text())["actions"]}["foo"] == "all"
    res = host.apply(apt_profile({"native": None}, "file://%s s main" % mirror))
    assert {(a["action"], a["name"], a["arch"]) for a in res.plan["actions"]} == {("remove", "bar", "all"),
                                                                                  ("remove", "foo", "all")}  # fmt: skip


def test_a_version_set_for_another_debian_release_is_one_clear_error(tmp_path: Path, mirror: Path):
    host = Host(tmp_path / "h", boot=True)
    (host.root / "etc").mkdir(parents=True)
    (host.root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    es = tmp_path / "bullseye.json"
    es.write_text(json.dumps({
        "format": "spma-versionset/1", "id": "debian-bullseye-2024-06-30", "os": "debian-bullseye", "family": "deb",
        "cutoff": "2024-06-30", "sources": [], "kernel": None,
        "packages": {n: {"evr": "9.9-1", "arch": ["all"], "advisories": ["DSA-1"]} for n in ("foo", "bar")},
    }))  # fmt: skip
    with pytest.raises(VersionSetError) as ei:
        host.plan(apt_profile({"bar": None}, "file://%s s main" % mirror), errata=str(es))
    assert "a version set for debian bullseye, but the root is debian bookworm" in str(ei.value)
    assert str(ei.value).count("\n") == 0
    es.write_text(es.read_text().replace("bullseye", "bookworm").replace("9.9-1", "1.0-1"))
    host.plan(apt_profile({"bar": None}, "file://%s s main" % mirror), errata=str(es))


def test_the_no_op_fast_path_rebuilds_nothing(tmp_path: Path, mirror: Path):
    """Found on a real root: the fast path rewrote spma's sources.list (so apt rebuilt its whole
    package cache) and opened python-apt's cache twice; now it only refreshes the indexes."""
    host = Host(tmp_path / "h", boot=True)
    prof = two_suites(mirror)
    assert host.cli("apply", "--agent", "--boot", profile=prof).returncode == 0
    apt_dir = host.root / "var/lib/spma/cache/apt"
    before = {
        f: (apt_dir / f).stat().st_mtime_ns for f in ("pkgcache.bin", "srcpkgcache.bin", "etc/sources.list")
    }
    p = host.cli("apply", "--agent", "--boot", profile=prof)
    assert "step=fast-path unchanged=True" in p.stderr and "step=solve" not in p.stderr, p.stderr
    assert {f: (apt_dir / f).stat().st_mtime_ns for f in before} == before
