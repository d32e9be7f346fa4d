"""Exits tell the truth under host faults, on both backends: a full file system before the
transaction is exit 5 "no room at PATH"; a read-only root or a run without root's rights is a
clear environment error (exit 3) naming the path; a failure after the transaction committed is
never exit 1 "internal error" nor "nothing was changed". Real file systems: a small tmpfs filled
to the last byte, a read-only bind mount; both unmounted after each test."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest

from tests import test_both_backends
from tests.helpers import REPO_ROOT, SPMA, Host
from tests.test_both_backends import World

world = test_both_backends.world  # the same parametrised fixture: each test runs on dnf and apt

pytestmark = pytest.mark.slow

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting file systems needs root")


@pytest.fixture
def mounts() -> Iterator[List[Path]]:
    made: List[Path] = []
    yield made
    for m in reversed(made):
        subprocess.run(["umount", "-l", str(m)], check=False)


def tmpfs(mounts: List[Path], where: Path, size: str = "16m") -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "spma-test", str(where)], check=True)
    mounts.append(where)


def fill(where: Path) -> None:
    """Write until the file system says ENOSPC."""
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    assert os.statvfs(where).f_bavail == 0


def read_only(mounts: List[Path], where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(where), str(where)], check=True)
    mounts.append(where)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(where)], check=True)


def no_traceback(p: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr


def repo_dir(world: World) -> str:
    return "etc/yum.repos.d" if world.backend == "dnf" else "etc/apt/sources.list.d"


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path, boot=True)


@needs_root
def test_full_disk_before_the_transaction_is_exit5_naming_the_path(
    world: World, host: Host, mounts: List[Path]
):
    sdir = host.root / "var/lib/spma"
    tmpfs(mounts, sdir)
    fill(sdir)
    prof = world.profile({"bar": None})
    for cmd in ("plan", "apply"):
        p = host.cli(cmd, profile=prof)
        assert p.returncode == 5, (cmd, p.stderr)
        assert "no room at %s" % sdir in p.stderr, p.stderr
        no_traceback(p)
    assert world.installed(host) == {}
    (sdir / "filler").unlink()
    p = host.cli("apply", profile=prof)
    assert p.returncode == 0, p.stderr
    assert world.installed(host) == {"bar": "2.0-1", "foo": "2.0-1"}


@needs_root
def test_full_history_after_the_transaction_is_exit0_with_a_warning(
    world: World, host: Host, mounts: List[Path]
):
    hdir = host.root / "var/lib/spma/history"
    tmpfs(mounts, hdir)
    fill(hdir)
    prof = world.profile({"bar": None})
    p = host.cli("apply", profile=prof)
    assert p.returncode == 0, p.stderr
    assert "the history entry could not be written: no room at %s" % hdir in p.stderr, p.stderr
    no_traceback(p)
    assert world.installed(host) == {"bar": "2.0-1", "foo": "2.0-1"}
    status = json.loads(host.cli("status", "--format", "json").stdout)
    assert status["last_run"]["result"] == "applied"
    assert host.plan(prof).changes == 0


@needs_root
def test_failure_after_commit_is_exit9_saying_it_was_applied_and_the_next_run_converges(
    world: World, host: Host, mounts: List[Path]
):
    read_only(mounts, host.root / repo_dir(world))
    prof = world.profile({"bar": None})
    p = host.cli("apply", profile=prof)
    assert p.returncode == 9, p.stderr
    assert "the package transaction was applied, but a later step failed" in p.stderr
    assert "read-only file system" in p.stderr and "nothing was changed" not in p.stderr
    no_traceback(p)
    assert world.installed(host) == {"bar": "2.0-1", "foo": "2.0-1"}
    status = json.loads(host.cli("status", "--format", "json").stdout)
    assert status["last_run"]["result"] == "failed"  # truthful: not "applied"
    subprocess.run(["umount", str(mounts.pop())], check=True)
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0 and "unchanged=True" not in p.stderr, p.stderr
    assert (host.root / repo_dir(world) / ("os.repo" if world.backend == "dnf" else "os.list")).exists()
    assert json.loads(host.cli("status", "--format", "json").stdout)["last_run"]["result"] == "applied"
    assert host.plan(prof).changes == 0


@needs_root
def test_read_only_root_is_an_environment_error_naming_the_path(
    world: World, host: Host, mounts: List[Path]
):
    prof = world.profile({"bar": None})
    path = host.write(prof)
    read_only(mounts, host.root)
    for cmd in ("plan", "apply"):
        argv = SPMA + [cmd, str(path), "--root", str(host.root), "--running-kernel", ""]
        p = subprocess.run(
            argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        )
        assert p.returncode == 3, (cmd, p.stderr)
        assert "is on a read-only file system" in p.stderr and str(host.root) in p.stderr, p.stderr
        no_traceback(p)


@needs_root
def test_not_root_is_an_environment_error_naming_the_path(world: World, host: Host):
    prof = world.profile({"bar": None})
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + SPMA + [
        "apply", "-", "--root", str(host.root), "--running-kernel", ""]  # fmt: skip
    p = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                       cwd="/", input=json.dumps(prof))  # fmt: skip
    assert p.returncode == 3, p.stderr
    # the path named is the first one the user may not enter: the root or a parent of it
    named = p.stderr.split("permission denied on ", 1)[1].split(" (")[0]
    assert str(host.root).startswith(named) and "not root" in p.stderr, p.stderr
    no_traceback(p)
    assert world.installed(host) == {}
