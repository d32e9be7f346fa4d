"""Boot-only entries match source packages as well as binary names, on both backends: a family
(every binary built from systemd, glibc, the kernel) waits for boot whole, an unrelated update
goes live, and the plan says which entry pulled each deferred change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from spma.bootonly import boot_only_entry, rpm_source_name
from tests.builders.debrepo import deb, dpkg_installed, make_repo
from tests.helpers import Host, profile_tree
from tests.test_apt_reconcile import apt_profile


def test_boot_only_entry_by_name_then_by_source():
    pats = ("libc6", "systemd*", "linux")
    assert boot_only_entry("systemd", "systemd", pats) == "boot-only systemd*"
    assert boot_only_entry("libsystemd-shared", "systemd", pats) == "boot-only systemd* (built from systemd)"
    assert (
        boot_only_entry("linux-headers-6.1.0-9-amd64", "linux", pats) == "boot-only linux (built from linux)"
    )
    assert boot_only_entry("openssl", "openssl", pats) is None
    assert boot_only_entry("openssl", None, pats) is None
    assert boot_only_entry("libc6", "glibc", pats) == "boot-only libc6"


@pytest.mark.parametrize(
    "srpm,name",
    [("glibc-2.34-60.el9.src.rpm", "glibc"), ("kernel-5.14.0-362.8.1.el9_3.src.rpm", "kernel"),
     ("python-dns-2.1.0-1.el9.src.rpm", "python-dns"), ("", None), (None, None), ("garbage", None)],
)  # fmt: skip
def test_rpm_source_name(srpm, name):
    assert rpm_source_name(srpm) == name


@pytest.mark.apt
def test_apt_systemd_family_defers_whole_and_an_unrelated_update_goes_live(tmp_path: Path):
    def fam(v: str) -> list:
        return [
            deb("systemd=%s" % v, depends=["libsystemd-shared (= %s)" % v], source="systemd"),
            deb("libsystemd-shared=%s" % v, source="systemd"),
        ]

    old = fam("252.1-1") + [deb("openssl=3.0.1-1", source="openssl")]
    new = old + fam("252.2-1") + [deb("openssl=3.0.2-1", source="openssl")]
    decl = {"systemd": None, "openssl": None}
    host = Host(tmp_path / "h")
    host.apply(apt_profile(decl, "file://%s" % make_repo(tmp_path / "old", old)), boot=True)
    res = host.apply(apt_profile(decl, "file://%s s main" % make_repo(tmp_path / "new", new, suite="s")))
    got = {a["name"]: (a["action"], a["deferred"], a["defer_reason"]) for a in res.plan["actions"]}
    assert got == {
        "systemd": ("upgrade", True, "boot-only systemd*"),
        "libsystemd-shared": ("upgrade", True, "boot-only systemd* (built from systemd)"),
        "openssl": ("upgrade", False, None),
    }
    assert dpkg_installed(host.root) == {
        "systemd": "252.1-1",
        "libsystemd-shared": "252.1-1",
        "openssl": "3.0.2-1",
    }


@pytest.mark.dnf
def test_dnf_glibc_family_defers_whole_and_an_unrelated_update_goes_live(tmp_path: Path):
    from tests.builders.rpmrepo import make_repo as make_rpm_repo
    from tests.builders.rpmrepo import parse

    def fam(vr: str) -> list:
        return [
            dataclasses.replace(parse("glibc-%s" % vr, requires=["libnsl = %s" % vr]), source="glibc"),
            dataclasses.replace(parse("libnsl-%s" % vr), source="glibc"),
        ]

    old = fam("2.34-1") + [parse("openssl-3.0.1-1")]
    new = old + fam("2.34-2") + [parse("openssl-3.0.2-1")]
    decl = {"glibc": None, "openssl": None}
    host = Host(tmp_path / "h")
    host.apply(profile_tree(decl, {"os": str(make_rpm_repo(tmp_path / "old", old))}), boot=True)
    res = host.apply(profile_tree(decl, {"os": str(make_rpm_repo(tmp_path / "new", new))}))
    got = {a["name"]: (a["action"], a["deferred"], a["defer_reason"]) for a in res.plan["actions"]}
    assert got == {
        "glibc": ("upgrade", True, "boot-only glibc*"),
        "libnsl": ("upgrade", True, "boot-only glibc* (built from glibc)"),
        "openssl": ("upgrade", False, None),
    }
    assert host.installed() == ["glibc-2.34-1.noarch", "libnsl-2.34-1.noarch", "openssl-3.0.2-1.noarch"]
