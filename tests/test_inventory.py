"""`spma inventory`: a host's recorded package state, on real rpm and dpkg roots."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from spma import inventory
from spma.errors import ProfileError
from tests.fleet_world import RUNNING_KERNEL, World, kernel_decl
from tests.helpers import Host


@pytest.fixture(scope="module", params=["dnf", "apt"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(request.param, tmp_path_factory.mktemp("inv-" + request.param))


def _host(world: World, tmp_path: Path) -> Host:
    return Host(tmp_path / "h", running_kernel=RUNNING_KERNEL if world.backend == "dnf" else "", boot=True)


def test_inventory_records_the_installed_state_exactly(world: World, tmp_path: Path):
    host = _host(world, tmp_path)
    prof = world.profile(dict({"bar": "1.0-1", "app": None, "tool": None}, **kernel_decl(world, ["6.1.0-1", "6.2.0-1"])),
                         snap="old")  # fmt: skip
    host.apply(prof)
    out = tmp_path / "h.json.gz"
    res = host.cli(
        "inventory", "--root", str(host.root), "--out", str(out), "--running-kernel", host.running_kernel
    )
    assert res.returncode == 0, res.stderr
    inv = inventory.load(str(out))
    assert inv.name == "h" and inv.family == ("rpm" if world.backend == "dnf" else "deb")
    assert inv.root == str(host.root)
    got = {p.name: p.evr for p in inv.packages if not p.name.startswith("kernel")}
    assert got == world_installed(world, host)
    if world.backend == "dnf":
        assert sorted(p.evr for p in inv.packages if p.name == "kernel") == ["6.1.0-1", "6.2.0-1"]
        assert inv.running_kernel == RUNNING_KERNEL
    # the fingerprint the backend itself gives the installed set, and a last run recorded
    plan = host.plan(prof).plan
    assert inv.doc["installed_fingerprint"] == plan["inputs"]["installed"]
    assert inv.doc["last_run"]["result"] == "applied"
    assert inv.doc["profile_sha256"] == plan["inputs"]["profile"]
    # a root rebuilt from it is, to the backend, the same installed state
    t = tmp_path / "t"
    inventory.materialise(inv, str(t))
    again = Host(tmp_path / "t-host", running_kernel=host.running_kernel, boot=True)
    again.root = t
    assert again.plan(prof).plan["inputs"]["installed"] == plan["inputs"]["installed"]
    # materialising another host into the same directory replaces the package database
    host2 = _host(world, tmp_path / "second")
    host2.apply(world.profile({"tool": None}))
    inventory.materialise(inventory.Inventory("x", inventory.collect(str(host2.root))), str(t))
    assert again.plan(prof).plan["inputs"]["installed"] == host2.plan(prof).plan["inputs"]["installed"]


def world_installed(world: World, host: Host) -> dict:
    from tests.builders import debrepo
    from tests.test_both_backends import _rpm_installed

    got = _rpm_installed(host.root) if world.backend == "dnf" else debrepo.dpkg_installed(host.root)
    return {k: v for k, v in got.items() if not k.startswith("kernel")}


def test_apply_writes_the_inventory_after_each_run(world: World, tmp_path: Path):
    host = _host(world, tmp_path)
    out = tmp_path / "inv" / "h.json.gz"
    res = host.cli("apply", "--inventory", str(out), "--boot", profile=world.profile({"app": None}))
    assert res.returncode == 0, res.stderr
    assert {p.name for p in inventory.load(str(out)).packages} == {"app", "lib"}
    # a refused run records the state too (unchanged here)
    res = host.cli("apply", "--inventory", str(out), "--boot", profile=world.profile({"nosuch": None}))
    assert res.returncode == 4
    assert {p.name for p in inventory.load(str(out)).packages} == {"app", "lib"}


def test_untrusted_inventories_are_refused_with_the_field(tmp_path: Path):
    good = {"format": "spma-inventory/1", "root": "/", "os": {"family": "deb", "id": "debian",
            "version_id": "12", "os_release": ""}, "packages": [], "dpkg": {"status": ""}}  # fmt: skip
    inventory.loads(json.dumps(good).encode(), "ok")
    bad = [
        (b"\x1f\x8b not gzip", "not an inventory"),
        (b"[]", "/format"),
        (json.dumps(dict(good, packages=[{"name": 1}])).encode(), "/packages/0"),
        (
            json.dumps(dict(good, os={"family": "rpm"}, rpm={"dbpath": "/etc", "headers": ""})).encode(),
            "/rpm",
        ),
        (gzip.compress(json.dumps(dict(good, dpkg={})).encode()), "/dpkg/status"),
    ]
    for data, what in bad:
        with pytest.raises(ProfileError) as ei:
            inventory.loads(data, "h")
        assert what in str(ei.value)


def test_dnf_module_state_travels_with_the_inventory(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    world = World("dnf", tmp_path_factory.mktemp("inv-mod"))
    host = _host(world, tmp_path)
    host.apply(world.profile({"tool": None}))
    mdir = host.root / "etc/dnf/modules.d"
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "nodejs.module").write_text("[nodejs]\nname=nodejs\nstream=18\nprofiles=\nstate=enabled\n")
    doc = inventory.collect(str(host.root))
    assert doc["rpm"]["dnf_modules"] == {
        "etc/dnf/modules.d/nodejs.module": (mdir / "nodejs.module").read_text()
    }
    t = tmp_path / "t"
    inventory.materialise(inventory.Inventory("h", doc), str(t))
    assert (t / "etc/dnf/modules.d/nodejs.module").read_text() == (mdir / "nodejs.module").read_text()
    for bad in ("etc/dnf/modules.d/../../x.module", "etc/passwd", "etc/dnf/modules.d/.hidden.module"):
        hostile = dict(doc, rpm=dict(doc["rpm"], dnf_modules={bad: "x"}))
        with pytest.raises(ProfileError) as ei:
            inventory.loads(json.dumps(hostile).encode(), "h")
        assert "/rpm/dnf_modules" in str(ei.value)
