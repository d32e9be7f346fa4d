"""Errata version sets at run time (pkg_ronly semantics) on real dnf and rpm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spma.errors import ResolveError
from tests.helpers import Host, actions, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")


def write_set(path: Path, packages: dict, kernel=None, reboot=()) -> str:
    doc = {
        "format": "spma-versionset/1",
        "id": "test-2024-06-30",
        "os": "test",
        "family": "rpm",
        "cutoff": "2024-06-30",
        "sources": ["unit"],
        "kernel": {"version": kernel, "advisories": ["TK-1"]} if kernel else None,
        "packages": {
            n: dict(
                {"evr": v, "arch": [], "advisories": advs},
                **({"reboot_suggested": True} if n in reboot else {}),
            )
            for n, (v, advs) in packages.items()
        },
    }
    path.write_text(json.dumps(doc))
    return str(path)


def test_errata_moves_installed_package_never_adds(host: Host, repos, tmp_path: Path):
    host.apply(profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]}))
    assert host.installed() == [
        "app-1.0-1.noarch",
        "bar-2.0-1.noarch",
        "foo-2.0-1.noarch",
        "lib-2.0-1.noarch",
    ]
    es = write_set(tmp_path / "set.json", {
        "foo": ("1.1-1", ["TSA-2024:1", "TSA-2024:7"]),
        "bar": ("1.0-1", ["TSA-2024:2"]),
        "tool": ("1.0-1", ["TSA-2024:3"]),  # not in the desired set: must not be installed
    })  # fmt: skip
    prof = profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
    res = host.apply(prof, errata=es)
    assert actions(res) == [
        ("downgrade", "bar", "2.0-1", "1.0-1", "errata"),
        ("downgrade", "foo", "2.0-1", "1.1-1", "errata"),
    ]
    by = {a["name"]: a for a in res.plan["actions"]}
    assert by["foo"]["because"] == "TSA-2024:7, TSA-2024:1 (errata test-2024-06-30)"
    assert res.plan["inputs"]["errata"].startswith("sha256:")
    assert host.installed() == [
        "app-1.0-1.noarch",
        "bar-1.0-1.noarch",
        "foo-1.1-1.noarch",
        "lib-2.0-1.noarch",
    ]
    assert "tool" not in " ".join(host.installed())
    assert host.plan(prof, errata=es).changes == 0
    # an errata set can move a package up as well: a newer set
    es2 = write_set(tmp_path / "set2.json", {"foo": ("2.0-1", ["TSA-2024:9"])})
    res = host.apply(prof, errata=es2)
    assert ("upgrade", "foo", "1.1-1", "2.0-1", "errata") in actions(res)


def test_profile_pin_wins_over_errata(host: Host, repos, tmp_path: Path):
    es = write_set(tmp_path / "set.json", {"foo": ("1.1-1", ["TSA-1"])})
    res = host.apply(profile_tree({"foo": "2.0-1"}, {"os": repos["snap2"]}), errata=es)
    assert actions(res) == [("install", "foo", None, "2.0-1", "declared")]
    assert host.installed() == ["foo-2.0-1.noarch"]


def test_errata_from_the_profile_field_and_install_reason(host: Host, repos, tmp_path: Path):
    es = write_set(tmp_path / "set.json", {"foo": ("1.0-1", ["TSA-5"])})
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]}, errata="file://" + es)
    res = host.apply(prof)
    assert actions(res) == [
        ("install", "bar", None, "1.0-1", "declared"),
        ("install", "foo", None, "1.0-1", "errata"),
    ]


def test_errata_version_missing_for_an_installed_package_is_exit_4(host: Host, repos, tmp_path: Path):
    host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}))
    before = host.installed()
    es = write_set(tmp_path / "set.json", {"foo": ("3.0-1", ["TSA-9"]), "app": ("9.9-9", ["TSA-10"])})
    with pytest.raises(ResolveError) as ei:
        host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}), errata=es)
    assert ei.value.exit_code == 4
    assert "foo: errata version 3.0-1 not in the repositories (available: 1.0-1, 1.1-1, 2.0-1)" in str(
        ei.value
    )
    assert "app" not in str(ei.value)  # not installed nor declared: the set could not add it anyway
    assert host.installed() == before


def test_errata_kernel_version_binds_the_kernel_family(host: Host, repos, tmp_path: Path):
    host.boot = True  # kernel*: the whole plan, nothing deferred
    es = write_set(tmp_path / "set.json", {}, kernel="6.2.0-1")
    res = host.apply(profile_tree({"kernel-tools": None, "kernel": None}, {"os": repos["snap2"]}), errata=es)
    assert {(a[1], a[3], a[4]) for a in actions(res)} == {("kernel", "6.2.0-1", "errata"),
                                                          ("kernel-tools", "6.2.0-1", "errata")}  # fmt: skip
    # a profile glob constraint (Quattor's kernel*) wins over the set's kernel
    res = host.plan(
        profile_tree({"kernel-tools": None, "kernel*": "6.3.0-1"}, {"os": repos["snap2"]}), errata=es
    )
    assert ("upgrade", "kernel-tools", "6.2.0-1", "6.3.0-1", "kernel") in actions(res)


def test_deb_set_refused_for_dnf(host: Host, repos, tmp_path: Path):
    from spma.errors import ProfileError

    path = tmp_path / "deb.json"
    path.write_text(json.dumps({"format": "spma-versionset/1", "id": "d", "os": "debian", "family": "deb",
                                "cutoff": "2024-01-01", "kernel": None, "packages": {}}))  # fmt: skip
    with pytest.raises(ProfileError, match="cannot constrain the dnf backend"):
        host.plan(profile_tree({"bar": None}, {"os": repos["snap2"]}), errata=str(path))


def test_an_advisory_suggesting_a_reboot_marks_the_action(host: Host, repos, tmp_path: Path):
    host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}))
    es = write_set(
        tmp_path / "set.json", {"foo": ("1.1-1", ["TSA-3"]), "bar": ("1.0-1", ["TSA-4"])}, reboot=("foo",)
    )
    res = host.plan(profile_tree({"bar": None}, {"os": repos["snap2"]}), errata=es)
    by = {a["name"]: a for a in res.plan["actions"]}
    assert by["foo"]["reboot"] is True and by["bar"]["reboot"] is False
    assert res.plan["reboot_required"] is True
