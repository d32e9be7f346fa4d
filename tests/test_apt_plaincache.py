"""A plan opens apt's cache with apt_pkg alone (backends/apt/plaincache.py), an apply with
python-apt's apt.Cache: both must read the same cache and fail the same way, and a plan must not
import python-apt's `apt` package (it pulls in http.client, urllib and email: ~12 ms a plan)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from tests.helpers import REPO_ROOT, Host, profile_tree

pytestmark = pytest.mark.apt
pytest.importorskip("apt_pkg")


def _facts(host: Host, tree: Any, execute: bool) -> Tuple[Any, List[Any]]:
    from spma import rootfs, run, state
    from spma.backend import load_backend
    from spma.profile import load_profile

    profile = load_profile(str(host.write(tree)))
    root = os.path.abspath(str(host.root))
    backend = load_backend("apt", root=root, statedir=rootfs.makedirs(root, state.state_dir(root)))
    with backend.session(run._request(profile, host.opts(), "apt"), execute=execute) as session:
        kind = type(session.cache).__name__
        return kind, list(session.solve({}).changes)


def test_plan_and_apply_caches_solve_alike(tmp_path: Path) -> None:
    from tests.builders.debrepo import deb, make_repo

    old = [deb("libc6=2.36-1"), deb("libz=1.0-1", depends=["libc6"]), deb("gone=1.0-1")]
    new = old + [deb("libc6=2.36-9"), deb("app=1.0-1", depends=["libz", "libc6"], source="appsrc")]
    host = Host(tmp_path / "h", boot=True)
    host.apply(
        profile_tree(
            {"libz": None, "gone": None}, {"os": str(make_repo(tmp_path / "o", old))}, packager="apt"
        )
    )
    tree = profile_tree({"app": None}, {"os": str(make_repo(tmp_path / "n", new))}, packager="apt")
    plain_kind, plain = _facts(host, tree, execute=False)
    apt_kind, full = _facts(host, tree, execute=True)
    assert (plain_kind, apt_kind) == ("PlainCache", "Cache")
    assert plain == full
    assert {(c.action, c.name) for c in plain} >= {
        ("install", "app"),
        ("upgrade", "libc6"),
        ("remove", "gone"),
    }
    assert [c.source for c in plain if c.name == "app"] == ["appsrc"]


def test_a_source_apt_cannot_update_fails_alike(tmp_path: Path) -> None:
    from spma.errors import RepoError

    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"app": None}, {"os": str(tmp_path / "nothere")}, packager="apt")
    said = []
    for execute in (False, True):
        with pytest.raises(RepoError) as e:
            _facts(host, tree, execute)
        said.append((str(e.value), e.value.hint))
    assert said[0] == said[1]
    assert "repository os" in said[0][0] and "nothere" in said[0][0]


def test_a_plan_does_not_import_python_apts_apt_package(tmp_path: Path) -> None:
    from tests.builders.debrepo import deb, make_repo

    host = Host(tmp_path / "h", boot=True)
    repo = make_repo(tmp_path / "r", [deb("libc6=2.36-1"), deb("app=1.0-1", depends=["libc6"])])
    prof = host.write(profile_tree({"app": None}, {"os": str(repo)}, packager="apt"))
    code = (
        "import sys, spma.cli\n"
        "try:\n"
        "    spma.cli.main(['plan', %r, '--root', %r, '--boot', '--format', 'json'], standalone_mode=False)\n"
        "finally:\n"
        "    print(sorted(m for m in ('apt', 'apt.cache', 'http.client', 'urllib.request') if m in sys.modules),"
        " file=sys.stderr)\n"
    ) % (str(prof), str(host.root))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert '"name": "app"' in res.stdout
    assert res.stderr.strip().splitlines()[-1] == "[]"


def test_source_names_read_in_file_order_are_each_versions_own(tmp_path: Path) -> None:
    """facts.source_names looks the records up in the order of the index files: each version
    still gets its own Source (or None without one), as a lookup one by one gives it."""
    from spma.backends.apt import facts

    from tests.builders.debrepo import deb, make_repo

    debs = [deb("libc6=2.36-1", source="glibc"), deb("zlib1g=1.0-1", source="zlib"), deb("plain=1.0-1"),
            deb("app=1.0-1", depends=["libc6", "zlib1g", "plain"], source="appsrc"), deb("app=2.0-1", source="appsrc")]  # fmt: skip
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree({"app": "1.0-1"}, {"os": str(make_repo(tmp_path / "r", debs))}, packager="apt")
    from spma import rootfs, run, state
    from spma.backend import load_backend
    from spma.profile import load_profile

    profile = load_profile(str(host.write(tree)))
    root = os.path.abspath(str(host.root))
    backend = load_backend("apt", root=root, statedir=rootfs.makedirs(root, state.state_dir(root)))
    with backend.session(run._request(profile, host.opts(), "apt"), execute=False) as session:
        ac = session.cache._cache
        vers = [v for p in ac.packages for v in p.version_list][::-1] + [None]
        got = facts.source_names(session.cache, vers)
        one_by_one = {v.id: facts.source_name(session.cache, v) for v in vers if v is not None}
        assert got == one_by_one
        assert sorted(n for n in got.values() if n) == ["appsrc", "appsrc", "glibc", "zlib"]
