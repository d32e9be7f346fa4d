"""apt plans name, for each change, the packages that need it (`required_by`): read forward from
what stays (one pass), it must be exactly what each change's reverse dependency list says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.apt
pytest.importorskip("apt_pkg")


def test_required_by_read_forward_is_the_reverse_lists(tmp_path: Path):
    from backends.apt import facts
    from spma import rootfs, run, state
    from spma.backend import load_backend
    from spma.profile import load_profile
    from tests.builders.debrepo import deb, make_repo

    old = [deb("libc6=2.36-1"), deb("libz=1.0-1", depends=["libc6"]), deb("tool=1.0-1", depends=["libz | libc6"]),
           deb("app=1.0-1", depends=["tool (>= 1.0)", "libc6", "libz"], conflicts=["nothere"]),
           deb("gone=1.0-1", depends=["libc6"]), deb("weak=1.0-1", recommends=["tool"])]  # fmt: skip
    new = old + [deb("libc6=2.36-9"), deb("tool=2.0-1", depends=["libz (>= 1.0)", "libc6"]),
                 deb("extra=1.0-1", depends=["app", "tool"])]  # fmt: skip
    repo = make_repo(tmp_path / "old", old)
    host = Host(tmp_path / "h", boot=True)
    host.apply(profile_tree({"app": None, "gone": None, "weak": None}, {"os": str(repo)}, packager="apt"))
    repo = make_repo(tmp_path / "new", new)
    prof = host.write(
        profile_tree({"app": None, "extra": None, "weak": None}, {"os": str(repo)}, packager="apt")
    )
    opts = host.opts()
    profile = load_profile(str(prof))
    root = os.path.abspath(str(host.root))
    backend = load_backend("apt", root=root, statedir=rootfs.makedirs(root, state.state_dir(root)))
    with backend.session(run._request(profile, opts, "apt")) as session:
        found = session.solve({})
        dep = session.cache._depcache
        ac = session.cache._cache
        changed = [c for c in found.changes if c.action != "remove"]
        assert {c.action for c in found.changes} >= {"install", "upgrade", "remove"}
        for c in changed:
            pkg = ac[(c.name, "amd64")] if c.arch == "all" else ac[(c.name, c.arch)]
            assert c.required_by == facts.required_by(pkg, dep), c
        assert any(c.required_by for c in changed)
