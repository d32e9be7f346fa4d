"""Boot-time deferral on apt/dpkg: a libc6-like package waits for boot, with what needs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spma import run
from tests.builders.debrepo import deb, dpkg_installed, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile

pytestmark = pytest.mark.apt
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("apt_pkg")

OLD = [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6 (>= 2.36-1)"]), deb("tool=1.0-1")]
NEW = OLD + [deb("libc6=2.36-9"), deb("app=2.0-1", depends=["libc6 (>= 2.36-9)"]), deb("tool=2.0-1")]
DECL = {"libc6": None, "app": None, "tool": None}


def test_libc6_like_upgrade_waits_for_boot(tmp_path: Path):
    old = "file://%s" % make_repo(tmp_path / "old", OLD)
    mirror = tmp_path / "mirror"
    new = "file://%s s main" % make_repo(mirror, NEW, suite="s")
    host = Host(tmp_path / "h")
    host.apply(apt_profile(DECL, old), boot=True)
    assert dpkg_installed(host.root) == {"app": "1.0-1", "libc6": "2.36-1", "tool": "1.0-1"}

    res = host.apply(apt_profile(DECL, new))
    got = {a["name"]: (a["deferred"], a["defer_reason"]) for a in res.plan["actions"]}
    assert got == {
        "libc6": (True, "boot-only libc6"),
        "app": (True, "needs libc6 2.36-9"),
        "tool": (False, None),
    }
    # the live part ran alone and left dpkg consistent
    assert dpkg_installed(host.root) == {"app": "1.0-1", "libc6": "2.36-1", "tool": "2.0-1"}
    audit = subprocess.run(["dpkg", "--root=%s" % host.root, "--audit"], capture_output=True, text=True)
    assert audit.stdout == ""
    sdir = host.root / "var/lib/spma"
    assert sorted(os.listdir(sdir / "pending")) == ["Packages", "app_2.0-1_all.deb", "libc6_2.36-9_all.deb"]
    assert json.loads((sdir / "pending.json").read_text())["backend"] == "apt"
    assert (sdir / "boot.trigger").exists() and (host.root / "run/reboot-required").exists()
    # a second live run does not add to it
    again = host.apply(apt_profile(DECL, new))
    assert sorted(a["name"] for a in again.plan["actions"] if a["deferred"]) == ["app", "libc6"]
    assert len(json.loads((sdir / "pending.json").read_text())["actions"]) == 2

    # boot with the mirror gone
    shutil.rmtree(mirror)
    assert run.boot(str(host.root))["result"] == "applied"
    assert dpkg_installed(host.root) == {"app": "2.0-1", "libc6": "2.36-9", "tool": "2.0-1"}
    assert not (sdir / "boot.trigger").exists() and not (sdir / "pending.json").exists()
    assert not (host.root / "run/reboot-required").exists()
    make_repo(mirror, NEW, suite="s")
    assert host.plan(apt_profile(DECL, new)).changes == 0


def test_boot_failure_on_apt_removes_the_trigger_and_changes_nothing(tmp_path: Path):
    old = "file://%s" % make_repo(tmp_path / "old", OLD)
    new = "file://%s s main" % make_repo(tmp_path / "new", NEW, suite="s")
    host = Host(tmp_path / "h")
    host.apply(apt_profile(DECL, old), boot=True)
    host.apply(apt_profile(DECL, new))
    sdir = host.root / "var/lib/spma"
    (sdir / "pending" / "libc6_2.36-9_all.deb").write_bytes(b"broken")
    before = dpkg_installed(host.root)
    with pytest.raises(Exception):  # noqa: B017 - any SpmaError: what matters is the state after
        run.boot(str(host.root))
    assert not (sdir / "boot.trigger").exists()
    assert dpkg_installed(host.root) == before
    assert json.loads((sdir / "state.json").read_text())["result"] == "boot-failed"
