"""spma installed the way sysadmins install software: a .deb and an RPM built from this checkout
with one command each, spma(8) generated from the CLI, `spma` on PATH after the README's set-up.

The .deb is deployed the way a Quattor site would deploy it: a profile declares `spma`, spma
itself installs it (and python3-apt, python3-click, python3-defusedxml from Debian) into the real
Debian 12 root of the system test; then the installed spma runs inside that root (chroot).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

from tests.helpers import REPO_ROOT, SPMA
from tests.test_debian_system import MIRROR, _Retrying, bookworm_tar  # noqa: F401 - the cached root

UNITS = ["spma.service", "spma.timer", "spma-boot.service"]


def build(script: str) -> Path:
    res = subprocess.run(["bash", str(REPO_ROOT / "packaging" / script)], capture_output=True, text=True,
                         cwd=str(REPO_ROOT), timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    path = REPO_ROOT / res.stdout.strip().splitlines()[-1]
    assert path.is_file()
    return path


def unit_exec_paths() -> List[str]:
    out = []
    for unit in UNITS:
        text = (REPO_ROOT / "containers/systemd" / unit).read_text()
        out += [m.group(1) for m in re.finditer(r"^ExecStart=(\S+)", text, re.M)]
    return out


def test_man_page_is_generated_from_the_cli(tmp_path: Path):
    out = tmp_path / "spma.8"
    subprocess.run(
        SPMA[:1] + [str(REPO_ROOT / "packaging/manpage.py"), str(out)], check=True, cwd=str(REPO_ROOT)
    )
    text = out.read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "EXAMPLES", "FILES"):
        assert ".SH %s" % section in text
    for cmd in (
        "plan",
        "apply",
        "boot",
        "status",
        "history",
        "errata generate",
        "errata show",
        "errata diff",
    ):
        assert '.SS "spma %s"' % cmd in text
    from spma.cli import main

    for opt in main.commands["apply"].params:  # every visible option of apply is documented
        if (
            getattr(opt, "hidden", False)
            or not isinstance(opt.opts, list)
            or not opt.opts[0].startswith("-")
        ):
            continue
        assert opt.opts[-1].replace("-", "\\-") in text, opt.opts
    for code in range(10):
        assert ".B %d\n" % code in text
    lint = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(out)], capture_output=True, text=True)
    assert lint.returncode == 0 and lint.stderr == "", lint.stderr
    shown = subprocess.run(["man", "-l", str(out)], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))  # fmt: skip
    plain = re.sub(".\x08", "", shown.stdout)  # man's overstrike bold
    assert "Is this ok [y/N]" in plain and "EXIT STATUS" in plain


@pytest.mark.slow
def test_rpm_builds_with_requirements_units_and_man_page():
    rpm = build("build-rpm.sh")
    files = subprocess.run(
        ["rpm", "-qpl", str(rpm)], capture_output=True, text=True, check=True
    ).stdout.split()
    for unit in UNITS:
        assert "/usr/lib/systemd/system/%s" % unit in files
    assert "/usr/share/man/man8/spma.8.gz" in files and "/usr/bin/spma" in files
    site = "/usr/lib/python3.9/site-packages/spma"
    for mod in ("cli.py", "render.py", "backends/dnf/__init__.py", "errata/osv.py"):
        assert "%s/%s" % (site, mod) in files, mod
    assert not [f for f in files if "/testing/" in f or f.endswith(".pyc") and "__pycache__" not in f]
    for path in unit_exec_paths():  # what the units run is what the package installs
        assert path in files, path
    reqs = subprocess.run(["rpm", "-qpR", str(rpm)], capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in reqs.splitlines()}
    assert {"python3-dnf", "python3-rpm", "python3-click", "python3-defusedxml"} <= names, reqs
    assert "python3-apt" not in names
    info = subprocess.run(["rpm", "-qpi", str(rpm)], capture_output=True, text=True, check=True).stdout
    assert "Architecture: noarch" in info


def _flat_repo(directory: Path, deb: Path) -> Path:
    directory.mkdir(parents=True)
    shutil.copy(deb, directory)
    for what, name in ((["packages", "."], "Packages"), (["release", "."], "Release")):
        res = subprocess.run(["apt-ftparchive"] + what, capture_output=True, cwd=str(directory), check=True)
        (directory / name).write_bytes(res.stdout)
    return directory


def _profile(local_repo: str, with_debian: bool) -> dict:
    repos = [
        {
            "name": "spma-local",
            "gpgcheck": False,
            "protocols": [{"name": "file", "url": "file://" + local_repo}],
        }
    ]
    if with_debian:
        repos.append({"name": "bookworm", "gpgcheck": True,
                      "protocols": [{"name": "http", "url": "%s bookworm main" % MIRROR}]})  # fmt: skip
    # userpkgs: spma is added to a host, not made its only package
    return {"software": {"components": {"spma": {"packager": "apt", "userpkgs": "yes"}},
                         "packages": {"spma": {}}, "repositories": repos}}  # fmt: skip


@pytest.mark.apt
@pytest.mark.slow
def test_deb_installs_by_profile_and_runs_in_debian12(tmp_path: Path, bookworm_tar: Path):  # noqa: F811
    deb = build("build-deb.sh")
    contents = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    for path in ["./usr/bin/spma", "./usr/share/man/man8/spma.8.gz"] + [
        "./lib/systemd/system/" + u for u in UNITS
    ]:
        assert path in contents, path
    assert "/testing/" not in contents
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True).stdout
    for dep in ("python3-apt", "python3-click", "python3-defusedxml"):
        assert dep in depends

    host = _Retrying(tmp_path, boot=True)
    subprocess.run(["tar", "-xf", str(bookworm_tar), "-C", str(host.root)], check=True)
    repo = _flat_repo(host.root / "srv/spma-repo", deb)  # inside the root, so the chroot sees it too
    # deployed by a profile, as a Quattor site deploys it: spma installs spma
    res = host.apply(_profile(str(repo), with_debian=True))
    installed = {a["name"] for a in res.plan["actions"] if a["action"] == "install"}
    assert {"spma", "python3-apt", "python3-click", "python3-defusedxml"} <= installed, installed
    for path in unit_exec_paths():
        assert (host.root / path.lstrip("/")).is_file(), path
    if (host.root / "usr/bin/systemctl").exists():  # the minimal root has no systemd; a full one does
        assert (host.root / "etc/systemd/system/sysinit.target.wants/spma-boot.service").is_symlink()

    def chroot(*argv: str) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
        return subprocess.run(["chroot", str(host.root)] + list(argv), capture_output=True, text=True, env=env,
                              timeout=600)  # fmt: skip

    pyc = list((host.root / "usr/lib/python3/dist-packages/spma/__pycache__").glob("cli.*.pyc"))
    assert pyc, "postinst byte-compiles the package (py3compile)"
    v = chroot("spma", "--version")
    assert v.returncode == 0 and v.stdout.strip() == "spma, version 0.1.0", v.stdout + v.stderr
    # inside the root, against the local repository only: spma is what the profile says
    (host.root / "srv/host.json").write_text(json.dumps(_profile("/srv/spma-repo", with_debian=False)))
    p = chroot("spma", "plan", "/srv/host.json", "--detailed-exitcode")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Dry-run plan for / (apt backend, live mode)" in p.stdout and "Nothing to do" in p.stdout
    j = chroot("spma", "plan", "/srv/host.json", "--format", "json")
    assert json.loads(j.stdout)["summary"]["total"] == 0
    man = chroot("sh", "-c", "zcat /usr/share/man/man8/spma.8.gz | head -1")
    assert man.stdout.startswith(".TH SPMA 8")
    bad = chroot("spma", "plan")
    assert bad.returncode == 3 and "Missing argument" in bad.stderr
    # and it leaves cleanly (prerm removes the byte-compiled files)
    rm = chroot("dpkg", "--purge", "spma")
    assert rm.returncode == 0, rm.stderr
    assert not (host.root / "usr/lib/python3/dist-packages/spma").exists()
    assert not (host.root / "usr/bin/spma").exists()


@pytest.mark.slow
def test_readme_setup_puts_spma_on_path(tmp_path: Path):
    """scripts/setup.sh links the venv's entry point into a directory on PATH (/usr/local/bin by
    default; SPMA_BIN_DIR here, to leave the machine alone)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    res = subprocess.run(["bash", "scripts/setup.sh"], cwd=str(REPO_ROOT), capture_output=True, text=True,
                         env=dict(os.environ, SPMA_BIN_DIR=str(bindir)), timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    link = bindir / "spma"
    assert link.is_symlink() and os.readlink(link) == str(REPO_ROOT / ".venv/bin/spma")
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % bindir)
    p = subprocess.run(["spma", "--help"], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "Exit codes:" in p.stdout
    # run again: idempotent, and a file that is not our link is never replaced
    link.unlink()
    link.write_text("#!/bin/sh\necho site wrapper\n")
    res = subprocess.run(["bash", "scripts/setup.sh"], cwd=str(REPO_ROOT), capture_output=True, text=True,
                         env=dict(os.environ, SPMA_BIN_DIR=str(bindir)), timeout=600)  # fmt: skip
    assert res.returncode == 0 and link.read_text().endswith("site wrapper\n")
