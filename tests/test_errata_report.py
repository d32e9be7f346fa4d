"""`spma errata report`: which advisories apply to a host, from its inventory or its root, on
real rpm and dpkg roots, with advisories in updateinfo, Debian tracker and OSV form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spma.errata import osv
from spma.errata.report import EXIT_EXPOSED, Matcher, exposure

from tests.fleet_world import RUNNING_KERNEL, World, kernel_decl
from tests.helpers import Host

UPDATEINFO = """<?xml version="1.0"?>
<updates>
 <update type="security"><id>ADV-1</id><title>foo fix</title><severity>Moderate</severity>
  <issued date="2026-01-01"/><references><reference id="CVE-2026-0001" type="cve" href="x"/></references>
  <pkglist><collection><package name="foo" version="1.1" release="1" epoch="0" arch="noarch"/></collection></pkglist>
 </update>
 <update type="security"><id>ADV-2</id><title>tool fix</title><severity>Critical</severity>
  <issued date="2026-01-02"/><references><reference id="CVE-2026-0002" type="cve"/>
  <reference id="CVE-2026-0003" type="cve"/><reference id="BZ1" type="bugzilla"/></references>
  <pkglist><collection><package name="tool" version="2.0" release="1" epoch="0" arch="noarch"/></collection></pkglist>
 </update>
 <update type="security"><id>ADV-3</id><title>kernel fix</title><severity>Important</severity>
  <issued date="2026-01-03"/>
  <pkglist><collection><package name="kernel" version="6.3.0" release="1" epoch="0" arch="noarch">
   <reboot_suggested>True</reboot_suggested></package></collection></pkglist>
 </update>
 <update type="security"><id>ADV-4</id><title>old foo fix</title><severity>Low</severity>
  <issued date="2025-01-01"/>
  <pkglist><collection><package name="foo" version="0.9" release="1" epoch="0" arch="noarch"/></collection></pkglist>
 </update>
 <update type="security"><id>ADV-5</id><title>lib fix</title><severity>Low</severity>
  <issued date="2026-01-01"/>
  <pkglist><collection><package name="lib" version="9.0" release="1" epoch="0" arch="noarch"/></collection></pkglist>
 </update>
 <update type="bugfix"><id>ADV-6</id><title>foo future</title>
  <issued date="2026-02-01"/>
  <pkglist><collection><package name="foo" version="3.0" release="1" epoch="0" arch="x86_64"/></collection></pkglist>
 </update>
