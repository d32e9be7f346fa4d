"""A real Debian 12 system: a minimal bookworm root built with mmdebstrap from Debian's archive
(cached between runs, recipe in containers/debian12/), reconciled against the real bookworm and
bookworm-security suites, verified with the root's own Debian archive keyring.

Slow (downloads Debian's indexes), but it runs in CI: a failure to reach the archive fails it.
"""

from __future__ import annotations

import glob
import lzma
import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from spma import pan
from tests.builders.debrepo import dpkg_installed
from tests.helpers import REPO_ROOT, Host

pytestmark = [pytest.mark.apt, pytest.mark.slow]
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("apt_pkg")

MIRROR = os.environ.get("SPMA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY = os.environ.get("SPMA_DEBIAN_SECURITY", "http://deb.debian.org/debian-security")
RECIPE = REPO_ROOT / "containers" / "debian12" / "build-root.sh"


@pytest.fixture(scope="module")
def bookworm_tar() -> Path:
    res = subprocess.run(["bash", str(RECIPE)], capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        pytest.fail(
            "building the Debian 12 root failed (is Debian's archive reachable?):\n" + res.stderr[-3000:]
        )
    return Path(res.stdout.strip().splitlines()[-1])


def _profile(packages: Dict[str, object]) -> dict:
    pk = {}
    for name, ver in packages.items():
        pk[pan.escape(name)] = {pan.escape(str(ver)): {"arch": {"amd64": ""}}} if ver else {}
    repos = [
        {"name": "bookworm", "gpgcheck": True, "protocols": [{"name": "http", "url": "%s bookworm main" % MIRROR}]},
        {"name": "bookworm-security", "gpgcheck": True,
         "protocols": [{"name": "http", "url": "%s bookworm-security main" % SECURITY}]},
    ]  # fmt: skip
    return {"software": {"components": {"spma": {"packager": "apt", "userpkgs": "no"}}, "packages": pk,
                         "repositories": repos}}  # fmt: skip


def _index_versions(host: Host, name: str) -> Dict[str, str]:
    """{'main': version, 'security': version} of a package, from the indexes spma downloaded."""
    out = {}
    lists = host.root / "var/lib/spma/cache/apt/lists"
    for path in glob.glob(str(lists / "*_Packages*")):
        data = Path(path).read_bytes()
        if path.endswith(".xz"):
            data = lzma.decompress(data)
        text = data.decode("utf-8", "replace")
        for stanza in text.split("\n\n"):
            if stanza.startswith("Package: %s\n" % name):
                ver = [ln.split(": ", 1)[1] for ln in stanza.splitlines() if ln.startswith("Version: ")][0]
                out["security" if "security" in os.path.basename(path) else "main"] = ver
    return out


class _Retrying(Host):
    """Debian's mirrors are sometimes caught mid-sync; a RepoError means nothing changed, so
    such a run may simply be repeated."""

    def apply(self, tree, **kw):  # type: ignore[no-untyped-def,override]
        import time

        from spma.errors import RepoError

        for attempt in range(4):
            try:
                return super().apply(tree, **kw)
            except RepoError:
                if attempt == 3:
                    raise
                time.sleep(20 * (attempt + 1))


def test_reconcile_a_real_bookworm_root(tmp_path: Path, bookworm_tar: Path):
    host = _Retrying(tmp_path, boot=True)  # the C library may move too: everything at once
    subprocess.run(["tar", "-xf", str(bookworm_tar), "-C", str(host.root)], check=True)
    assert (host.root / "etc/apt/trusted.gpg.d").is_dir() or list(
        host.root.glob("usr/share/keyrings/debian-archive*")
    )
    base = {"ca-certificates": None}

    # 1. install a few real packages (verified against the root's own Debian archive keyring)
    res = host.apply(_profile(dict(base, less=None, openssl=None)))
    inst = dpkg_installed(host.root)
    assert "less" in inst and "openssl" in inst and "libssl3" in inst
    versions = _index_versions(host, "openssl")
    if versions.get("security") is None or versions["security"] == versions.get("main"):
        pytest.fail("openssl has no bookworm-security update today; pick another package: %s" % versions)
    assert inst["openssl"] == versions["security"], res.plan["actions"]

    # 2. pin openssl to its bookworm version: a real downgrade
    res = host.apply(_profile(dict(base, less=None, openssl=versions["main"])))
    assert ("downgrade", "openssl") in [(a["action"], a["name"]) for a in res.plan["actions"]]
    assert dpkg_installed(host.root)["openssl"] == versions["main"]

    # 3. an undeclared package goes (and whatever only it needed)
    res = host.apply(_profile(dict(base, openssl=versions["main"])))
    assert ("remove", "less") in [(a["action"], a["name"]) for a in res.plan["actions"]]
    assert "less" not in dpkg_installed(host.root)

    # 4. and back
    host.apply(_profile(dict(base, less=None, openssl=None)))
    final = dpkg_installed(host.root)
    assert final["openssl"] == versions["security"] and "less" in final and "ca-certificates" in final
    assert "apt" in final and "dpkg" in final  # protected
    audit = subprocess.run(["dpkg", "--root=%s" % host.root, "--audit"], capture_output=True, text=True)
    assert audit.returncode == 0 and audit.stdout == "", audit.stdout
    assert host.plan(_profile(dict(base, less=None, openssl=None))).changes == 0
