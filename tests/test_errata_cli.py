"""`spma errata` never writes a silently wrong set: an empty result, advisories of several
ecosystems merged, or a missing input are errors (exit 3); `show` lists and filters a set's
packages, `diff` groups by advisory with severity. Real AlmaLinux 8+9 OSV advisories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import List

import pytest

from tests.helpers import CORPUS, REPO_ROOT, SPMA

OSV_TAR = CORPUS / "almalinux-osv" / "almalinux-8-9-osv-advisories.tar.xz"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(SPMA) + ["errata"] + list(args), capture_output=True, text=True,
                          cwd=str(REPO_ROOT), timeout=300)  # fmt: skip


def generate(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run("generate", "--source", "osv", str(OSV_TAR), "--out", str(out), *extra)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sets")
    p = generate(out, "--ecosystem", "AlmaLinux:9", "--monthly", "2024-08", "2024-09")
    assert p.returncode == 0, p.stderr
    return out


def test_several_ecosystems_without_ecosystem_is_an_error(tmp_path: Path):
    p = generate(tmp_path / "o", "--cutoff", "2024-09-30")
    assert p.returncode == 3, p.stderr
    assert (
        "several ecosystems: AlmaLinux:8, AlmaLinux:9, AlmaLinux:10" in p.stderr
        and "--ecosystem" in p.stderr
    )
    assert not (tmp_path / "o").exists()  # nothing written


@pytest.mark.parametrize("eco", ["almalinux:9", "AlmaLinux 9", "Rocky Linux:9"])
def test_mistyped_ecosystem_is_an_error_listing_those_found(tmp_path: Path, eco: str):
    p = generate(tmp_path / "o", "--ecosystem", eco, "--cutoff", "2024-09-30")
    assert p.returncode == 3, p.stderr
    assert "no advisory of ecosystem %r" % eco in p.stderr
    assert "AlmaLinux:8, AlmaLinux:9, AlmaLinux:10" in p.stderr
    assert not (tmp_path / "o").exists()


def test_filters_that_match_nothing_are_an_error(tmp_path: Path):
    p = generate(
        tmp_path / "o", "--ecosystem", "AlmaLinux:9", "--cutoff", "2024-09-30", "--include", "nosuch*"
    )
    assert p.returncode == 3 and "would be empty" in p.stderr and "--include" in p.stderr, p.stderr
    # a cut-off before the first advisory: empty too
    p = generate(tmp_path / "o", "--ecosystem", "AlmaLinux:9", "--cutoff", "1999-01-31")
    assert p.returncode == 3 and "would be empty" in p.stderr, p.stderr


@pytest.mark.parametrize("source", ["osv", "updateinfo"])
def test_missing_input_is_an_error_by_default(tmp_path: Path, source: str):
    missing = str(tmp_path / "nosuch.tar.xz")
    args: List[str] = ["generate", "--source", source, str(OSV_TAR), missing, "--cutoff", "2024-09-30",
                       "--out", str(tmp_path / "o")]  # fmt: skip
    if source == "osv":
        args += ["--ecosystem", "AlmaLinux:9"]
    p = run(*args)
    assert p.returncode == 3 and "%s: no such file or directory" % missing in p.stderr, p.stderr
    assert "--allow-missing" in p.stderr


def test_allow_missing_skips_with_a_warning(tmp_path: Path):
    missing = str(tmp_path / "nosuch.tar.xz")
    p = generate(
        tmp_path / "o", missing, "--ecosystem", "AlmaLinux:9", "--cutoff", "2024-09-30", "--allow-missing"
    )
    assert p.returncode == 0, p.stderr
    assert missing in p.stderr and "skipped" in p.stderr


def test_show_lists_and_filters_packages(sets: Path):
    path = str(sets / "almalinux9-2024-09-30.json")
    p = run("show", path, "--package", "openssl")
    assert p.returncode == 0, p.stderr
    rows = [ln.split() for ln in p.stdout.splitlines() if ln.startswith("  openssl")]
    assert rows and rows[0][1] == "1:3.0.7-28.el9_4"
    assert "Package" in p.stdout and "Severity" in p.stdout
    j = json.loads(run("show", path, "--package", "openssl*", "--format", "json").stdout)
    names = [r["name"] for r in j["matches"]]
    assert "openssl" in names and "openssl-libs" in names and all(n.startswith("openssl") for n in names)
    ossl = [r for r in j["matches"] if r["name"] == "openssl"][0]
    assert ossl["evr"] == "1:3.0.7-28.el9_4" and "ALSA-2024:6783" in ossl["advisories"]
    assert ossl["severity"] in ("low", "moderate", "important", "critical")
    every = json.loads(run("show", path, "--list", "--format", "json").stdout)
    assert len(every["matches"]) == every["packages"] + (1 if every["kernel"] else 0)
    none = run("show", path, "--package", "nosuchpkg")
    assert none.returncode == 3 and "no package of the set matches nosuchpkg" in none.stderr


def test_diff_groups_by_advisory_with_severity(sets: Path):
    a, b = str(sets / "almalinux9-2024-08-31.json"), str(sets / "almalinux9-2024-09-30.json")
    p = run("diff", a, b, "--by-advisory", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    groups = {g["advisory"]: g for g in doc["advisories"]}
    g = groups["ALSA-2024:6783"]
    assert {"name": "openssl", "change": "up", "from": "1:3.0.7-27.el9", "to": "1:3.0.7-28.el9_4"} in g[
        "packages"
    ]
    assert g["severity"] in ("low", "moderate", "important", "critical") and g["issued"].startswith(
        "2024-09"
    )
    order = ["critical", "important", "moderate", "low", None]
    ranks = [order.index(x["severity"]) for x in doc["advisories"]]
    assert ranks == sorted(ranks)  # most severe first
    text = run("diff", a, b, "--by-advisory").stdout
    assert "ALSA-2024:6783  %s, issued 2024-09" % g["severity"] in text


def test_sets_without_advisory_facts_still_load(sets: Path, tmp_path: Path):
    """Sets written before severity was recorded stay usable: show and diff say 'unknown'."""
    doc = json.loads((sets / "almalinux9-2024-09-30.json").read_text())
    del doc["advisories"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    p = run("diff", str(sets / "almalinux9-2024-08-31.json"), str(old), "--by-advisory")
    assert p.returncode == 0 and "severity unknown" in p.stdout, p.stderr
