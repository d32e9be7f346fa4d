"""rpm transactions cut short: an interrupted rpm transaction can leave two versions of one
package that is not install-only in the rpmdb. Made here with rpm itself (`rpm -i --justdb`
of the newer version beside the older, which is what the rpmdb holds when a transaction dies
between installing the new header and erasing the old one), on real rpm sandbox roots."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from tests.builders.rpmrepo import _rpm_env
from tests.helpers import Host, actions, profile_tree

pytestmark = pytest.mark.dnf


def add_to_rpmdb(host: Host, repo: str, nevra: str) -> None:
    """Register one more package in the root's rpmdb, beside what is there."""
    rpmfile = next(Path(repo).rglob("%s.rpm" % nevra))
    subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps", "--oldpackage",
                    "--noscripts", str(rpmfile)], check=True, capture_output=True, env=_rpm_env(str(host.root)))  # fmt: skip


def test_duplicate_is_planned_as_a_repair_and_removed(host: Host, repos: Dict[str, str]):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    host.boot = True
    host.apply(profile_tree({"bar": "1.0-1", "foo": "1.1-1"}, {"os": repos["snap2"]}))
    host.apply(prof)  # a successful apply: the fast path's baseline
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    add_to_rpmdb(host, repos["snap2"], "foo-1.1-1.noarch")
    assert host.installed() == ["bar-2.0-1.noarch", "foo-1.1-1.noarch", "foo-2.0-1.noarch"]
    res = host.plan(prof)
    assert actions(res) == [("remove", "foo", "1.1-1", None, "interrupted")]
    assert res.plan["actions"][0]["because"].startswith("two versions of it are in the rpm database")
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0, p.stderr
    assert "step=fast-path unchanged=False unfinished=2" in p.stderr  # both copies
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    p = host.cli("apply", "--agent", profile=prof)
    assert "step=fast-path unchanged=True" in p.stderr


def test_duplicate_with_the_older_version_declared(host: Host, repos: Dict[str, str]):
    """The declared version is the copy that stays, even when it is the older one."""
    host.boot = True
    prof = profile_tree({"foo": "1.1-1"}, {"os": repos["snap2"]})
    host.apply(prof)
    add_to_rpmdb(host, repos["snap2"], "foo-2.0-1.noarch")
    res = host.plan(prof)
    assert actions(res) == [("remove", "foo", "2.0-1", None, "interrupted")]
    host.apply(prof)
    assert host.installed() == ["foo-1.1-1.noarch"]
    assert host.plan(prof).changes == 0


def test_install_only_versions_side_by_side_are_not_duplicates(host: Host, repos: Dict[str, str]):
    host.boot = True
    prof = profile_tree({"kernel": ["6.1.0-1", "6.2.0-1"]}, {"os": repos["snap2"]})
    host.apply(prof)
    from spma.backend import load_backend

    b = load_backend("dnf", root=str(host.root), statedir=str(host.root / "var/lib/spma"))
    assert b.unfinished() == ()
    assert host.plan(prof).changes == 0


# rpm runs a Lua scriptlet itself, chrooted into the root: no shell needed in a sandbox
SLOW_POST = """
local tag = "/etc/spma-test/%s"
local f = io.open(tag:format("in-post-svc"), "w"); if f then f:close() end
if posix.access(tag:format("slow-post-svc")) then posix.sleep(120) end
if posix.access(tag:format("fail-post-svc")) then error("failing on purpose") end
"""


@pytest.fixture(scope="module")
def svc_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.builders.rpmrepo import make_repo, parse

    pkgs = [
        parse("svc-1.0-1"),
        dataclasses.replace(parse("svc-2.0-1"), post_lua=SLOW_POST),
        parse("plain-1.0-1"),
    ]
    return str(make_repo(tmp_path_factory.mktemp("svc") / "repo", pkgs))


@pytest.mark.slow
def test_kill9_during_post_of_an_upgrade_leaves_a_duplicate_that_the_next_run_repairs(
    host: Host, svc_repo: str
):
    import os
    import signal
    import time

    from tests.helpers import REPO_ROOT, SPMA

    host.boot = True
    host.apply(profile_tree({"svc": "1.0-1", "plain": None}, {"os": svc_repo}))
    (host.root / "etc/spma-test").mkdir(parents=True)
    (host.root / "etc/spma-test/slow-post-svc").touch()
    prof = profile_tree({"svc": "2.0-1", "plain": None}, {"os": svc_repo})
    argv = SPMA + ["apply", "--root", str(host.root), "--running-kernel", "", str(host.write(prof))]
    proc = subprocess.Popen(argv, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    marker = host.root / "etc/spma-test/in-post-svc"
    deadline = time.monotonic() + 120
    try:
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the %post never ran"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # rpm adds the new header before %post and erases the old one after: both are there now
    assert host.installed() == ["plain-1.0-1.noarch", "svc-1.0-1.noarch", "svc-2.0-1.noarch"]
    (host.root / "etc/spma-test/slow-post-svc").unlink()
    res = host.plan(prof)
    assert actions(res) == [("remove", "svc", "1.0-1", None, "interrupted")]
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0, p.stderr
    assert "unchanged=True" not in p.stderr
    assert host.installed() == ["plain-1.0-1.noarch", "svc-2.0-1.noarch"]
    assert host.plan(prof).changes == 0


def test_failed_post_is_a_loud_warning_not_a_silent_success(host: Host, svc_repo: str):
    """rpm installs a package whose %post failed and calls the transaction good: spma says so."""
    host.boot = True
    (host.root / "etc/spma-test").mkdir(parents=True)
    (host.root / "etc/spma-test/fail-post-svc").touch()
    p = host.cli("apply", profile=profile_tree({"svc": "2.0-1"}, {"os": svc_repo}))
    assert p.returncode == 0, p.stderr
    assert "the transaction was applied, but rpm reported:" in p.stderr and "svc" in p.stderr, p.stderr
    assert host.installed() == ["svc-2.0-1.noarch"]


def test_duplicate_of_a_boot_only_name_on_a_live_run(host: Host, repos: Dict[str, str]):
    """kernel-tools is boot-only (kernel*) but not install-only: its leftover copy is repaired
    with the rest; the version move waits for boot."""
    host.boot = True
    host.apply(profile_tree({"kernel-tools": "6.2.0-1"}, {"os": repos["snap2"]}))
    add_to_rpmdb(host, repos["snap2"], "kernel-tools-6.1.0-1.noarch")
    host.boot = False
    res = host.plan(profile_tree({"kernel-tools": None}, {"os": repos["snap2"]}))
    got = {(a["action"], a["name"], a["from"], a["reason"], a["deferred"]) for a in res.plan["actions"]}
    assert got == {("remove", "kernel-tools", "6.1.0-1", "interrupted", False),
                   ("upgrade", "kernel-tools", "6.2.0-1", "sync", True)}  # fmt: skip
    res = host.apply(profile_tree({"kernel-tools": None}, {"os": repos["snap2"]}))
    assert host.installed() == ["kernel-tools-6.2.0-1.noarch"]
    from spma import run

    assert run.boot(str(host.root))["result"] == "applied"
    assert host.installed() == ["kernel-tools-6.3.0-1.noarch"]


def test_the_install_only_names_are_dnfs_defaults() -> None:
    """The no-op check reads duplicates without importing dnf: its install-only names must stay
    dnf's own defaults."""
    import dnf.conf
    from spma.backends.dnf.duplicates import INSTALLONLY

    conf = dnf.conf.Conf()
    assert set(INSTALLONLY) == set(conf.installonlypkgs)
