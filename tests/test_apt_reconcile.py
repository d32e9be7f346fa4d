"""The apt backend on real apt (python-apt) and dpkg, sandbox roots, .debs built with dpkg-deb,
repositories made with apt-ftparchive (flat and suite-style)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, Mapping, Optional

import pytest

from spma import pan
from spma.errors import RepoError, ResolveError
from tests.builders.debrepo import deb, dpkg_installed, make_repo
from tests.helpers import Host

pytestmark = pytest.mark.apt
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("apt_pkg")

OLD = [deb("foo=1.0-1"), deb("foo=1.1-1"), deb("bar=1.0-1", depends=["foo (>= 1.0)"]), deb("lib=1.0-1"),
       deb("app=1.0-1", depends=["lib"]), deb("tool=1.0-1"), deb("libc6=2.36-1"),
       deb("weak=1.0-1", recommends=["tool"])]  # fmt: skip
NEW = OLD + [deb("foo=2.0-1"), deb("bar=2.0-1", depends=["foo (>= 2.0)"]), deb("lib=2.0-1"), deb("tool=2.0-1"),
             deb("libc6=2.36-9")]  # fmt: skip


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    d = tmp_path_factory.mktemp("debs")
    return {
        "old": "file://%s" % make_repo(d / "old", OLD),  # flat: "<uri> ./"
        "new": "file://%s snap main" % make_repo(d / "new", NEW, suite="snap"),  # suite-style
    }


def apt_profile(packages: Mapping[str, Optional[str]], url: str, **spma: object) -> dict:
    pk = {}
    for name, ver in packages.items():
        pk[pan.escape(name)] = {pan.escape(ver): {"arch": {"all": ""}}} if ver else {}
    comp = {"packager": "apt", "userpkgs": "no"}
    comp.update(spma)  # type: ignore[arg-type]
    repos = [{"name": "os", "gpgcheck": False, "protocols": [{"name": "file", "url": url}]}]
    return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": repos}}


@pytest.fixture
def ahost(tmp_path: Path) -> Host:
    return Host(tmp_path, boot=True)  # deferral on apt is refused, not done: see its own test


def installed(host: Host) -> Dict[str, str]:
    return dpkg_installed(host.root)


def acts(res) -> list:  # type: ignore[no-untyped-def]
    return [(a["action"], a["name"], a["from"], a["to"], a["reason"]) for a in res.plan["actions"]]


def test_fresh_install_and_idempotence(ahost: Host, debs):
    prof = apt_profile({"bar": None, "app": None}, debs["new"])
    res = ahost.apply(prof)
    assert acts(res) == [
        ("install", "app", None, "1.0-1", "declared"),
        ("install", "bar", None, "2.0-1", "declared"),
        ("install", "foo", None, "2.0-1", "dependency"),
        ("install", "lib", None, "2.0-1", "dependency"),
    ]
    assert {a["name"]: a["because"] for a in res.plan["actions"]}["foo"] == "required by bar"
    assert installed(ahost) == {"app": "1.0-1", "bar": "2.0-1", "foo": "2.0-1", "lib": "2.0-1"}
    assert ahost.plan(prof).changes == 0
    assert (ahost.root / "etc/apt/sources.list.d/os.list").read_text().endswith("snap main\n")
    # auto/manual marks written, so a later plain `apt autoremove` agrees with the profile
    ext = (ahost.root / "var/lib/apt/extended_states").read_text()
    autos = {b.split("\n")[0].split(": ")[1] for b in ext.split("\n\n") if "Auto-Installed: 1" in b}
    assert autos == {"foo", "lib"}


def test_pin_downgrade_with_dependent_following(ahost: Host, debs):
    ahost.apply(apt_profile({"bar": None}, debs["new"]))
    res = ahost.apply(apt_profile({"bar": None, "foo": "1.1-1"}, debs["new"]))
    assert acts(res) == [
        ("downgrade", "bar", "2.0-1", "1.0-1", "dependency"),
        ("downgrade", "foo", "2.0-1", "1.1-1", "declared"),
    ]
    assert installed(ahost) == {"bar": "1.0-1", "foo": "1.1-1"}
    res = ahost.apply(apt_profile({"bar": None}, debs["new"]))
    assert acts(res) == [
        ("upgrade", "bar", "1.0-1", "2.0-1", "sync"),
        ("upgrade", "foo", "1.1-1", "2.0-1", "sync"),
    ]


def test_snapshot_rollback_moves_everything_down(ahost: Host, debs):
    decl = {"bar": None, "app": None, "tool": None}
    ahost.apply(apt_profile(decl, debs["new"]))
    res = ahost.apply(apt_profile(decl, debs["old"]))
    assert sorted((a[0], a[1], a[3]) for a in acts(res)) == [
        ("downgrade", "bar", "1.0-1"), ("downgrade", "foo", "1.1-1"), ("downgrade", "lib", "1.0-1"),
        ("downgrade", "tool", "1.0-1"),
    ]  # fmt: skip
    assert installed(ahost) == {
        "app": "1.0-1",
        "bar": "1.0-1",
        "foo": "1.1-1",
        "lib": "1.0-1",
        "tool": "1.0-1",
    }
    assert ahost.plan(apt_profile(decl, debs["old"])).changes == 0


def test_unmanaged_and_orphans_removed_whitelist_and_userpkgs(ahost: Host, debs):
    ahost.apply(apt_profile({"bar": None, "app": None, "tool": None}, debs["new"]))
    res = ahost.apply(apt_profile({"bar": None}, debs["new"], whitelist=["to*"]))
    assert acts(res) == [
        ("remove", "app", "1.0-1", None, "unmanaged"),
        ("remove", "lib", "2.0-1", None, "unmanaged"),
    ]
    assert installed(ahost) == {"bar": "2.0-1", "foo": "2.0-1", "tool": "2.0-1"}
    ahost.apply(apt_profile({"bar": None, "app": None}, debs["new"]))
    res = ahost.apply(apt_profile({"bar": None}, debs["new"], userpkgs="yes"))
    assert res.plan["actions"] == [] and "app" in installed(ahost)


def test_weak_dependencies_only_when_enabled(tmp_path: Path, debs):
    host = Host(tmp_path / "a", boot=True)
    res = host.plan(apt_profile({"weak": None}, debs["new"]))
    assert [a["name"] for a in res.plan["actions"]] == ["weak"]
    res = host.plan(apt_profile({"weak": None}, debs["new"], install_weak_deps=True))
    assert [a["name"] for a in res.plan["actions"]] == ["tool", "weak"]


def test_bad_input_changes_nothing(ahost: Host, debs, tmp_path: Path):
    ahost.apply(apt_profile({"bar": None}, debs["new"]))
    before = installed(ahost)
    with pytest.raises(ResolveError) as ei:
        ahost.apply(apt_profile({"bar": None, "nosuch": None, "foo": "9.9-9"}, debs["new"]))
    assert "nosuch: no package of that name" in str(ei.value)
    assert "foo: declared version 9.9-9 not found (available: 1.0-1, 1.1-1, 2.0-1)" in str(ei.value)
    with pytest.raises(RepoError):
        ahost.apply(apt_profile({"bar": None}, "file://%s ./" % (tmp_path / "gone")))
    unsigned = apt_profile({"bar": None}, debs["old"])
    unsigned["software"]["repositories"][0]["gpgcheck"] = True
    with pytest.raises(RepoError, match="not signed|NO_PUBKEY|Release"):
        ahost.apply(unsigned)
    assert installed(ahost) == before
    p = ahost.cli("apply", profile=apt_profile({"nosuch": None}, debs["new"]))
    assert p.returncode == 4 and "spma: hint:" in p.stderr


def test_held_package_that_must_move_is_a_conflict(ahost: Host, debs):
    ahost.apply(apt_profile({"bar": None}, debs["new"]))
    subprocess.run(
        ["dpkg", "--root=%s" % ahost.root, "--set-selections"], input="foo hold\n", text=True, check=True
    )
    with pytest.raises(ResolveError, match="foo: held"):
        ahost.apply(apt_profile({"bar": None, "foo": "1.1-1"}, debs["new"]))
    assert installed(ahost)["foo"] == "2.0-1"


def test_backend_auto_picks_apt_for_a_debian_root(tmp_path: Path, debs):
    host = Host(tmp_path / "c", boot=True)
    (host.root / "etc").mkdir(parents=True)
    (host.root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    prof = apt_profile({"bar": None}, debs["new"])
    prof["software"]["components"]["spma"]["packager"] = "auto"
    res = host.apply(prof)
    assert res.plan["backend"] == "apt" and installed(host)["bar"] == "2.0-1"


def test_no_host_apt_hooks_leak(tmp_path: Path, debs):
    import apt_pkg

    host = Host(tmp_path / "d", boot=True)
    host.plan(apt_profile({"bar": None}, debs["new"]))
    for key in ("DPkg::Post-Invoke", "DPkg::Pre-Install-Pkgs", "APT::Update::Post-Invoke-Success"):
        assert not apt_pkg.config.value_list(key), key
    assert apt_pkg.config.find("APT::Install-Recommends") == "false"
    assert apt_pkg.config.find_file("Dir::State::status") == str(host.root / "var/lib/dpkg/status")
    assert "APT_CONFIG" not in os.environ  # nothing leaks to later child processes
    # nothing of an earlier root in this process survives in list values
    other = Host(tmp_path / "e", boot=True)
    subprocess.run(["dpkg", "--root=%s" % other.root, "--add-architecture", "i386"], check=False)
    other.plan(apt_profile({"bar": None}, debs["new"]))
    host.plan(apt_profile({"bar": None}, debs["new"]))
    assert apt_pkg.config.value_list("APT::Architectures") == ["amd64"]
    assert [o for o in apt_pkg.config.value_list("DPkg::Options") if o.startswith("--root")] == [
        "--root=%s" % host.root
    ]


@pytest.fixture(scope="module")
def signed_debs(tmp_path_factory: pytest.TempPathFactory):
    from tests.builders.rpmrepo import SigningKey

    d = tmp_path_factory.mktemp("signed-debs")
    key, other = SigningKey(d / "gnupg"), SigningKey(d / "gnupg-other", name="spma-other-key")
    repo = make_repo(d / "repo", NEW, suite="snap", sign=key)
    yield {"url": "file://%s snap main" % repo, "key": str(key.public), "other": str(other.public)}
    key.close()
    other.close()


def _signed(url: str, keys) -> dict:  # type: ignore[no-untyped-def]
    prof = apt_profile({"bar": None}, url)
    r = prof["software"]["repositories"][0]
    r["gpgcheck"] = True
    r["gpgkey"] = ["file://" + k for k in keys]
    return prof


def test_signed_sources_with_the_profiles_key(tmp_path: Path, signed_debs):
    host = Host(tmp_path / "ok", boot=True)
    host.apply(_signed(signed_debs["url"], [signed_debs["key"]]))
    assert installed(host) == {"bar": "2.0-1", "foo": "2.0-1"}
    line = (host.root / "etc/apt/sources.list.d/os.list").read_text()
    assert "[signed-by=/etc/apt/keyrings/spma-os-0.asc]" in line and "trusted=yes" not in line
    assert (host.root / "etc/apt/keyrings/spma-os-0.asc").read_bytes() == Path(
        signed_debs["key"]
    ).read_bytes()


@pytest.mark.parametrize("case", ["wrong-key", "no-key"])
def test_wrongly_signed_sources_are_refused(tmp_path: Path, signed_debs, case):
    host = Host(tmp_path / case, boot=True)
    keys = [signed_debs["other"]] if case == "wrong-key" else []
    with pytest.raises(RepoError):
        host.apply(_signed(signed_debs["url"], keys))
    assert installed(host) == {}


def test_cli_exit_codes_on_apt(ahost: Host, debs):
    from spma.state import run_lock

    assert (
        ahost.cli("apply", "--boot", profile=apt_profile({"bar": None, "app": None}, debs["new"])).returncode
        == 0
    )
    before = installed(ahost)
    assert ahost.cli("apply", "--boot", profile=apt_profile({}, debs["new"])).returncode == 7
    assert (
        ahost.cli(
            "apply", "--boot", profile=apt_profile({"bar": None}, debs["new"], max_removals=1)
        ).returncode
        == 7
    )
    with run_lock(str(ahost.root), timeout=1):
        assert ahost.cli("apply", "--boot", "--lock-timeout", "0.3",
                         profile=apt_profile({"bar": None}, debs["new"])).returncode == 6  # fmt: skip
    prof = ahost.write(apt_profile({"bar": None, "app": None, "foo": "1.1-1"}, debs["new"]))
    out = ahost.base / "plan.json"
    assert ahost.cli("plan", "--boot", str(prof), "--out", str(out)).returncode == 0
    subprocess.run(["dpkg", "--root=%s" % ahost.root, "-r", "app"], check=True, capture_output=True)
    p = ahost.cli("apply", "--boot", str(prof), "--plan", str(out))
    assert p.returncode == 8 and "the installed packages" in p.stderr
    before.pop("app")
    assert installed(ahost) == before


def test_multiarch_names(tmp_path: Path):
    pkgs = [deb("libz=1.0-1", arch=a, multiarch="same") for a in ("amd64", "i386")]
    pkgs += [deb("tool=1.0-1", arch=a) for a in ("amd64", "i386")]  # not Multi-Arch: same
    repo = make_repo(tmp_path / "ma", pkgs, suite="s")
    url = "file://%s s main" % repo
    host = Host(tmp_path / "m", boot=True)
    (host.root / "var/lib/dpkg").mkdir(parents=True)
    (host.root / "var/lib/dpkg/status").touch()
    with pytest.raises(ResolveError, match="architecture i386 is not enabled"):
        host.plan(apt_profile({"libz:i386": None}, url))
    subprocess.run(["dpkg", "--root=%s" % host.root, "--add-architecture", "i386"], check=True)

    def arches() -> list:
        q = subprocess.run(["dpkg-query", "--admindir=%s/var/lib/dpkg" % host.root, "-W", "-f=${binary:Package}\n"],
                           capture_output=True, text=True)  # fmt: skip
        return sorted(q.stdout.split())

    res = host.apply(apt_profile({"libz:amd64": None, "libz:i386": None}, url))
    assert sorted((a["name"], a["arch"]) for a in res.plan["actions"]) == [
        ("libz", "amd64"),
        ("libz", "i386"),
    ]
    assert arches() == ["libz:amd64", "libz:i386"]
    res = host.apply(apt_profile({"libz:amd64": None}, url))
    assert [(a["action"], a["name"], a["arch"]) for a in res.plan["actions"]] == [("remove", "libz", "i386")]
    assert arches() == ["libz:amd64"]
    with pytest.raises(ResolveError, match="cannot be installed together"):
        host.plan(apt_profile({"tool:amd64": None, "tool:i386": None}, url))


def test_agent_fast_path_on_apt(ahost: Host, debs):
    prof = apt_profile({"bar": None}, debs["new"])
    p = ahost.cli("apply", "--agent", "--boot", profile=prof)
    assert p.returncode == 0 and p.stdout == "" and "step=transaction" in p.stderr, p.stderr
    p = ahost.cli("apply", "--agent", "--boot", profile=prof)
    assert "step=fast-path unchanged=True" in p.stderr and "step=solve" not in p.stderr
    subprocess.run(["dpkg", "--root=%s" % ahost.root, "-r", "bar"], check=True, capture_output=True)
    p = ahost.cli("apply", "--agent", "--boot", profile=prof)
    assert "step=fast-path unchanged=False" in p.stderr and installed(ahost)["bar"] == "2.0-1"


def test_errata_set_at_run_time_on_apt(ahost: Host, debs, tmp_path: Path):
    import json

    ahost.apply(apt_profile({"bar": None}, debs["new"]))
    es = tmp_path / "debian-set.json"
    es.write_text(json.dumps({
        "format": "spma-versionset/1", "id": "debian-bookworm-2024-06-30", "os": "debian-bookworm", "family": "deb",
        "cutoff": "2024-06-30", "sources": ["DSA-list"], "kernel": None,
        "packages": {"foo": {"evr": "1.1-1", "arch": ["all"], "advisories": ["DSA-9001-1"]},
                     "tool": {"evr": "1.0-1", "arch": ["all"], "advisories": ["DSA-9002-1"]}},
    }))  # fmt: skip
    res = ahost.apply(apt_profile({"bar": None}, debs["new"]), errata=str(es))
    assert acts(res) == [("downgrade", "bar", "2.0-1", "1.0-1", "dependency"),
                         ("downgrade", "foo", "2.0-1", "1.1-1", "errata")]  # fmt: skip
    assert {a["name"]: a["because"] for a in res.plan["actions"]}[
        "foo"
    ] == "DSA-9001-1 (errata debian-bookworm-2024-06-30)"
    assert installed(ahost) == {"bar": "1.0-1", "foo": "1.1-1"}  # tool not added
    assert ahost.plan(apt_profile({"bar": None}, debs["new"]), errata=str(es)).changes == 0
    # a profile pin wins over the set
    res = ahost.apply(apt_profile({"bar": None, "foo": "2.0-1"}, debs["new"]), errata=str(es))
    assert installed(ahost) == {"bar": "2.0-1", "foo": "2.0-1"}


@pytest.mark.parametrize("userpkgs", ["no", "yes"])
def test_a_pin_already_met_is_not_dragged_by_an_undeclared_upgrade(tmp_path: Path, debs, userpkgs):
    """Found by the property test: foo pinned at its installed version must stay there while
    bar (undeclared) would like the foo a newer bar needs."""
    host = Host(tmp_path / userpkgs, boot=True)
    host.apply(apt_profile({"foo": "1.0-1", "bar": None}, debs["new"]))
    assert installed(host) == {"bar": "1.0-1", "foo": "1.0-1"}
    prof = apt_profile({"foo": "1.0-1"}, debs["new"], userpkgs=userpkgs)
    host.apply(prof)
    assert installed(host)["foo"] == "1.0-1"
    assert ("bar" in installed(host)) == (userpkgs == "yes")
    assert host.plan(prof).changes == 0
