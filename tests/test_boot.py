"""Boot-time deferral on real dnf and rpm: the live part, prefetch, `spma boot`, reboot hints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spma import run
from spma.errors import StalePlanError, TransactionError
from tests.builders.rpmrepo import make_repo, parse
from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")

P = parse
OLD = [P("glibc-2.34-1"), P("app-1.0-1", requires=["glibc >= 2.34-1"]), P("tool-1.0-1"), P("other-1.0-1")]
NEW = OLD + [P("glibc-2.34-100"), P("app-2.0-1", requires=["glibc >= 2.34-100"]), P("tool-2.0-1")]
DECL = {"glibc": None, "app": None, "tool": None}


@pytest.fixture(scope="module")
def snaps(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("boot")
    return {"old": str(make_repo(d / "old", OLD)), "new": str(make_repo(d / "new", NEW))}


def _rpm_verify(host: Host) -> None:
    res = subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-Va", "--nomtime"],
                         capture_output=True, text=True, env=dict(os.environ, HOME=str(host.base)))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture
def deferred_host(tmp_path: Path, snaps) -> Host:
    host = Host(tmp_path)
    host.apply(profile_tree(DECL, {"os": snaps["old"]}), boot=True)  # an install: everything at once
    assert host.installed() == ["app-1.0-1.noarch", "glibc-2.34-1.noarch", "tool-1.0-1.noarch"]
    return host


def _copy_repo(snaps, tmp_path: Path) -> str:
    dst = tmp_path / "mirror"
    shutil.copytree(snaps["new"], dst)
    return str(dst)


def test_live_run_defers_the_core_library_and_what_needs_it(deferred_host: Host, snaps, tmp_path: Path):
    host = deferred_host
    mirror = _copy_repo(snaps, tmp_path)
    res = host.apply(profile_tree(DECL, {"os": mirror}))
    acts = {a["name"]: a for a in res.plan["actions"]}
    assert (acts["glibc"]["deferred"], acts["glibc"]["defer_reason"]) == (True, "boot-only glibc*")
    assert (acts["app"]["deferred"], acts["app"]["defer_reason"]) == (True, "needs glibc 2.34-100")
    assert (acts["tool"]["deferred"], acts["tool"]["defer_reason"]) == (False, None)
    assert acts["glibc"]["reboot"] is True and res.plan["reboot_required"] is True
    # the live part ran, alone, and left a consistent root
    assert host.installed() == ["app-1.0-1.noarch", "glibc-2.34-1.noarch", "tool-2.0-1.noarch"]
    _rpm_verify(host)
    sdir = host.root / "var/lib/spma"
    pending = json.loads((sdir / "pending.json").read_text())
    assert pending["status"] == "pending" and [a["name"] for a in pending["actions"]] == ["app", "glibc"]
    assert sorted(os.listdir(sdir / "pending")) == ["app-2.0-1.noarch.rpm", "glibc-2.34-100.noarch.rpm"]
    assert (sdir / "boot.trigger").exists()
    assert (host.root / "run/reboot-required").exists()
    assert (host.root / "run/reboot-required.pkgs").read_text() == "app\nglibc\n"
    st = json.loads(host.cli("status", "--format", "json").stdout)
    assert (
        st["reboot_required"] is True and st["pending_boot"]["actions"] == 2 and st["pending_boot"]["armed"]
    )
    assert "needs glibc 2.34-100" in st["pending_boot"]["reasons"]
    text = host.cli("status").stdout
    assert "Pending at boot: 2 changes, pending, armed" in text and "Reboot required" in text

    # a second live run does not duplicate the pending work
    again = host.apply(profile_tree(DECL, {"os": mirror}))
    assert [a["name"] for a in again.plan["actions"] if a["deferred"]] == ["app", "glibc"]
    assert [a for a in again.plan["actions"] if not a["deferred"]] == []
    assert len(json.loads((sdir / "pending.json").read_text())["actions"]) == 2
    assert len(os.listdir(sdir / "pending")) == 2

    # boot with every repository gone: from the prefetched cache, no network
    shutil.rmtree(mirror)
    p = host.cli("boot")
    assert p.returncode == 0, p.stderr
    assert "step=boot-trigger" in p.stderr and "step=boot result=applied actions=2" in p.stderr
    assert host.installed() == ["app-2.0-1.noarch", "glibc-2.34-100.noarch", "tool-2.0-1.noarch"]
    _rpm_verify(host)
    assert not (sdir / "boot.trigger").exists() and not (sdir / "pending.json").exists()
    assert not (host.root / "run/reboot-required").exists()
    assert json.loads((sdir / "state.json").read_text())["result"] == "boot-applied"
    # and afterwards the live plan is empty
    assert host.plan(profile_tree(DECL, {"os": snaps["new"]})).changes == 0
    # a boot with nothing pending does nothing
    assert host.cli("boot").returncode == 0


def test_trigger_removed_even_when_the_boot_apply_fails(deferred_host: Host, snaps):
    host = deferred_host
    host.apply(profile_tree(DECL, {"os": snaps["new"]}))
    sdir = host.root / "var/lib/spma"
    (sdir / "pending" / "glibc-2.34-100.noarch.rpm").write_bytes(b"not an rpm")
    before = host.installed()
    for attempt in (1, 2, 3):
        with pytest.raises(TransactionError if attempt > 3 else Exception) as ei:
            run.boot(str(host.root), max_attempts=3)
        assert getattr(ei.value, "exit_code", None) == 5  # an unreadable prefetched package
        assert not (sdir / "boot.trigger").exists()
        assert host.installed() == before
        st = json.loads((sdir / "state.json").read_text())
        assert st["result"] == "boot-failed" and st["attempts"] == attempt
    # the pending plan is not retried forever
    assert json.loads((sdir / "pending.json").read_text())["status"] == "failed"
    assert run.boot(str(host.root))["result"] == "nothing-pending"


def test_boot_gives_up_after_max_attempts_and_refuses_a_changed_host(deferred_host: Host, snaps):
    host = deferred_host
    host.apply(profile_tree(DECL, {"os": snaps["new"]}))
    pjson = host.root / "var/lib/spma/pending.json"
    doc = json.loads(pjson.read_text())
    doc["attempts"] = 3
    pjson.write_text(json.dumps(doc))
    with pytest.raises(TransactionError, match="gave up"):
        run.boot(str(host.root), max_attempts=3)
    assert host.installed() == ["app-1.0-1.noarch", "glibc-2.34-1.noarch", "tool-2.0-1.noarch"]
    # a new live run plans again and re-arms; then the host changes before the boot
    host.apply(profile_tree(DECL, {"os": snaps["new"]}))
    subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-e", "tool"], check=True,
                   capture_output=True, env=dict(os.environ, HOME=str(host.base)))  # fmt: skip
    with pytest.raises(StalePlanError):
        run.boot(str(host.root))
    assert "glibc-2.34-1.noarch" in host.installed()


def test_boot_flag_and_empty_boot_only_defer_nothing(deferred_host: Host, snaps, tmp_path: Path):
    res = deferred_host.plan(profile_tree(DECL, {"os": snaps["new"]}), boot=True)
    assert res.plan["mode"] == "boot" and not [a for a in res.plan["actions"] if a["deferred"]]
    res = deferred_host.apply(profile_tree(DECL, {"os": snaps["new"]}, boot_only=[]))
    assert not [a for a in res.plan["actions"] if a["deferred"]]
    assert deferred_host.installed() == ["app-2.0-1.noarch", "glibc-2.34-100.noarch", "tool-2.0-1.noarch"]
    assert not (deferred_host.root / "var/lib/spma/pending.json").exists()


def test_profile_boot_only_globs(deferred_host: Host, snaps):
    res = deferred_host.plan(profile_tree(DECL, {"os": snaps["new"]}, boot_only=["tool"]))
    got = {a["name"]: (a["deferred"], a["defer_reason"]) for a in res.plan["actions"]}
    assert got == {"app": (False, None), "glibc": (False, None), "tool": (True, "boot-only tool")}
