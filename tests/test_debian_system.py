"""A real Debian 12 system: a minimal bookworm root built with mmdebstrap from Debian's archive
(cached between runs, recipe in containers/debian12/), reconciled against the real bookworm and
bookworm-security suites, verified with the root's own Debian archive keyring.

Slow (downloads Debian's indexes), but it runs in CI: a failure to reach the archive fails it.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import lzma
import os
import subprocess
from pathlib import Path
from typing import Dict, Optional, Tuple

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


REPOS3 = (("bookworm", MIRROR, "bookworm"), ("bookworm-updates", MIRROR, "bookworm-updates"),
          ("bookworm-security", SECURITY, "bookworm-security"))  # fmt: skip


def _profile3(packages: Dict[str, object], pins: Optional[Dict[str, str]] = None) -> dict:
    """bookworm, bookworm-updates (the same mirror) and bookworm-security, with metadata pins."""
    prof = _profile(packages)
    prof["software"]["repositories"] = [
        dict({"name": n, "gpgcheck": True, "protocols": [{"name": "http", "url": "%s %s main" % (m, s)}]},
             **({"metadata_sha256": pins[n]} if pins and n in pins else {}))
        for n, m, s in REPOS3
    ]  # fmt: skip
    return prof


def _suite_versions(host: Host, name: str) -> Dict[str, str]:
    """suite -> version of a package, from the indexes spma downloaded."""
    out = {}
    for path in glob.glob(str(host.root / "var/lib/spma/cache/apt/lists/*_main_binary-amd64_Packages*")):
        suite = os.path.basename(path).split("_dists_", 1)[1].split("_main_", 1)[0]
        data = Path(path).read_bytes()
        text = (lzma.decompress(data) if path.endswith(".xz") else data).decode("utf-8", "replace")
        for stanza in text.split("\n\n"):
            if stanza.startswith("Package: %s\n" % name):
                out[suite] = [
                    ln.split(": ", 1)[1] for ln in stanza.splitlines() if ln.startswith("Version: ")
                ][0]
    return out


def _older(host: Host, family: Tuple[str, ...]) -> Tuple[str, str]:
    """(an older version every member is offered at, the newest): a pin that moves the family."""
    import apt_pkg

    apt_pkg.init_system()
    offered = [set(_suite_versions(host, n).values()) for n in family]
    common = sorted(set.intersection(*offered), key=functools.cmp_to_key(apt_pkg.version_compare))
    if len(common) < 2:
        pytest.fail(
            "the archive offers %s at one version only today (%s); pick another family" % (family, offered)
        )
    return common[-2], common[-1]


def test_families_system_users_and_boot_on_a_real_bookworm_root(tmp_path: Path, bookworm_tar: Path):
    host = _Retrying(tmp_path, boot=True)
    subprocess.run(["tar", "-xf", str(bookworm_tar), "-C", str(host.root)], check=True)
    base: Dict[str, object] = {"ca-certificates": None, "cron": None}
    # learn what the archive offers today
    host.plan(_profile3(base))
    sd_old, sd_new = _older(host, ("systemd", "libsystemd-shared"))
    pl_old, _pl_new = _older(host, ("perl", "perl-base"))
    ssl_old, ssl_new = _older(host, ("openssl", "libssl3"))

    # 1. cron registers a statoverride for its group crontab, which the host does not have; the
    #    systemd family is installed at its older version in one apply (libsystemd-shared follows)
    assert subprocess.run(["getent", "group", "crontab"], capture_output=True).returncode != 0
    res = host.apply(_profile3(dict(base, perl=None, systemd=sd_old, openssl=ssl_old)))
    assert "crontab" in (host.root / "var/lib/dpkg/statoverride").read_text()
    inst = dpkg_installed(host.root)
    assert inst["systemd"] == inst["libsystemd-shared"] == sd_old, res.plan["actions"]
    because = {a["name"]: a["because"] for a in res.plan["actions"]}
    assert because["libsystemd-shared"] == "needed by systemd %s (= %s)" % (sd_old, sd_old)

    # 2. a further transaction on that root: perl pinned to an older version than the archive's
    #    newest; perl-base (Essential) steps down with it in the same apply
    res = host.apply(_profile3(dict(base, perl=pl_old, systemd=sd_old, openssl=ssl_old)))
    inst = dpkg_installed(host.root)
    assert inst["perl"] == inst["perl-base"] == pl_old, res.plan["actions"]
    assert {a["name"]: a["because"] for a in res.plan["actions"]}["perl-base"].startswith(
        "needed by perl %s" % pl_old
    )

    # 3. a live run: the systemd family waits for boot whole, the OpenSSL update goes live
    res = host.apply(_profile3(dict(base, perl=pl_old, systemd=None, openssl=None)), boot=False)
    acts = {a["name"]: a for a in res.plan["actions"]}
    assert acts["systemd"]["deferred"] and acts["libsystemd-shared"]["deferred"]
    assert acts["libsystemd-shared"]["defer_reason"] == "boot-only systemd* (built from systemd)"
    assert not acts["openssl"]["deferred"] and not [a for a in acts.values() if a["name"].startswith("libssl")
                                                    and a["deferred"]]  # fmt: skip
    inst = dpkg_installed(host.root)
    assert (inst["systemd"], inst["openssl"], inst["libssl3"]) == (sd_old, ssl_new, ssl_new)
    p = host.cli("boot")
    assert p.returncode == 0, p.stderr
    assert dpkg_installed(host.root)["systemd"] == dpkg_installed(host.root)["libsystemd-shared"] == sd_new

    # 4. per-repository metadata pins, two of them on one mirror (boot read its local source only)
    final = dict(base, perl=pl_old, systemd=None, openssl=None)
    assert host.plan(_profile3(final)).changes == 0
    lists = host.root / "var/lib/spma/cache/apt/lists"
    pins = {}
    for name, mirror, suite in REPOS3:
        own = lists / ("%sdists_%s_InRelease" % (mirror.split("://", 1)[1].replace("/", "_") + "_", suite))
        pins[name] = hashlib.sha256(own.read_bytes()).hexdigest()
    res = host.apply(_profile3(final, pins))
    assert res.plan["inputs"]["repositories"] == {n: "sha256:" + d for n, d in pins.items()}
    from spma.errors import RepoError

    with pytest.raises(RepoError, match="repository bookworm-updates: "):
        Host.plan(host, _profile3(final, dict(pins, **{"bookworm-updates": pins["bookworm"]})))
    audit = subprocess.run(["chroot", str(host.root), "dpkg", "--audit"], capture_output=True, text=True)
    assert audit.returncode == 0 and audit.stdout == "", audit.stdout + audit.stderr
    assert host.plan(_profile3(final, pins)).changes == 0