</updates>
"""

DSA = """[02 Jan 2026] DSA-9002-1 tool - security update
\t{CVE-2026-0002 CVE-2026-0003}
\t[snap] - tool 2.0-1
[01 Jan 2026] DSA-9001-1 foo - security update
\t{CVE-2026-0001}
\t[snap] - foo 1.1-1
\t[other] - foo 9.0-1
[01 Jan 2025] DSA-9000-1 foo - security update
\t[snap] - foo 0.9-1
"""


@pytest.fixture(scope="module", params=["dnf", "apt"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(request.param, tmp_path_factory.mktemp("rep-" + request.param))


def _advisories(world: World, tmp_path: Path) -> list:
    if world.backend == "dnf":
        (tmp_path / "updateinfo.xml").write_text(UPDATEINFO)
        return ["--source", "updateinfo", str(tmp_path / "updateinfo.xml")]
    (tmp_path / "DSA-list").write_text(DSA)
    return [
        "--source",
        "debian",
        "--release",
        "snap",
        "--index",
        str(world.index("new")),
        str(tmp_path / "DSA-list"),
    ]


def test_report_from_inventory_and_root(world: World, tmp_path: Path):
    host = Host(tmp_path / "h", running_kernel=RUNNING_KERNEL if world.backend == "dnf" else "", boot=True)
    host.apply(world.profile(dict({"foo": "1.0-1", "tool": None}, **kernel_decl(world, ["6.1.0-1", "6.2.0-1"])),
                             snap="old"))  # fmt: skip
    inv = tmp_path / "web01.json.gz"
    assert host.cli("inventory", "--root", str(host.root), "--out", str(inv)).returncode == 0
    args = _advisories(world, tmp_path)
    res = host.cli("errata", "report", "--inventory", str(inv), "--repo", str(world.index("old")),
                   "--format", "json", *args)  # fmt: skip
    assert res.returncode == EXIT_EXPOSED, res.stderr
    doc = json.loads(res.stdout)
    assert doc["host"] == "web01" and doc["exposed"]
    got = {a["id"]: (a["severity"], a["cves"], [(p["name"], p["installed"], p["fixed"], p["offered"])
                                                 for p in a["packages"]], a["reboot"])
           for a in doc["advisories"]}  # fmt: skip
    if world.backend == "dnf":
        assert got == {
            "ADV-2": (
                "critical",
                ["CVE-2026-0002", "CVE-2026-0003"],
                [("tool", "1.0-1", "2.0-1", False)],
                False,
            ),
            "ADV-3": ("important", [], [("kernel", "6.2.0-1", "6.3.0-1", False)], True),
            "ADV-1": ("moderate", ["CVE-2026-0001"], [("foo", "1.0-1", "1.1-1", True)], False),
            # a noarch package may become arch-specific in its fixed version: it still applies
            "ADV-6": ("unknown", [], [("foo", "1.0-1", "3.0-1", False)], False),
        }
        assert [a["id"] for a in doc["advisories"]] == ["ADV-2", "ADV-3", "ADV-1", "ADV-6"]  # worst first
        assert doc["counts"] == {"critical": 1, "important": 1, "moderate": 1, "low": 0, "unknown": 1}
        assert doc["worst"] == "critical" and doc["reboot_required"]
    else:
        assert got == {
            "DSA-9002-1": (
                "unknown",
                ["CVE-2026-0002", "CVE-2026-0003"],
                [("tool", "1.0-1", "2.0-1", False)],
                False,
            ),
            "DSA-9001-1": ("unknown", ["CVE-2026-0001"], [("foo", "1.0-1", "1.1-1", True)], False),
        }
    # the live root says the same; text output names the advisories and the exit code holds
    res2 = host.cli("errata", "report", "--root", str(host.root), "--repo", str(world.index("old")),
                    "--format", "json", *args)  # fmt: skip
    doc2 = json.loads(res2.stdout)
    assert doc2["advisories"] == doc["advisories"]
    res3 = host.cli("errata", "report", "--inventory", str(inv), *args)
    assert res3.returncode == EXIT_EXPOSED and ("ADV-2" in res3.stdout or "DSA-9002-1" in res3.stdout)
    # after the fixes: not exposed, exit 0
    host.apply(world.profile(dict({"foo": None, "tool": None}, **kernel_decl(world, ["6.3.0-1"]))))
    res4 = host.cli(
        "errata", "report", "--root", str(host.root), "--type", "security", "--format", "json", *args
    )
    assert res4.returncode == 0, res4.stdout + res4.stderr
    assert json.loads(res4.stdout)["advisories"] == []


def test_filters_and_wrong_family(world: World, tmp_path: Path):
    host = Host(tmp_path / "h", running_kernel="", boot=True)
    host.apply(world.profile({"foo": "1.0-1"}, snap="old"))
    args = _advisories(world, tmp_path)
    if world.backend == "dnf":
        res = host.cli("errata", "report", "--root", str(host.root), "--min-severity", "important", *args)
        assert res.returncode == 0, res.stdout  # only ADV-1 (moderate) applies
        res = host.cli(
            "errata", "report", "--root", str(host.root), "--type", "security", "--format", "json", *args
        )
        assert [a["id"] for a in json.loads(res.stdout)["advisories"]] == ["ADV-1"]
        (tmp_path / "DSA-list").write_text(DSA)
        res = host.cli("errata", "report", "--root", str(host.root), "--source", "debian", "--release", "snap",
                       "--index", str(tmp_path / "DSA-list"), str(tmp_path / "DSA-list"))  # fmt: skip
        assert res.returncode == 3 and "rpm host" in res.stderr


def test_osv_cves_and_arch_rules():
    doc = {"id": "ALSA-2026:1", "summary": "Important: x", "related": ["CVE-2026-1", "RHSA-1"],
           "aliases": ["CVE-2026-2"], "published": "2026-01-01T00:00:00Z",
           "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "openssl"},
                         "ranges": [{"events": [{"introduced": "0"}, {"fixed": "1:3.0.7-2.el9"}]}]}]}  # fmt: skip
    adv = osv.parse_document(doc, "x", "AlmaLinux:9")
    assert adv is not None and adv.cves == ("CVE-2026-1", "CVE-2026-2") and adv.severity == "important"
    m = Matcher([adv], "rpm")
    pkgs = [("openssl", "x86_64", "1:3.0.7-1.el9"), ("openssl", "i686", "1:3.0.7-2.el9"),
            ("openssl", "x86_64", "1:3.0.1-1.el9")]  # fmt: skip
    doc2 = exposure("h", pkgs, m)
    # the newest installed x86_64 counts (not the older one beside it); the i686 one is fixed
    assert [(p["arch"], p["installed"]) for p in doc2["advisories"][0]["packages"]] == [
        ("x86_64", "1:3.0.7-1.el9")
    ]
    # rpm's order, not strings: 3.0.10 is newer than 3.0.7
    assert not exposure("h", [("openssl", "x86_64", "1:3.0.10-1.el9")], m)["exposed"]
