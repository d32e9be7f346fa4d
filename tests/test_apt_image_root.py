"""dpkg on image roots: run chrooted into a root with its own dpkg, so the root's own users and
statoverrides count (a system user the host lacks, as chrony, cron and lldpd register); and a
failed dpkg run says what dpkg said."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spma.errors import TransactionError
from tests.builders.debrepo import deb, dpkg_installed, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile
from tests.test_debian_system import bookworm_tar  # noqa: F401 - the fixture is used

pytestmark = pytest.mark.apt

# what a Debian package with a system user does: adduser/useradd, then a statoverride naming it
SYSUSER = """#!/bin/sh
set -e
if [ "$1" = configure ]; then
    getent passwd spmasvc >/dev/null || useradd --system --user-group --home-dir /nonexistent \\
        --shell /usr/sbin/nologin spmasvc
    mkdir -p /var/lib/spmasvc
    dpkg-statoverride --list /var/lib/spmasvc >/dev/null || \\
        dpkg-statoverride --update --add spmasvc spmasvc 0750 /var/lib/spmasvc
fi
"""
FAILING = "#!/bin/sh\necho 'spma-test: the service cannot be configured' >&2\nexit 1\n"


def test_a_failed_dpkg_run_says_what_dpkg_said(tmp_path: Path):
    url = "file://%s" % make_repo(tmp_path / "r", [deb("broken=1.0-1", postinst=FAILING), deb("fine=1.0-1")])
    host = Host(tmp_path / "h", boot=True)
    with pytest.raises(TransactionError) as ei:
        host.apply(apt_profile({"broken": None, "fine": None}, url))
    msg = str(ei.value)
    assert "installArchives() failed" in msg and "dpkg said:" in msg
    assert "broken" in msg.split("dpkg said:")[1], msg
    assert "dpkg-output.log" in ei.value.hint
    p = Host(tmp_path / "h2").cli(
        "apply", "--boot", profile=apt_profile({"broken": None, "fine": None}, url)
    )
    assert p.returncode == 9 and "dpkg said:" in p.stderr, p.stderr


@pytest.mark.slow
def test_image_root_with_a_system_user_statoverride_takes_every_later_transaction(
    tmp_path: Path,
    bookworm_tar: Path,  # noqa: F811
):
    assert subprocess.run(["getent", "passwd", "spmasvc"], capture_output=True).returncode != 0
    debs = [deb("svc=1.0-1", postinst=SYSUSER), deb("svc=1.1-1", postinst=SYSUSER), deb("tool=1.0-1"),
            deb("tool=2.0-1"), deb("bootlib=1.0-1"), deb("bootlib=2.0-1")]  # fmt: skip
    mirror = tmp_path / "mirror"
    url = "file://%s s main" % make_repo(mirror, debs, suite="s")
    host = Host(tmp_path / "h")
    shutil.rmtree(host.root)
    host.root.mkdir()
    subprocess.run(["tar", "-xf", str(bookworm_tar), "-C", str(host.root)], check=True)
    spma = {"userpkgs": "yes", "boot_only": ["bootlib"]}

    # 1. the package registers a user only the root has, and a statoverride for it
    host.apply(apt_profile({"svc": "1.0-1", "bootlib": "1.0-1"}, url, **spma), boot=True)
    assert "spmasvc spmasvc 750 /var/lib/spmasvc" in (host.root / "var/lib/dpkg/statoverride").read_text()
    # 2. later transactions on that root: an upgrade of it, an install beside it
    res = host.apply(apt_profile({"svc": "1.1-1", "tool": None, "bootlib": "1.0-1"}, url, **spma), boot=True)
    assert res.applied
    inst = dpkg_installed(host.root)
    assert (inst["svc"], inst["tool"]) == ("1.1-1", "2.0-1")
    # 3. a change deferred to boot, then `spma boot --root`, all through the CLI
    p = host.cli("apply", profile=apt_profile({"svc": "1.1-1", "tool": None, "bootlib": None}, url, **spma))
    assert p.returncode == 0, p.stderr
    assert dpkg_installed(host.root)["bootlib"] == "1.0-1"
    p = host.cli("boot")
    assert p.returncode == 0, p.stderr
    assert dpkg_installed(host.root)["bootlib"] == "2.0-1"
    # 4. and back down, and dpkg's own view of the root is clean
    prof = apt_profile({"svc": "1.0-1", "tool": "1.0-1", "bootlib": None}, url, **spma)
    host.apply(prof)
    inst = dpkg_installed(host.root)
    assert (inst["svc"], inst["tool"], inst["bootlib"]) == ("1.0-1", "1.0-1", "2.0-1")
    audit = subprocess.run(["chroot", str(host.root), "dpkg", "--audit"], capture_output=True, text=True)
    assert audit.returncode == 0 and audit.stdout == "", audit.stdout + audit.stderr
    assert host.plan(prof).changes == 0
