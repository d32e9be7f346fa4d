"""Errata: readers on real advisory data, the version-set compiler, writers, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from spma.errata import compile as comp
from spma.errata import debian, osv, updateinfo, writers
from spma.errata.problems import Problems
from spma.errata.vercmp import deb_cmp, rpm_cmp
from spma.errata.versionset import dumps, loads

from spma.errors import AdvisoryInputError, UsageError, VersionSetError
from tests.helpers import CORPUS, REPO_ROOT, SPMA

OSV_TAR = CORPUS / "almalinux-osv" / "almalinux-8-9-osv-advisories.tar.xz"
SAMPLES = CORPUS / "updateinfo-samples"
DEB = CORPUS / "debian"
BULLSEYE = [
    DEB / "apt-indexes/bullseye/deb.debian.org_debian_dists_bullseye_main_binary-amd64_Packages.xz",
    DEB
    / "apt-indexes/bullseye/deb.debian.org_debian-security_dists_bullseye-security_main_binary-amd64_Packages.xz",
]

needs_corpus = pytest.mark.skipif(not OSV_TAR.exists(), reason="shared corpus not present")


@pytest.fixture(scope="module")
def alma9():
    return osv.read([str(OSV_TAR)], ecosystem="AlmaLinux:9")


@pytest.fixture(scope="module")
def alma8():
    return osv.read([str(OSV_TAR)], ecosystem="AlmaLinux:8")


@needs_corpus
def test_osv_monthly_alma9_advisory_appears_from_its_month_on(alma9):
    pytest.importorskip("rpm")  # versions compare by the package manager's rules
    sets = {vs.cutoff.isoformat()[:7]: vs for vs in comp.compile_sets(
        alma9, comp.month_ends("2024-06", "2024-10"), family="rpm", os_id="almalinux9", sources=["osv"])}  # fmt: skip
    # ALSA-2024:6783, published 2024-09-18, fixes openssl 1:3.0.7-28.el9_4 (epoch kept)
    assert sets["2024-08"].packages["openssl"].evr == "1:3.0.7-27.el9"
    assert "ALSA-2024:6783" not in sets["2024-08"].packages["openssl"].advisories
    assert sets["2024-09"].packages["openssl"].evr == "1:3.0.7-28.el9_4"
    assert "ALSA-2024:6783" in sets["2024-09"].packages["openssl"].advisories
    assert sets["2024-10"].packages["openssl"].evr == "1:3.0.7-28.el9_4"
    assert sets["2024-09"].id == "almalinux9-2024-09-30" and sets["2024-09"].kernel
    # the kernel family is carried as the set's kernel version, not as package entries
    assert "kernel" not in sets["2024-09"].packages and "kernel-core" not in sets["2024-09"].packages


@needs_corpus
def test_osv_monthly_alma8(alma8):
    pytest.importorskip("rpm")  # versions compare by the package manager's rules
    sets = comp.compile_sets(alma8, comp.month_ends("2023-02", "2023-12"), family="rpm", os_id="almalinux8",
                             sources=["osv"])  # fmt: skip
    by = {vs.cutoff.isoformat()[:7]: vs.packages.get("openssl") for vs in sets}
    # ALSA-2023:1405 (2023-03-22) and ALSA-2023:7877 (2023-12-19)
    assert by["2023-02"] is not None and rpm_cmp(by["2023-02"].evr, "1:1.1.1k-9.el8_7") < 0
    assert by["2023-03"].evr == "1:1.1.1k-9.el8_7" and "ALSA-2023:1405" in by["2023-03"].advisories
    assert by["2023-11"].evr == "1:1.1.1k-9.el8_7"
    assert by["2023-12"].evr == "1:1.1.1k-12.el8_9"


@needs_corpus
def test_osv_filters(alma9):
    pytest.importorskip("rpm")  # versions compare by the package manager's rules
    cut = [dt.date(2024, 12, 31)]
    sec = comp.compile_sets(alma9, cut, family="rpm", os_id="a", sources=[],
                            filters=comp.Filters(types=["security"], min_severity="important"))[0]  # fmt: skip
    allv = comp.compile_sets(alma9, cut, family="rpm", os_id="a", sources=[])[0]
    assert 0 < len(sec.packages) < len(allv.packages)
    assert all(a.startswith("ALSA-") for e in sec.packages.values() for a in e.advisories)
    only = comp.compile_sets(alma9, cut, family="rpm", os_id="a", sources=[],
                             filters=comp.Filters(include=["openssl*"], exclude=["*-devel"]))[0]  # fmt: skip
    assert set(only.packages) == {"openssl", "openssl-libs", "openssl-perl"} or (
        set(only.packages)
        <= {n for n in allv.packages if n.startswith("openssl") and not n.endswith("-devel")}
    )


def test_osv_malformed_file_reported_and_skipped(tmp_path: Path):
    good = {"id": "ALSA-2024:1", "summary": "Important: x", "published": "2024-01-02T00:00:00Z",
            "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "x"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2:1.0-1.el9"}]}]}]}  # fmt: skip
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text('{"id": "ALSA-2024:2", "affected": [')
    (tmp_path / "odd.json").write_text('{"id": 5}')
    problems = Problems()
    advs = osv.read([str(tmp_path)], ecosystem="AlmaLinux:9", problems=problems)
    assert [a.id for a in advs] == ["ALSA-2024:1"]
    assert advs[0].severity == "important" and advs[0].packages[0].epoch == 2 and advs[0].type == "security"
    assert sorted(Path(w).name for w, _ in problems.items) == ["bad.json", "odd.json"]
    with pytest.raises(AdvisoryInputError, match="bad.json"):
        osv.read([str(tmp_path)], ecosystem="AlmaLinux:9", problems=Problems(strict=True))


@pytest.mark.parametrize(
    "sample, count",
    [
        ("aquasecurity-vuln-list-update/amazon-updateinfo_1_item.xml.gz", 1),
        ("aquasecurity-vuln-list-update/amazon-updateinfo_2_items.xml.gz", 2),
        ("aquasecurity-vuln-list-update/amazon-updateinfo_AL2022.xml.gz", 1),
        ("aquasecurity-vuln-list-update/amazon-updateinfo_AL2023.xml.gz", 1),
        ("aquasecurity-vuln-list-update/bottlerocket-updateinfo.xml.gz", 2),
        ("pulp-fixtures/assets-modularity-updateinfo.xml", 1),
        ("pulp-fixtures/assets-pkg-dolphin-updateinfo.xml", 1),
        ("pulp-fixtures/assets-pkg-lion-updateinfo.xml", 0),
        ("pulp-fixtures/assets-pkg-shark-updateinfo.xml", 0),
        ("pulp-fixtures/assets-pkg-whale-updateinfo.xml", 1),
        ("pulp-fixtures/assets-srpm-updateinfo.xml", 2),
        ("pulp-fixtures/assets-updateinfo.xml", 4),
        ("rpm-software-management/createrepo_c-updateinfo_00.xml", 0),
        ("rpm-software-management/createrepo_c-updateinfo_01.xml", 1),
        ("rpm-software-management/createrepo_c-updateinfo_02.xml.xz", 0),
        ("rpm-software-management/createrepo_c-updateinfo_03.xml", 6),
        ("rpm-software-management/createrepo_c-updateinfo_ampersand.xml", 0),  # "ba&r" is no rpm name
        ("rpm-software-management/dnf5-repomd-repo1-updateinfo.xml", 4),
        ("rpm-software-management/libdnf-advisories-updateinfo.xml", 1),
        ("rpm-software-management/libdnf-hawkey-updateinfo.xml.gz", 1),
    ],
)
def test_every_updateinfo_sample_parses(sample, count):
    path = SAMPLES / sample
    if not path.exists():
        pytest.skip("corpus sample missing")
    problems = Problems()
    advs = updateinfo.read([str(path)], problems=problems)
    assert len(advs) == count
    for a in advs:
        assert a.id and a.type in ("security", "bugfix", "enhancement", "newpackage", "unknown")
        assert all(p.name and p.version for p in a.packages)


def test_updateinfo_edge_cases():
    advs = {
        a.id: a
        for a in updateinfo.read([str(SAMPLES / "rpm-software-management/createrepo_c-updateinfo_03.xml")])
    }
    assert advs["RHEA-2012:0057"].issued is None  # "15mangled2": kept, joins no dated set
    assert any(a.issued == dt.date(2019, 4, 16) for a in advs.values())  # epoch seconds 1555429284
    dnf5 = {
        a.id: a
        for a in updateinfo.read([str(SAMPLES / "rpm-software-management/dnf5-repomd-repo1-updateinfo.xml")])
    }
    pkg = [p for p in dnf5["DNF-2019-1"].packages if p.name == "pkg"][0]
    assert (
        pkg.reboot_suggested is True and pkg.arch == "x86_64" and dnf5["DNF-2019-1"].severity == "moderate"
    )
    # XML escapes are decoded, and a package name no rpm can carry drops the advisory, by name and file
    problems = Problems()
    amp = updateinfo.read(
        [str(SAMPLES / "rpm-software-management/createrepo_c-updateinfo_ampersand.xml")], problems=problems
    )
    assert amp == [] and "advisory 'foobarupd&ate_1': 'ba&r' is not a package name" in problems.items[0][1]
    problems = Problems()
    updateinfo.read(
        [str(SAMPLES / "rpm-software-management/createrepo_c-updateinfo_02.xml.xz")], problems=problems
    )
    assert problems.items and "no <id>" in problems.items[0][1]


def test_updateinfo_hostile_xml_is_reported(tmp_path: Path):
    bomb = tmp_path / "updateinfo.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                    "<updates><update><id>&b;</id></update></updates>")  # fmt: skip
    problems = Problems()
    assert updateinfo.read([str(bomb)], problems=problems) == []
    assert "forbidden" in problems.items[0][1]
    with pytest.raises(AdvisoryInputError):
        updateinfo.read([str(bomb)], problems=Problems(strict=True))


def test_updateinfo_from_a_repository_joins_source_packages(tmp_path: Path):
    from tests.builders.rpmrepo import make_repo, parse

    ui = """<?xml version="1.0"?><updates><update type="security" status="final">
      <id>SITE-2024:1</id><issued date="2024-03-01"/><severity>Critical</severity><pkglist><collection>
      <package name="foo" version="2.0" release="1" epoch="0" arch="src"><filename>foo-2.0-1.src.rpm</filename></package>
      </collection></pkglist></update></updates>"""
    repo = make_repo(tmp_path / "r", [parse("foo-2.0-1"), parse("foo-2.0-1.x86_64")], updateinfo=ui)
    advs = updateinfo.read([str(repo)])
    assert [(p.name, p.arch) for p in advs[0].packages] == [("foo", "noarch"), ("foo", "x86_64")]
    assert advs[0].severity == "critical"


@pytest.mark.skipif(not BULLSEYE[0].exists(), reason="Debian corpus missing")
def test_debian_sets_from_dsa_against_bullseye_indexes():
    pytest.importorskip("apt_pkg")  # versions compare by the package manager's rules
    advs = debian.read(
        [str(DEB / "security-tracker/DSA-list")], [str(p) for p in BULLSEYE], release="bullseye"
    )
    assert len(advs) >= 400
    sets = comp.compile_sets(advs, [dt.date(2022, 6, 30), dt.date(2023, 3, 31)], family="deb",
                             os_id="debian-bullseye", sources=["DSA-list"])  # fmt: skip
    early, late = sets
    # DSA-5343-1 (2023-02-08) fixed openssl 1.1.1n-0+deb11u4, built as openssl and libssl1.1
    assert late.packages["libssl1.1"].evr == "1.1.1n-0+deb11u4"
    assert "DSA-5343-1" in late.packages["openssl"].advisories
    assert deb_cmp(early.packages["openssl"].evr, "1.1.1n-0+deb11u4") < 0
    # every fixed version is in the indexes, or superseded there by a newer one
    index_versions = {}
    for path in BULLSEYE:
        for b in debian.read_index(str(path)):
            index_versions.setdefault(b.name, []).append(b.version)
    for name, e in late.packages.items():
        assert any(deb_cmp(v, e.evr) >= 0 for v in index_versions[name]), (name, e.evr)
    assert late.kernel is None
    pref = writers.apt_preferences(late)
    assert "Package: libssl1.1:amd64\nPin: version 1.1.1n-0+deb11u4\nPin-Priority: 1001" in pref


# --- Pan: a parser for the subset the writer emits, so a template that panc would reject fails here
_PAN_STR = r'"(?:[^"\\\n]|\\[\\"ntx0-9a-f])*"'
_PAN_LINE = re.compile(
    r"^'/software/packages' = pkg_ronly\((%s), (%s)(?:, (%s))?\);(?:\s+#.*)?$" % ((_PAN_STR,) * 3)
)


def parse_pan(text: str, expected_name: str) -> list:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    head = re.match(r"^unique template ([A-Za-z0-9_.+/-]+);$", lines[0])
    assert head and head.group(1) == expected_name, lines[0]
    calls = []
    for ln in lines[1:]:
        m = _PAN_LINE.match(ln)
        v = re.match(r"^variable ([A-Z_][A-Z0-9_]*) \?= (%s);$" % _PAN_STR, ln)
        assert m or v, "not valid Pan: %r" % ln
        if m:
            calls.append(tuple(json.loads(g) if g else None for g in m.groups()))
        else:
            assert v is not None
            calls.append((v.group(1), json.loads(v.group(2))))
    return calls


@needs_corpus
def test_pan_templates_compile_in_shape(alma9, tmp_path: Path):
    pytest.importorskip("rpm")  # versions compare by the package manager's rules
    vs = comp.compile_sets(alma9, [dt.date(2024, 6, 30)], family="rpm", os_id="almalinux9", sources=["osv"])[
        0
    ]
    files = writers.write(vs, str(tmp_path), ["pan"], namespace="config/os/errata")
    main = tmp_path / "config/os/errata/almalinux9-2024-06-30.pan"
    init = tmp_path / "config/os/errata/almalinux9-2024-06-30-init.pan"
    assert sorted(files) == sorted([str(main), str(init)])
    calls = parse_pan(main.read_text(), "config/os/errata/almalinux9-2024-06-30")
    assert ("openssl", "1:3.0.7-27.el9", None) in calls
    assert len(calls) == len(vs.packages)
    assert parse_pan(init.read_text(), "config/os/errata/almalinux9-2024-06-30-init") == [
        ("KERNEL_VERSION_NUM", vs.kernel)
    ]
    tricky = writers.pan_string('a"b\\c\n')
    assert json.loads(tricky) == 'a"b\\c\n'
    with pytest.raises(UsageError):
        writers.pan_templates(vs, namespace="bad namespace!")


def test_versionlock_and_json_round_trip():
    from spma.errata.model import Entry, VersionSet

    vs = VersionSet("el9-2024-01-31", "el9", "rpm", dt.date(2024, 1, 31), ("x",), "5.14.0-1.el9", ("ALSA-1",),
                    {"openssl": Entry("1:3.0.7-27.el9", ("x86_64",), ("ALSA-2",)), "bash": Entry("5.1-1", (), ())})  # fmt: skip
    text = writers.versionlock(vs)
    assert (
        "openssl-1:3.0.7-27.el9.x86_64" in text
        and "bash-0:5.1-1.*" in text
        and "kernel-0:5.14.0-1.el9.*" in text
    )
    back, digest = loads(dumps(vs).encode(), "mem")
    assert back == vs and digest.startswith("sha256:")
    with pytest.raises(VersionSetError, match="packages/bash/evr"):
        bad = json.loads(dumps(vs))
        bad["packages"]["bash"]["evr"] = 5
        loads(json.dumps(bad).encode(), "bad.json")
    with pytest.raises(UsageError):
        writers.apt_preferences(vs)


def test_json_advisories_block_is_what_json_indents():
    """dumps() encodes each advisory once and splices the blocks in: the bytes must stay those of
    json.dumps(indent=1) over the whole head, for any advisory data the grammar lets through."""
    from spma.errata.model import AdvisoryInfo, Entry, VersionSet
    from spma.errata.versionset import to_json

    infos = {
        "ALSA-2024:1": AdvisoryInfo("important", "security", dt.date(2024, 1, 2)),
        "DSA-5555-1": AdvisoryInfo(None, "unknown", None),
        "FEDORA-2024-0a1b2c": AdvisoryInfo("low", "bugfix", dt.date(2023, 12, 31)),
    }
    for advs in (infos, {}):
        vs = VersionSet("s-1", "el9", "rpm", dt.date(2024, 1, 31), ("x",), None, (),
                        {"a": Entry("1-1", ("x86_64",), tuple(advs))}, advs)  # fmt: skip
        head = json.dumps(to_json(vs, with_packages=False), indent=1, sort_keys=True)
        assert dumps(vs).startswith(head[:-2] + ',\n "packages": ')
        assert loads(dumps(vs).encode(), "mem")[0] == vs


@needs_corpus
def test_cli_generate_show_diff(tmp_path: Path):
    out = tmp_path / "sets"
    env_run = dict(capture_output=True, text=True, cwd=str(REPO_ROOT))
    p = subprocess.run(SPMA + ["errata", "generate", "--source", "osv", str(OSV_TAR), "--ecosystem", "AlmaLinux:9",
                               "--monthly", "2024-08", "2024-09", "--format", "json,pan,versionlock",
                               "--out", str(out)], **env_run)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == [
        "almalinux9-2024-08-31-init.pan", "almalinux9-2024-08-31.json", "almalinux9-2024-08-31.pan",
        "almalinux9-2024-08-31.versionlock.list", "almalinux9-2024-09-30-init.pan", "almalinux9-2024-09-30.json",
        "almalinux9-2024-09-30.pan", "almalinux9-2024-09-30.versionlock.list",
    ]  # fmt: skip
    doc = json.loads((out / "almalinux9-2024-09-30.json").read_text())
    assert (
        doc["format"] == "spma-versionset/1" and doc["cutoff"] == "2024-09-30" and doc["os"] == "almalinux9"
    )
    assert doc["packages"]["openssl"]["evr"] == "1:3.0.7-28.el9_4"
    s = subprocess.run(SPMA + ["errata", "show", str(out / "almalinux9-2024-09-30.json")], **env_run)
    assert s.returncode == 0 and s.stdout.startswith("almalinux9-2024-09-30: almalinux9 errata version set")
    d = subprocess.run(SPMA + ["errata", "diff", "--format", "json", str(out / "almalinux9-2024-08-31.json"),
                               str(out / "almalinux9-2024-09-30.json")], **env_run)  # fmt: skip
    rows = {r["name"]: r for r in json.loads(d.stdout)["changes"]}
    assert rows["openssl"] == {"name": "openssl", "change": "up", "from": "1:3.0.7-27.el9",
                               "to": "1:3.0.7-28.el9_4", "advisories": ["ALSA-2024:6783"],
                               "severity": rows["openssl"]["severity"]}  # fmt: skip
    assert rows["openssl"]["severity"] in ("low", "moderate", "important", "critical")
    bad = subprocess.run(SPMA + ["errata", "generate", "--source", "osv", str(OSV_TAR), "--cutoff", "2024-13-01",
                                 "--out", str(out)], **env_run)  # fmt: skip
    assert bad.returncode == 3 and "--cutoff" in bad.stderr


def test_cli_strict_malformed_is_exit_3(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.json").write_text("{")
    base = SPMA + ["errata", "generate", "--source", "osv", str(tmp_path / "in"), "--cutoff", "2024-01-31",
                   "--out", str(tmp_path / "o")]  # fmt: skip
    ok = subprocess.run(base, capture_output=True, text=True, cwd=str(REPO_ROOT))
    # skipped with a warning; and as nothing else was read, the empty result is an error itself
    assert ok.returncode == 3 and "broken.json" in ok.stderr and "skipped" in ok.stderr
    assert "the version sets would be empty" in ok.stderr
    strict = subprocess.run(base + ["--strict"], capture_output=True, text=True, cwd=str(REPO_ROOT))
    assert strict.returncode == 3 and "broken.json" in strict.stderr and "Traceback" not in strict.stderr


def test_tarball_input(tmp_path: Path):
    doc = {"id": "RLSA-2024:9", "summary": "Low: y", "published": "2024-02-02T00:00:00Z",
           "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "y"},
                         "ranges": [{"events": [{"fixed": "1.0-2.el9"}]}]}]}  # fmt: skip
    src = tmp_path / "RLSA-2024:9.json"
    src.write_text(json.dumps(doc))
    tar = tmp_path / "adv.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(src, arcname="advisories/RLSA-2024:9.json")
    advs = osv.read([str(tar)], ecosystem="Rocky Linux:9")
    assert (
        advs[0].id == "RLSA-2024:9" and advs[0].severity == "low" and advs[0].packages[0].evr == "1.0-2.el9"
    )


def test_updateinfo_from_a_repository_url(tmp_path: Path):
    import functools
    import http.server
    import threading

    from tests.builders.rpmrepo import make_repo, parse

    ui = """<?xml version="1.0"?><updates><update type="bugfix"><id>SITE-2024:2</id>
      <issued date="2024-04-01 00:00:00"/><pkglist><collection>
      <package name="foo" version="2.0" release="1" epoch="0" arch="noarch"><filename>f.rpm</filename></package>
      </collection></pkglist></update></updates>"""
    repo = make_repo(tmp_path / "r", [parse("foo-2.0-1")], updateinfo=ui)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        advs = updateinfo.read(["http://127.0.0.1:%d/" % srv.server_address[1]])
    finally:
        srv.shutdown()
        srv.server_close()
    assert [(a.id, a.type, str(a.issued)) for a in advs] == [("SITE-2024:2", "bugfix", "2024-04-01")]


def test_reboot_suggested_travels_into_the_set():
    pytest.importorskip("rpm")  # versions compare by the package manager's rules
    advs = updateinfo.read([str(SAMPLES / "pulp-fixtures/assets-modularity-updateinfo.xml")])
    vs = comp.compile_sets(advs, [dt.date(2030, 1, 1)], family="rpm", os_id="t", sources=["x"])[0]
    assert vs.packages["postgresql"].reboot_suggested is True  # <reboot_suggested/>
    assert vs.packages["nodejs"].reboot_suggested is False
    back, _ = loads(dumps(vs).encode(), "mem")
    assert back.packages["postgresql"].reboot_suggested is True and back == vs
    # a newer fix without the flag clears it: the flag belongs to the chosen version
    dnf5 = updateinfo.read([str(SAMPLES / "rpm-software-management/dnf5-repomd-repo1-updateinfo.xml")])
    vs5 = comp.compile_sets(dnf5, [dt.date(2030, 1, 1)], family="rpm", os_id="t", sources=["x"])[0]
    assert vs5.packages["pkg"].evr == "4.0-1" and vs5.packages["pkg"].reboot_suggested is False
    assert '"reboot_suggested": true' in dumps(vs) and dumps(vs).count("reboot_suggested") == 1
