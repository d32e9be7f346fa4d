"""`spma fleet plan`: every host planned against its recorded state equals `spma plan` on the
host's real root, on both backends: removals, downgrades, kernels, errata, unsolvable hosts;
local worker processes and a Dask cluster (distributed.LocalCluster) give the same answer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Tuple

import pytest

from spma import fleet
from tests.fleet_world import RUNNING_KERNEL, World, kernel_decl
from tests.helpers import Host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["dnf", "apt"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(request.param, tmp_path_factory.mktemp("fp-" + request.param))


Fleet = Tuple[Dict[str, Host], Path, Path]


@pytest.fixture(scope="module")
def hosts(world: World, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """Three hosts in different states, their inventories, and a profile per host."""
    base = tmp_path_factory.mktemp("fleet-" + world.backend)
    rk = RUNNING_KERNEL if world.backend == "dnf" else ""
    states = {
        "web01": world.profile(
            dict({"bar": "1.0-1", "app": None, "tool": None}, **kernel_decl(world, ["6.1.0-1", "6.2.0-1"])),
            snap="old",
        ),  # fmt: skip
        "web02": world.profile({"foo": None, "tool": None}),
        "db01": world.profile({"app": None}),
        "db02": world.profile({"tool": None}),
    }
    targets = {
        # up, removals of what is no longer declared, a new kernel beside the running one
        "web01": world.profile(dict({"bar": None}, **kernel_decl(world, ["6.2.0-1", "6.3.0-1"]))),
        # a declared downgrade
        "web02": world.profile({"foo": "1.1-1", "tool": None}),
        # unsolvable: the error spma plan would give
        "db01": world.profile({"app": None, "nosuch": None}),
        # db02 has no profile in the directory
    }
    inv, prof = base / "inventories", base / "profiles"
    inv.mkdir()
    prof.mkdir()
    out: Dict[str, Host] = {}
    for name, st in states.items():
        host = Host(base / name, running_kernel=rk, boot=True)
        host.apply(st)
        host.boot = False
        res = host.cli("inventory", "--root", str(host.root), "--out", str(inv / (name + ".json.gz")),
                       "--running-kernel", rk)  # fmt: skip
        assert res.returncode == 0, res.stderr
        if name in targets:
            (prof / (name + ".json")).write_text(json.dumps(targets[name]))
        out[name] = host
    return out, inv, prof


def _spma_plan(host: Host, profile: Path, *extra: str) -> Tuple[int, dict, str]:
    res = host.cli("plan", str(profile), "--format", "json", *extra)
    return res.returncode, json.loads(res.stdout) if res.returncode == 0 else {}, res.stderr


def _check_equal(fleet_doc: dict, hosts: Dict[str, Host], profile_of: Dict[str, Path], *extra: str) -> None:
    assert fleet_doc["format"] == "spma-fleet-plan/1"
    assert sorted(fleet_doc["hosts"]) == sorted(hosts)
    for name, host in hosts.items():
        got = fleet_doc["hosts"][name]
        if name not in profile_of:
            assert got["error"]["exit"] == 3 and "no profile" in got["error"]["message"]
            continue
        code, env, err = _spma_plan(host, profile_of[name], *extra)
        if code == 0:
            assert got == env, name  # the very envelope, root included
        else:
            assert got["error"]["exit"] == code, (name, err)
            assert "spma: error: %s" % got["error"]["message"] in err


def test_fleet_plan_equals_spma_plan_per_host(world: World, hosts: Fleet, tmp_path: Path):
    by_name, inv, prof = hosts
    out = tmp_path / "fleet.json"
    res = Host(tmp_path / "cli").cli("fleet", "plan", "--inventories", str(inv), "--profile-dir", str(prof),
                                     "--workers", "2", "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    profiles = {n: prof / (n + ".json") for n in by_name if (prof / (n + ".json")).exists()}
    _check_equal(doc, by_name, profiles)
    web01 = {(a["action"], a["name"], a["to"] or a["from"]) for a in doc["hosts"]["web01"]["actions"]}
    assert {("remove", "app", "1.0-1"), ("remove", "lib", "1.0-1"), ("remove", "tool", "1.0-1"),
            ("upgrade", "bar", "2.0-1"), ("upgrade", "foo", "2.0-1")} <= web01  # fmt: skip
    if world.backend == "dnf":
        assert ("install", "kernel", "6.3.0-1") in web01 and doc["hosts"]["web01"]["reboot_required"]
        assert not any(
            a["name"] == "kernel" and a["action"] == "remove" for a in doc["hosts"]["web01"]["actions"]
        )
    assert [(a["action"], a["name"], a["to"]) for a in doc["hosts"]["web02"]["actions"]] == [
        ("downgrade", "foo", "1.1-1")]  # fmt: skip
    assert doc["hosts"]["db01"]["error"]["exit"] == 4
    assert doc["summary"]["errors"] == {"db01": 4, "db02": 3}
    # the summary table names every host
    assert all(n in res.stdout for n in by_name) and "4 hosts: 2 change" in res.stdout


def _version_set(world: World, path: Path) -> Path:
    doc = {"format": "spma-versionset/1", "id": "test-2026-01-31", "os": "test",
           "family": "rpm" if world.backend == "dnf" else "deb", "cutoff": "2026-01-31", "sources": ["t"],
           "kernel": None,
           "packages": {"foo": {"evr": "1.1-1", "arch": [], "advisories": ["ADV-1"]}}}  # fmt: skip
    path.write_text(json.dumps(doc))
    return path


def _scratch() -> set:
    import glob
    import tempfile

    return set(glob.glob("/dev/shm/spma-fleet-*")) | set(
        glob.glob(os.path.join(tempfile.gettempdir(), "spma-fleet-*"))
    )


def test_fleet_plan_with_one_profile_and_errata(world: World, hosts: Fleet, tmp_path: Path):
    by_name, inv, _prof = hosts
    profile = tmp_path / "site.json"
    profile.write_text(json.dumps(world.profile({"foo": None, "bar": None})))
    vs = _version_set(world, tmp_path / "set.json")
    before = _scratch()
    doc = fleet.plan_fleet(str(inv), profile=str(profile), errata=str(vs), workers=1)
    assert _scratch() <= before  # the workers' scratch roots and caches went with them
    _check_equal(doc, by_name, {n: profile for n in by_name}, "--errata", str(vs))
    if world.backend == "dnf":
        assert doc["summary"]["errors"] == {}
    # (apt refuses a fresh install of bar under the pin on db01/db02: as spma plan does, checked above)
    for name in by_name:
        if "error" in doc["hosts"][name]:
            continue
        foo = [a for a in doc["hosts"][name]["actions"] if a["name"] == "foo"]
        assert not foo or (foo[0]["to"] == "1.1-1" and foo[0]["reason"] == "errata"), (name, foo)
    bars = [a for a in doc["hosts"]["web02"]["actions"] if a["name"] == "bar"]
    assert bars and bars[0]["to"] == "1.0-1"  # follows the errata pin of foo down, in the same solve


def test_fleet_plan_on_a_dask_cluster(world: World, hosts: Fleet, tmp_path: Path):
    import distributed

    by_name, inv, prof = hosts
    local = fleet.plan_fleet(str(inv), profile_dir=str(prof), workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        remote = fleet.plan_fleet(str(inv), profile_dir=str(prof), scheduler=cluster.scheduler_address)
    assert remote["hosts"] == local["hosts"]
    assert remote["summary"]["errors"] == {"db01": 4, "db02": 3}
