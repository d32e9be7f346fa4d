"""`spma fleet report`: exposure over a directory or tarball of inventories from real rpm and
dpkg roots, JSON, and the HTML page loaded in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest

from tests.fleet_world import World
from tests.helpers import Host
from tests.test_errata_report import _advisories


@pytest.fixture(scope="module", params=["dnf", "apt"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(request.param, tmp_path_factory.mktemp("fr-" + request.param))


def _remove_natively(world: World, root: Path, name: str) -> None:
    """A change made behind spma's back, with the package manager itself."""
    if world.backend == "dnf":
        argv = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-e", "--nodeps", name]
    else:
        argv = ["dpkg", "--root=%s" % root, "--force-not-root", "--force-script-chrootless", "--force-depends",
                "-r", name]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _fleet(world: World, base: Path) -> Path:
    """Four hosts: exposed (in sync), fixed, changed since its run, last run refused."""
    inv = base / "inventories"
    inv.mkdir()
    states = {
        "web01": world.profile({"foo": "1.0-1", "tool": None}, snap="old"),
        "web02": world.profile({"foo": None, "tool": None}),
        "db01": world.profile({"foo": "1.0-1", "tool": None, "app": None}, snap="old"),
        "db02": world.profile({"foo": "1.0-1"}, snap="old"),
    }
    for name, prof in states.items():
        host = Host(base / name, boot=True)
        host.apply(prof)
        if name == "db01":
            _remove_natively(world, host.root, "app")
        if name == "db02":
            res = host.cli("apply", "--boot", profile=world.profile({"tool": None}, max_removals=0))
            assert res.returncode == 7, res.stderr
        res = host.cli("inventory", "--root", str(host.root), "--out", str(inv / ("%s.json.gz" % name)))
        assert res.returncode == 0, res.stderr
    (inv / "broken.json.gz").write_bytes(b"not an inventory")
    return inv


def test_fleet_report_json_dir_and_tarball(world: World, tmp_path: Path):
    inv = _fleet(world, tmp_path)
    args = _advisories(world, tmp_path)
    out = tmp_path / "report.json"
    host = Host(tmp_path / "cli")
    res = host.cli("fleet", "report", "--inventories", str(inv), "--json", str(out), "--html",
                   str(tmp_path / "report.html"), "--repo", str(world.index("old")), "--type", "security", *args)  # fmt: skip
    assert res.returncode == 0, res.stderr
    rep = json.loads(out.read_text())
    hosts = {h["name"]: h for h in rep["hosts"]}
    assert sorted(hosts) == ["db01", "db02", "web01", "web02"]
    assert rep["unreadable"][0]["host"] == "broken"
    assert {n: h["state"] for n, h in hosts.items()} == {
        "web01": "in-sync", "web02": "in-sync", "db01": "changed", "db02": "failed"}  # fmt: skip
    if world.backend == "dnf":
        tool, foo = "ADV-2", "ADV-1"
        assert {n: h["worst"] for n, h in hosts.items()} == {
            "web01": "critical", "web02": None, "db01": "critical", "db02": "moderate"}  # fmt: skip
        assert rep["summary"]["hosts_by_worst"] == {"critical": 2, "important": 0, "moderate": 1, "low": 0,
                                                    "unknown": 0}  # fmt: skip
        assert rep["summary"]["advisories_by_severity"]["critical"] == 1
    else:
        tool, foo = "DSA-9002-1", "DSA-9001-1"
        assert {n: h["worst"] for n, h in hosts.items()} == {
            "web01": "unknown", "web02": None, "db01": "unknown", "db02": "unknown"}  # fmt: skip
    advs = {a["id"]: a for a in rep["advisories"]}
    assert {tool, foo} <= set(advs) and len(advs) == (3 if world.backend == "dnf" else 2)
    assert sorted(advs[tool]["hosts"]) == ["db01", "web01"] and advs[tool]["offered"] is False
    assert sorted(advs[foo]["hosts"]) == ["db01", "db02", "web01"] and advs[foo]["offered"] is True
    assert rep["summary"]["exposed_hosts"] == 3
    assert "4 hosts, 3 exposed" in res.stdout

    tar = tmp_path / "inventories.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(str(inv), arcname="inventories")
    out2 = tmp_path / "report2.json"
    res = host.cli("fleet", "report", "--inventories", str(tar), "--json", str(out2), "--repo",
                   str(world.index("old")), "--type", "security", *args)  # fmt: skip
    assert res.returncode == 0, res.stderr
    rep2 = json.loads(out2.read_text())
    assert rep2["hosts"] == rep["hosts"] and rep2["advisories"] == rep["advisories"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "the HTML report test needs Debian's chromium (scripts/setup.sh installs it)"
    return path


def dump_dom(html_file: Path, profile_dir: Path, fragment: str = "") -> str:
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
            "--user-data-dir=%s" % profile_dir, "--dump-dom", html_file.as_uri() + fragment]  # fmt: skip
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(profile_dir))
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _ids(dom: str) -> Dict[str, str]:
    return dict(re.findall(r'id="([\w-]+)"[^>]*>(\d+)<', dom))


def _host_column(dom: str) -> List[str]:
    body = dom.split('id="hosts"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr><td>([^<]*)</td>", body)


@pytest.mark.slow
def test_html_report_in_headless_chromium(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    world = World("dnf", tmp_path_factory.mktemp("fr-html"))
    inv = _fleet(world, tmp_path)
    args = _advisories(world, tmp_path)
    page = tmp_path / "report.html"
    host = Host(tmp_path / "cli")
    res = host.cli("fleet", "report", "--inventories", str(inv), "--html", str(page), "--json",
                   str(tmp_path / "r.json"), "--type", "security", *args)  # fmt: skip
    assert res.returncode == 0, res.stderr
    html = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything"
    dom = dump_dom(page, tmp_path / "chromium-profile")
    # the script ran to its end (no error on the way) and the counts are on the page
    assert 'data-ready="1"' in dom
    ids = _ids(dom)
    assert ids["hosts-total"] == "4" and ids["hosts-exposed"] == "3"
    assert ids["hosts-worst-critical"] == "2" and ids["hosts-worst-moderate"] == "1"
    assert (
        ids["advisories-critical"] == "1"
        and ids["advisories-moderate"] == "1"
        and ids["advisories-low"] == "1"
    )
    assert ids["state-changed"] == "1" and ids["state-failed"] == "1" and ids["state-in-sync"] == "2"
    assert _host_column(dom) == ["db01", "db02", "web01", "web02"]
    # sorting in the browser: by number of advisories, descending, then by host name, descending
    dom = dump_dom(page, tmp_path / "chromium-profile", "#sort=hosts:2:desc")
    assert _host_column(dom)[-1] == "web02" and set(_host_column(dom)[:2]) == {"db01", "web01"}
    dom = dump_dom(page, tmp_path / "chromium-profile", "#sort=hosts:0:desc")
    assert _host_column(dom) == ["web02", "web01", "db02", "db01"]
