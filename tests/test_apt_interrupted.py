"""apt/dpkg runs cut short: a maintainer script that fails, a dpkg run killed with SIGKILL part
way. Real .debs whose scripts fail or sleep when a flag file in the root says so, real dpkg
chrooting into the sandbox root to run them. Whatever dpkg leaves behind (unpacked,
half-configured, half-installed, triggers pending or awaited) is planned as a repair with the
reason `interrupted`, finished by the next apply, never hidden by the agent's fast path, and a
failure says what dpkg left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

import pytest

from spma.errors import TransactionError
from tests.builders.debrepo import deb, dpkg_installed, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile

pytestmark = [pytest.mark.apt, pytest.mark.slow]

# One script for every maintainer script: it leaves a marker, then fails or sleeps when the
# root holds the flag for this script, package and first argument (configure, triggered, ...).
SCRIPT = """#!/bin/sh
tag="$DPKG_MAINTSCRIPT_NAME-$DPKG_MAINTSCRIPT_PACKAGE-$1"
: > "/etc/spma-test/in-$tag"
[ ! -e "/etc/spma-test/fail-$tag" ] || exit 1
[ ! -e "/etc/spma-test/slow-$tag" ] || sleep 120
exit 0
"""
SCRIPTS = {"preinst": SCRIPT, "postinst": SCRIPT}
DEBS = [
    deb("plain=1.0-1"),
    deb("svc=1.0-1", scripts=SCRIPTS),
    deb("svc=2.0-1", scripts=SCRIPTS),
    deb("needsvc=1.0-1", depends=["svc"]),
    # trig is interested in act's files: installing act leaves trig triggers-pending and act
    # triggers-awaited until dpkg processes the trigger (trig's postinst "triggered")
    deb(
        "trig=1.0-1",
        scripts=dict(
            SCRIPTS, triggers="interest /usr/share/spma-test/act\ninterest /usr/share/spma-test/act2\n"
        ),
    ),
    # act2 is configured first (act needs it), then waits for trig while act's postinst runs
    deb("act=1.0-1", depends=["act2"], scripts=SCRIPTS),
    deb("act2=1.0-1"),
    deb("libc6=2.36-1"),
    deb("libc6=2.36-9"),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "file://%s" % make_repo(tmp_path_factory.mktemp("interrupted") / "repo", DEBS)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    h = Host(tmp_path, boot=True)
    give_shell(h.root)
    return h


def give_shell(root: Path) -> None:
    """dpkg runs maintainer scripts chrooted into --root: the root needs /bin/sh and sleep."""
    for d in ("bin", "lib/x86_64-linux-gnu", "lib64", "etc/spma-test"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/dash", root / "bin/sh")
    shutil.copy("/bin/sleep", root / "bin/sleep")
    for lib in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        shutil.copy(lib, root / lib.lstrip("/"))


def flag(host: Host, kind: str, tag: str, on: bool = True) -> None:
    path = host.root / "etc/spma-test" / ("%s-%s" % (kind, tag))
    if on:
        path.touch()
    elif path.exists():
        path.unlink()


def dpkg_states(root: Path) -> Dict[str, str]:
    """name -> dpkg's Status (want flag state) for every package dpkg knows."""
    res = subprocess.run(["dpkg-query", "--admindir=%s/var/lib/dpkg" % root, "-W", "-f=${Package}\t${Status}\n"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return dict(line.split("\t") for line in res.stdout.splitlines())


def audit(root: Path) -> str:
    return subprocess.run(["dpkg", "--root=%s" % root, "--audit"], capture_output=True, text=True).stdout


def acts(res) -> list:  # type: ignore[no-untyped-def]
    return [
        (a["action"], a["name"], a["from"], a["to"], a["reason"], a["because"]) for a in res.plan["actions"]
    ]


def kill_when(host: Host, profile: dict, marker: str, timeout: float = 120) -> None:
    """Start `spma apply`, wait until the maintainer script named by `marker` runs, then SIGKILL
    the whole process group (spma, apt's child, dpkg and the script), as a crash or an OOM kill would."""
    argv = ["apply", "--root", str(host.root), "--running-kernel", ""]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    from tests.helpers import SPMA

    proc = subprocess.Popen(SPMA + argv + [str(host.write(profile))], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    path = host.root / "etc/spma-test" / ("in-" + marker)
    deadline = time.monotonic() + timeout
    try:
        while not path.exists():
            assert proc.poll() is None, "spma ended before %s ran" % marker
            assert time.monotonic() < deadline, "%s never ran" % marker
            time.sleep(0.05)
    finally:
        with contextlib_suppress():
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class contextlib_suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is ProcessLookupError


def test_failed_postinst_says_what_dpkg_left_and_the_next_run_finishes_it(host: Host, repo: str):
    prof = apt_profile({"svc": "1.0-1", "plain": None}, repo)
    flag(host, "fail", "postinst-svc-configure")
    p = host.cli("apply", profile=prof)
    assert p.returncode == 9, p.stderr
    assert "dpkg changed the host" in p.stderr and "nothing was changed" not in p.stderr
    assert "it left behind: svc:all 1.0-1 (half-configured)" in p.stderr
    assert dpkg_states(host.root)["svc"] == "install ok half-configured"
    # still failing: the repair itself fails, and says so, with what is left
    p = host.cli("apply", profile=prof)
    assert p.returncode == 9 and "dpkg's recovery" in p.stderr and "(half-configured)" in p.stderr, p.stderr
    flag(host, "fail", "postinst-svc-configure", on=False)
    before = dpkg_states(host.root)
    res = host.plan(prof)
    assert acts(res) == [("reinstall", "svc", "1.0-1", "1.0-1", "interrupted",
                          "dpkg left it half-configured (its configuration failed or was interrupted)")]  # fmt: skip
    assert dpkg_states(host.root) == before  # plan changes nothing
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0, p.stderr
    assert "unchanged=True" not in p.stderr
    assert dpkg_installed(host.root) == {"plain": "1.0-1", "svc": "1.0-1"}
    assert audit(host.root) == ""
    assert host.plan(prof).changes == 0


def test_kill9_during_postinst_leaves_unpacked_and_half_configured_never_fast_pathed(host: Host, repo: str):
    host.apply(apt_profile({"plain": None}, repo))  # a successful apply: the fast path's baseline
    prof = apt_profile({"plain": None, "svc": "1.0-1", "needsvc": None}, repo)
    flag(host, "slow", "postinst-svc-configure")
    kill_when(host, prof, "postinst-svc-configure")
    states = dpkg_states(host.root)
    assert states["svc"] == "install ok half-configured"
    assert states["needsvc"] == "install ok unpacked"
    flag(host, "slow", "postinst-svc-configure", on=False)
    res = host.plan(prof)
    assert {(a[0], a[1], a[4]) for a in acts(res)} == {("reinstall", "needsvc", "interrupted"),
                                                      ("reinstall", "svc", "interrupted")}  # fmt: skip
    assert {a[1]: a[5] for a in acts(res)}["needsvc"] == "dpkg left it unpacked but not configured"
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0, p.stderr
    assert "unchanged=True" not in p.stderr
    assert dpkg_installed(host.root) == {"plain": "1.0-1", "svc": "1.0-1", "needsvc": "1.0-1"}
    assert audit(host.root) == ""
    p = host.cli("apply", "--agent", profile=prof)
    assert "step=fast-path unchanged=True" in p.stderr  # converged: the fast path is back


@pytest.mark.parametrize("first", [None, "1.0-1"], ids=["fresh-install", "upgrade"])
def test_kill9_during_preinst_leaves_half_installed(host: Host, repo: str, first: Optional[str]):
    """dpkg's journal (updates/) holds the state a killed run left; spma reads it as dpkg does."""
    if first:
        host.apply(apt_profile({"svc": first}, repo))
    prof = apt_profile({"svc": "2.0-1", "plain": None}, repo)
    tag = "preinst-svc-%s" % ("upgrade" if first else "install")
    flag(host, "slow", tag)
    kill_when(host, prof, tag)
    assert dpkg_states(host.root)["svc"] == "install reinstreq half-installed"
    assert os.listdir(host.root / "var/lib/dpkg/updates")  # only the journal knows it
    flag(host, "slow", tag, on=False)
    res = host.plan(prof)
    svc = [a for a in res.plan["actions"] if a["name"] == "svc"]
    assert len(svc) == 1 and "dpkg left it half-installed" in svc[0]["because"]
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0, p.stderr
    assert dpkg_installed(host.root) == {"plain": "1.0-1", "svc": "2.0-1"}
    assert audit(host.root) == ""
    assert host.plan(prof).changes == 0


def test_triggers_pending_and_awaited_are_finished(host: Host, repo: str):
    from tests.builders.debrepo import build_one

    prof = apt_profile({"trig": None, "act2": None}, repo)
    host.apply(apt_profile({"trig": None}, repo))
    # what a dpkg run stopped before it processed triggers leaves: act2 waits for trig's trigger
    act2 = next(d for d in DEBS if d.name == "act2")
    subprocess.run(["dpkg", "--root=%s" % host.root, "--log=%s/var/log/dpkg.log" % host.root, "--no-triggers",
                    "-i", str(build_one(act2))], check=True, capture_output=True)  # fmt: skip
    states = dpkg_states(host.root)
    assert states["trig"] == "install ok triggers-pending"
    assert states["act2"] == "install ok triggers-awaited"
    assert dpkg_installed(host.root) == {}  # only "installed" counts
    res = host.plan(prof)
    assert acts(res) == [
        ("reinstall", "act2", "1.0-1", "1.0-1", "interrupted", "dpkg left it awaiting another package's trigger processing"),
        ("reinstall", "trig", "1.0-1", "1.0-1", "interrupted", "dpkg left its triggers pending"),
    ]  # fmt: skip
    res = host.apply(prof)
    assert res.applied
    assert (host.root / "etc/spma-test/in-postinst-trig-triggered").exists()
    assert dpkg_installed(host.root) == {"trig": "1.0-1", "act2": "1.0-1"}
    assert audit(host.root) == ""


def test_a_failure_is_a_transaction_error_naming_the_leftovers(host: Host, repo: str):
    """The Python API raises the same TransactionError the CLI maps to exit 9."""
    flag(host, "fail", "preinst-svc-install")
    with pytest.raises(TransactionError) as e:
        host.apply(apt_profile({"svc": "1.0-1"}, repo))
    # a failed preinst of a fresh install is undone by dpkg itself: nothing is left
    assert "it left behind" not in e.value.message
    assert "svc" not in dpkg_installed(host.root)


def test_repair_goes_live_while_a_boot_only_change_waits(tmp_path: Path, repo: str):
    """A live run: dpkg's recovery and the live part run now, the boot-only change waits."""
    host = Host(tmp_path, boot=False)
    give_shell(host.root)
    flag(host, "fail", "postinst-svc-configure")
    with pytest.raises(TransactionError):
        host.apply(apt_profile({"svc": "1.0-1", "libc6": "2.36-1"}, repo), boot=True)
    flag(host, "fail", "postinst-svc-configure", on=False)
    prof = apt_profile({"svc": "1.0-1", "libc6": "2.36-9", "plain": None}, repo)
    res = host.plan(prof)
    got = {(a["action"], a["name"], a["reason"], a["deferred"]) for a in res.plan["actions"]}
    assert got == {("reinstall", "svc", "interrupted", False), ("install", "plain", "declared", False),
                   ("upgrade", "libc6", "declared", True)}  # fmt: skip
    res = host.apply(prof)
    assert res.applied
    assert dpkg_installed(host.root) == {"svc": "1.0-1", "libc6": "2.36-1", "plain": "1.0-1"}
    assert audit(host.root) == ""
    assert (host.root / "var/lib/spma/pending.json").exists()
