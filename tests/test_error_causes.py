"""Errors say what, where and why by default (issue 11 point 6): a repository failure names the
repository, its URL and the cause the download gave, on both backends, without --debug; an
unreachable errata set is called what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Host, profile_tree
from tests.test_preflight import apt_tree

UNREACHABLE = "http://127.0.0.1:9/repo"


def _err(p) -> str:  # type: ignore[no-untyped-def]
    assert p.returncode == 5, p.stderr
    assert "Traceback" not in p.stderr
    return str(p.stderr)


@pytest.mark.parametrize("url,cause", [
    (UNREACHABLE, "Curl error (7): Couldn't connect to server for %s/repodata/repomd.xml" % UNREACHABLE),
    ("file:///nonexistent/repo", "Couldn't open file /nonexistent/repo/repodata/repomd.xml"),
])  # fmt: skip
def test_dnf_repository_failure_names_repo_url_and_cause(
    tmp_path: Path, repos, url: str, cause: str
) -> None:
    host = Host(tmp_path, boot=True)
    tree = profile_tree({"foo": None}, {"snap2": repos["snap2"], "broken": url})
    err = _err(host.cli("plan", "--boot", profile=tree))
    assert "repository broken (%s): metadata could not be loaded" % url in err
    assert cause in err
    assert "repository snap2" not in err  # the repository that loaded is not blamed


@pytest.mark.apt
@pytest.mark.parametrize("url,cause", [
    (UNREACHABLE + " ./", "repository os (%s/./InRelease): Could not connect to 127.0.0.1:9" % UNREACHABLE),
    ("file:///nonexistent/repo ./", "repository os (file:/nonexistent/repo/./Packages): File not found - "
                                    "/nonexistent/repo/./Packages"),
])  # fmt: skip
def test_apt_repository_failure_is_never_empty_after_the_colon(tmp_path: Path, url: str, cause: str) -> None:
    host = Host(tmp_path, boot=True)
    err = _err(host.cli("plan", "--boot", profile=apt_tree({"foo": None}, url)))
    first = err.splitlines()[0]
    assert first == "spma: error: apt sources could not be updated:"
    assert "  " + cause in err
    # one line per index, not one per compression apt tried
    assert ".xz" not in err and ".gz" not in err


def test_unreachable_errata_set_is_not_called_a_profile(tmp_path: Path, repos) -> None:
    host = Host(tmp_path, boot=True)
    tree = profile_tree({"foo": None}, {"snap2": repos["snap2"]})
    p = host.cli("plan", "--boot", "--errata", UNREACHABLE + "/set.json", profile=tree)
    assert p.returncode == 3, p.stderr
    assert "cannot fetch errata version set" in p.stderr and "profile" not in p.stderr.split("hint")[0]
    p = host.cli("plan", "--boot", "--errata", str(tmp_path / "missing.json"), profile=tree)
    assert "cannot read errata version set" in p.stderr


@pytest.mark.apt
def test_apt_package_download_failure_names_the_file_and_apt_error(tmp_path: Path) -> None:
    from tests.builders.debrepo import deb, make_repo

    tool = deb("tool=1.0-1")
    repo = make_repo(tmp_path / "repo", [tool])
    (repo / tool.filename).unlink()  # the index still lists it: a mirror caught mid-sync
    host = Host(tmp_path / "h", boot=True)
    err = _err(host.cli("apply", "--boot", profile=apt_tree({"tool": None}, "file://%s ./" % repo)))
    assert err.splitlines()[0] == "spma: error: downloading packages failed, nothing was changed:"
    assert "  file:%s/./%s: File not found" % (repo, tool.filename) in err
    assert not (host.root / "var/lib/dpkg/info/tool.list").exists()


def test_dnf_package_gone_from_a_local_repository_is_exit_5_with_the_file(tmp_path: Path) -> None:
    """Was an internal error (exit 1): dnf raises its generic Error, not DownloadError, for a
    local repository whose package file is gone."""
    from tests.builders.rpmrepo import make_repo, parse

    repo = make_repo(tmp_path / "repo", [parse("tool-1.0-1")])
    (gone,) = repo.rglob("tool-1.0-1.noarch.rpm")
    gone.unlink()  # the metadata still lists it: a mirror caught mid-sync
    host = Host(tmp_path / "h", boot=True)
    err = _err(host.cli("apply", "--boot", profile=profile_tree({"tool": None}, {"os": str(repo)})))
    assert err.splitlines()[0].startswith("spma: error: downloading packages failed, nothing was changed: ")
    assert "  tool-1.0-1.noarch (repository os): %s is missing" % gone in err
    assert host.installed() == []


def test_loading_the_apt_backend_does_not_read_the_hosts_apt_config() -> None:
    """`import apt` reads the host's apt configuration (list values that spma's reset cannot
    clear, e.g. a container's Acquire::GzipIndexes); it must wait for spma's private one."""
    import subprocess
    import sys

    code = ("import sys, spma.backends.apt, spma.backends.apt.marks, spma.backends.apt.problems, "
            "spma.backends.apt.execute, spma.backends.apt.config; print('apt' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
