"""The behaviour both backends share, run against each: real dnf/rpm and real apt/dpkg, the same
package names, versions and dependencies built as RPMs and as .debs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

import pytest

from spma import pan
from spma.errors import RepoError, ResolveError, SafetyError
from tests.builders import debrepo, rpmrepo
from tests.helpers import Host

# (name, version, depends)
UNIVERSE_OLD = [("foo", "1.0-1", []), ("foo", "1.1-1", []), ("bar", "1.0-1", [("foo", "1.0")]),
                ("lib", "1.0-1", []), ("app", "1.0-1", [("lib", None)]), ("tool", "1.0-1", [])]  # fmt: skip
UNIVERSE_NEW = UNIVERSE_OLD + [("foo", "2.0-1", []), ("bar", "2.0-1", [("foo", "2.0")]), ("lib", "2.0-1", []),
                               ("tool", "2.0-1", [])]  # fmt: skip


# a package that cannot be installed beside tool
UNIVERSE_CLASH = UNIVERSE_NEW + [("anti", "1.0-1", [])]
CONFLICTS = {"anti": ("tool",)}


class World:
    def __init__(
        self, backend: str, snaps: Dict[str, str], installed: Callable[[Path], Dict[str, str]]
    ) -> None:
        self.backend, self.snaps, self._installed = backend, snaps, installed

    def profile(self, packages: Mapping[str, Optional[str]], snap: str = "new", **spma: object) -> dict:
        arch = "noarch" if self.backend == "dnf" else "all"
        pk = {
            pan.escape(n): ({pan.escape(v): {"arch": {arch: ""}}} if v else {}) for n, v in packages.items()
        }
        comp: Dict[str, object] = {"packager": self.backend, "userpkgs": "no"}
        comp.update(spma)
        repos = [{"name": "os", "gpgcheck": False, "protocols": [{"name": "f", "url": self.snaps[snap]}]}]
        return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": repos}}

    def installed(self, host: Host) -> Dict[str, str]:
        return self._installed(host.root)


def _rpm_installed(root: Path) -> Dict[str, str]:
    out = {}
    for nevra in rpmrepo.rpm_query_installed(root):
        name, ver, rel = nevra.rsplit(".", 1)[0].rsplit("-", 2)
        out[name] = "%s-%s" % (ver, rel)
    return out


@pytest.fixture(scope="module", params=[pytest.param("dnf", marks=pytest.mark.dnf),
                                        pytest.param("apt", marks=pytest.mark.apt)])  # fmt: skip
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    pytest.importorskip("dnf" if request.param == "dnf" else "apt_pkg")
    d = tmp_path_factory.mktemp("both-" + request.param)
    snaps = {}
    for snap, universe in (("old", UNIVERSE_OLD), ("new", UNIVERSE_NEW), ("clash", UNIVERSE_CLASH)):
        if request.param == "dnf":
            pkgs = [rpmrepo.parse("%s-%s" % (n, v), requires=["%s >= %s" % (dn, dv) if dv else dn for dn, dv in deps],
                                  conflicts=list(CONFLICTS.get(n, ()))) for n, v, deps in universe]  # fmt: skip
            snaps[snap] = "file://%s" % rpmrepo.make_repo(d / snap, pkgs)
        else:
            debs = [debrepo.deb("%s=%s" % (n, v), depends=["%s (>= %s)" % (dn, dv) if dv else dn for dn, dv in deps],
                                conflicts=list(CONFLICTS.get(n, ()))) for n, v, deps in universe]  # fmt: skip
            snaps[snap] = "file://%s snap main" % debrepo.make_repo(d / snap, debs, suite="snap")
    return World(request.param, snaps, _rpm_installed if request.param == "dnf" else debrepo.dpkg_installed)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path, boot=True)


def acts(res) -> list:  # type: ignore[no-untyped-def]
    return [(a["action"], a["name"], a["from"], a["to"], a["reason"]) for a in res.plan["actions"]]


def test_fresh_install_then_idempotent(world: World, host: Host):
    res = host.apply(world.profile({"bar": None, "app": None}))
    assert [(a[0], a[1], a[3], a[4]) for a in acts(res)] == [
        ("install", "app", "1.0-1", "declared"), ("install", "bar", "2.0-1", "declared"),
        ("install", "foo", "2.0-1", "dependency"), ("install", "lib", "2.0-1", "dependency"),
    ]  # fmt: skip
    assert world.installed(host) == {"app": "1.0-1", "bar": "2.0-1", "foo": "2.0-1", "lib": "2.0-1"}
    assert host.plan(world.profile({"bar": None, "app": None})).changes == 0


def test_pin_down_with_dependent_following_and_back(world: World, host: Host):
    host.apply(world.profile({"bar": None}))
    res = host.apply(world.profile({"bar": None, "foo": "1.1-1"}))
    assert acts(res) == [("downgrade", "bar", "2.0-1", "1.0-1", "dependency"),
                         ("downgrade", "foo", "2.0-1", "1.1-1", "declared")]  # fmt: skip
    assert world.installed(host) == {"bar": "1.0-1", "foo": "1.1-1"}
    res = host.apply(world.profile({"bar": None}))
    assert acts(res) == [
        ("upgrade", "bar", "1.0-1", "2.0-1", "sync"),
        ("upgrade", "foo", "1.1-1", "2.0-1", "sync"),
    ]


def test_snapshot_rollback(world: World, host: Host):
    decl = {"bar": None, "app": None, "tool": None}
    host.apply(world.profile(decl))
    res = host.apply(world.profile(decl, snap="old"))
    assert sorted((a[0], a[1], a[3]) for a in acts(res)) == [
        ("downgrade", "bar", "1.0-1"), ("downgrade", "foo", "1.1-1"), ("downgrade", "lib", "1.0-1"),
        ("downgrade", "tool", "1.0-1"),
    ]  # fmt: skip
    assert host.plan(world.profile(decl, snap="old")).changes == 0


def test_unmanaged_orphans_whitelist_userpkgs(world: World, host: Host):
    host.apply(world.profile({"bar": None, "app": None, "tool": None}))
    res = host.apply(world.profile({"bar": None}, whitelist=["to*"]))
    assert acts(res) == [
        ("remove", "app", "1.0-1", None, "unmanaged"),
        ("remove", "lib", "2.0-1", None, "unmanaged"),
    ]
    assert world.installed(host) == {"bar": "2.0-1", "foo": "2.0-1", "tool": "2.0-1"}
    host.apply(world.profile({"bar": None, "app": None}))
    assert host.apply(world.profile({"bar": None}, userpkgs="yes")).changes == 0
    assert "app" in world.installed(host)


def test_refusals_change_nothing(world: World, host: Host, tmp_path: Path):
    host.apply(world.profile({"bar": None, "app": None}))
    before = world.installed(host)
    with pytest.raises(ResolveError) as ei:
        host.apply(world.profile({"bar": None, "nosuch": None, "foo": "9.9-9"}))
    assert "nosuch" in str(ei.value) and "9.9-9" in str(ei.value)
    with pytest.raises(SafetyError):
        host.apply(world.profile({}))
    with pytest.raises(SafetyError):
        host.apply(world.profile({"bar": None}, max_removals=1))
    world.snaps["gone"] = "file://%s" % (tmp_path / "gone") + (" ./" if world.backend == "apt" else "")
    with pytest.raises(RepoError):
        host.apply(world.profile({"bar": None}, snap="gone"))
    assert world.installed(host) == before


def test_kernel_constraint_names_the_matching_glob(world: World, host: Host):
    host.apply(world.profile({"app": None, "tool": None}))
    res = host.apply(world.profile({"app": None, "tool": None, "l*": "1.0-1", "t*": "1.0-1"}))
    assert [(a["action"], a["name"], a["reason"], a["because"]) for a in res.plan["actions"]] == [
        ("downgrade", "lib", "kernel", "constraint l* = 1.0-1"),
        ("downgrade", "tool", "kernel", "constraint t* = 1.0-1"),
    ]


def _errata_set(path: Path, family: str, packages: Dict[str, tuple], reboot: tuple = ()) -> str:
    import json

    doc = {"format": "spma-versionset/1", "id": "set-1", "os": "test", "family": family, "cutoff": "2024-06-30",
           "sources": ["unit"], "kernel": None,
           "packages": {n: dict({"evr": v, "arch": [], "advisories": advs},
                                **({"reboot_suggested": True} if n in reboot else {}))
                        for n, (v, advs) in packages.items()}}  # fmt: skip
    path.write_text(json.dumps(doc))
    return str(path)


def test_errata_because_and_reboot_suggested(world: World, host: Host, tmp_path: Path):
    host.apply(world.profile({"bar": None}))
    family = "rpm" if world.backend == "dnf" else "deb"
    es = _errata_set(tmp_path / "set.json", family, {"foo": ("1.1-1", ["TSA-1"]), "bar": ("1.0-1", ["TSA-2"])},
                     reboot=("foo",))  # fmt: skip
    res = host.plan(world.profile({"bar": None}), errata=es)
    got = [(a["name"], a["reason"], a["because"], a["reboot"]) for a in res.plan["actions"]]
    assert got == [
        ("bar", "errata", "TSA-2 (errata set-1)", False),
        ("foo", "errata", "TSA-1 (errata set-1)", True),
    ]
    assert res.plan["reboot_required"] is True


def test_errata_notes_and_checksum_hint(world: World, host: Host, tmp_path: Path):
    """A pin the repositories cannot honour is a note for a package in the plan (foo comes in as
    a dependency), and one summary line for the rest."""
    family = "rpm" if world.backend == "dnf" else "deb"
    es = _errata_set(tmp_path / "set.json", family, {"foo": ("7.0-1", ["TSA-7"]), "tool": ("7.0-1", ["TSA-9"]),
                                                      "lib": ("7.0-1", ["TSA-6"]), "ghost": ("1.0-1", ["TSA-8"])})  # fmt: skip
    res = host.plan(world.profile({"bar": None}), errata=es)
    assert res.plan["notes"] == [
        "errata version 7.0-1 of foo is not in the repositories; not constrained",
        "2 more packages of the errata set are not in the repositories in the set's version and not in this "
        "plan; not constrained",
    ]
    prof = world.profile({"bar": None})
    prof["software"]["repositories"][0]["metadata_sha256"] = "0" * 64
    with pytest.raises(RepoError) as ei:
        host.plan(prof)
    assert ei.value.hint == "the mirror no longer serves the pinned snapshot; fix the mirror or the profile"


def _table(res) -> list:  # type: ignore[no-untyped-def]
    return [(a["action"], a["name"], a["reason"], a["because"], a["reboot"]) for a in res.plan["actions"]]


def test_because_texts_and_reboot_flags_are_the_same_on_both_backends(world: World, host: Host):
    """One policy: the same facts get the same words on dnf and apt."""
    res = host.apply(world.profile({"bar": None, "app": None, "tool": None}))
    assert _table(res) == [
        ("install", "app", "declared", "declared", False), ("install", "bar", "declared", "declared", False),
        ("install", "foo", "dependency", "required by bar", False),
        ("install", "lib", "dependency", "required by app", False),
        ("install", "tool", "declared", "declared", False),
    ]  # fmt: skip
    res = host.apply(world.profile({"bar": None, "foo": "1.1-1", "tool": None}, snap="new"))
    assert _table(res) == [
        ("remove", "app", "unmanaged", "not declared", False),
        ("downgrade", "bar", "dependency", "best version installable with the declared pins", False),
        ("downgrade", "foo", "declared", "declared pin 1.1-1", False),
        ("remove", "lib", "unmanaged", "not declared", False),
    ]  # fmt: skip
    res = host.apply(world.profile({"bar": None, "tool": None}, snap="old"))
    assert _table(res) == [("downgrade", "tool", "sync", "repositories offer 1.0-1", False)]


def test_plan_states_what_apply_would_refuse_and_exits_7(world: World, host: Host):
    """issue 11: a dry run never hides a refusal: plan shows the plan, then the refusal, exit 7."""
    host.apply(world.profile({"bar": None, "app": None, "tool": None}))
    for prof in (world.profile({}), world.profile({"bar": None}, max_removals=2)):
        p = host.cli("plan", "--format", "json", profile=prof)
        assert p.returncode == 7, p.stderr
        plan = json.loads(p.stdout)
        assert plan["summary"]["remove"] == (3 if prof["software"]["packages"] else 5)
        assert "spma: error:" in p.stderr and "spma: hint:" in p.stderr
        a = host.cli("apply", "--format", "json", profile=prof)
        assert a.returncode == 7 and a.stderr == p.stderr
    p = host.cli("plan", "--format", "text", profile=world.profile({"bar": None}, max_removals=1))
    assert p.returncode == 7 and "Removing:" in p.stdout and "Summary: 3 removals" in p.stdout
    assert "more than max_removals (1)" in p.stderr
    assert host.cli("plan", profile=world.profile({"bar": None}, max_removals=3)).returncode == 0


def test_protected_package_removal_is_refused_by_plan_and_apply(world: World, host: Host):
    host.apply(world.profile({"bar": None, "tool": None}, snap="clash"))
    # anti conflicts with tool, which the whitelist protects: apply would have to remove it
    prof = world.profile({"bar": None, "anti": None}, snap="clash", whitelist=["tool"])
    p = host.cli("plan", "--format", "json", profile=prof)
    assert p.returncode == 7 and "protected packages: tool" in p.stderr, p.stderr
    assert [a["name"] for a in json.loads(p.stdout)["actions"] if a["action"] == "remove"] == ["tool"]
    assert host.cli("apply", profile=prof).returncode == 7
    assert "tool" in world.installed(host) and "anti" not in world.installed(host)


def test_environment_is_restored_after_every_step(world: World, host: Host):
    keys = ("HOME", "DEBIAN_FRONTEND", "APT_CONFIG")
    before = {k: os.environ.get(k) for k in keys}
    host.apply(world.profile({"bar": None}))
    host.apply(world.profile({"app": None}))
    assert {k: os.environ.get(k) for k in keys} == before


def test_plan_table_shows_repository_and_sizes_with_totals(world: World, host: Host):
    """issue 11 point 9: each incoming package names its repository and its download and
    installed size, with dnf's totals under the table, on both backends."""
    p = host.cli("plan", "--format", "json", profile=world.profile({"bar": None}))
    acts = json.loads(p.stdout)["actions"]
    assert acts and all(a["repository"] and a["size"] > 0 and a["installsize"] >= 0 for a in acts)
    t = host.cli("plan", profile=world.profile({"bar": None}))
    assert t.returncode == 0, t.stderr
    assert "Repository" in t.stdout and "Size" in t.stdout and "Total download size: " in t.stdout


def test_apply_on_a_terminal_shows_progress_with_package_names(world: World, host: Host):
    """issue 11 point 9: the transaction's progress names the package on both backends (dnf's
    download lines with bytes are tested over HTTP in test_cli_terminal)."""
    import re

    from tests.test_cli_terminal import ANSI, pty_run, spma_argv

    code, screen = pty_run(spma_argv(host, "apply", "-y", profile=world.profile({"bar": None})))
    assert code == 0, screen
    lines = re.split(r"[\r\n]", ANSI.sub("", screen))
    steps = [ln for ln in lines if ln.startswith("transaction")]
    assert any("bar" in ln for ln in steps), screen
