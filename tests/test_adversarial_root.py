"""Hostile roots: a symlink anywhere spma (or the package manager it drives) writes must never
make a run create, change, append to or delete anything outside the root, on either backend.

Each class of link target is tried two ways: an absolute link (resolved as the root's own
system would, inside the root: the run succeeds) and a relative link climbing out with `..`
(refused up front, exit 7, naming the link, nothing changed). A snapshot of the directory the
links point at proves nothing outside moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest

from spma import deferral, pan, rootfs, run
from spma.errors import SafetyError, SpmaError, StateError
from tests.builders import debrepo, rpmrepo
from tests.helpers import Host

# real roots on both backends: a host without the bindings skips the module (tests/test_tiers.py)
pytestmark = [pytest.mark.dnf, pytest.mark.apt]
pytest.importorskip("dnf")
pytest.importorskip("apt_pkg")

BOTH = ("dnf", "apt")
# (path in the root, kind of link, backends it matters on)
LINKS = [
    ("etc/yum.repos.d", "dir", ("dnf",)),
    ("etc/apt/sources.list.d", "dir", ("apt",)),
    ("etc/apt/keyrings", "dir", ("apt",)),
    ("etc/apt", "dir", ("apt",)),
    ("var/lib/spma", "dir", BOTH),
    ("var/lib/spma/cache", "dir", BOTH),
    ("var/lib/spma/history", "dir", BOTH),
    ("var/lib/spma/log", "dir", BOTH),
    ("var/lib", "dir", BOTH),
    ("run", "dir", BOTH),
    ("var/lib/dnf", "dir", ("dnf",)),
    ("var/log", "dir", ("apt",)),
    ("var/lib/spma/cache/apt/lists", "dir", ("apt",)),
    ("var/lib/spma/cache/apt/archives", "dir", ("apt",)),
    ("var/lib/spma/state.json", "file", BOTH),
    ("run/spma.lock", "file", BOTH),
    ("var/log/dpkg.log", "file", ("apt",)),
    ("var/log/apt/term.log", "file", ("apt",)),
    ("var/log/apt/history.log", "file", ("apt",)),
    ("var/lib/apt/extended_states", "file", ("apt",)),
    ("usr/sbin/policy-rc.d", "dangling", ("apt",)),
]
CASES = [(b, path, kind) for path, kind, backends in LINKS for b in backends]


class World:
    def __init__(self, backend: str, url: str, key: str) -> None:
        self.backend, self.url, self.key = backend, url, key
        self.bad_keys: Dict[str, str] = {}

    def profile(self, key: Optional[str] = None, **spma: object) -> dict:
        arch = "noarch" if self.backend == "dnf" else "all"
        comp: Dict[str, object] = {"packager": self.backend, "userpkgs": "no"}
        comp.update(spma)
        repo = {"name": "os", "gpgcheck": True, "gpgkey": ["file://" + (key or self.key)],
                "protocols": [{"name": "f", "url": self.url}]}  # fmt: skip
        pk = {pan.escape("foo"): {pan.escape("1.0-1"): {"arch": {arch: ""}}}}
        return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": [repo]}}

    def installed(self, root: Path) -> Dict[str, str]:
        if self.backend == "apt":
            from spma.deb822 import stanzas

            try:
                data = rootfs.read_bytes(str(root), "var/lib/dpkg/status", 1 << 24) or b""
            except SafetyError:
                return {}
            return {
                f["Package"]: f["Version"]
                for f in stanzas(data.decode())
                if f.get("Status", "").endswith(" installed")
            }
        # rpm follows links as the host does: ask it where the root's own system sees the rpmdb
        try:
            dbpath = "/" + rootfs.relpath(str(root), rootfs.resolve(str(root), "var/lib/rpm"))
        except (FileNotFoundError, NotADirectoryError, SafetyError):
            return {}
        res = subprocess.run(["rpm", "--root", str(root), "--dbpath", dbpath, "-qa", "--qf", "%{NAME}\\n"],
                             capture_output=True, text=True, env=dict(os.environ, HOME=str(root)))  # fmt: skip
        return {n: "x" for n in res.stdout.split() if n != "gpg-pubkey"}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, World]]:
    d = tmp_path_factory.mktemp("hostile-repos")
    key = rpmrepo.SigningKey(d / "gnupg")
    rpm = rpmrepo.make_repo(d / "rpm", [rpmrepo.parse("foo-1.0-1")], sign=key)
    deb = debrepo.make_repo(d / "deb", [debrepo.deb("foo=1.0-1")], suite="s", sign=key)
    secret = d / "secret.asc"
    secret.write_bytes(subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys",
         key.name], check=True, capture_output=True, env=key.env()).stdout)  # fmt: skip
    arbitrary = d / "passwd"
    arbitrary.write_text("root:x:0:0:root:/root:/bin/bash\n")
    worlds = {
        "dnf": World("dnf", "file://%s" % rpm, str(key.public)),
        "apt": World("apt", "file://%s s main" % deb, str(key.public)),
    }
    for w in worlds.values():
        w.bad_keys = {"private": str(secret), "arbitrary": str(arbitrary)}
    yield worlds
    key.close()


def snapshot(d: Path) -> Dict[str, Tuple]:
    """Everything under `d`: type, mode, content digest or link target."""
    out: Dict[str, Tuple] = {}
    for dirpath, dirs, files in os.walk(d):
        for n in dirs + files:
            p = Path(dirpath) / n
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(p)] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[str(p)] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[str(p)] = ("dir", st.st_mode)
    return out


def _outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    for n in (
        "keep.repo",
        "keep.list",
        "keep.sources",
        "state.json",
        "spma.lock",
        "dpkg.log",
        "trusted.asc",
    ):
        (out / n).write_text("precious %s\n" % n)
    return out


def _link(root: Path, rel: str, target: Path, kind: str, style: str) -> Path:
    link = root / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    dest = target if kind == "dir" else target / ("policy-rc.d" if kind == "dangling" else link.name)
    if style == "absolute":
        os.symlink(str(dest), str(link))
    else:
        os.symlink(os.path.relpath(str(dest), str(link.parent)), str(link))
    return link


def _apply(world: World, host: Host, key: Optional[str] = None) -> Optional[SpmaError]:
    try:
        run.apply(str(host.write(world.profile(key))), host.opts(boot=True))
    except SpmaError as e:
        return e
    return None


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend,rel,kind", CASES, ids=["%s-%s" % (b, p.replace("/", "_")) for b, p, _ in CASES]
)
@pytest.mark.parametrize("style", ["absolute", "escaping"])
def test_a_link_never_leads_a_run_out_of_the_root(worlds, tmp_path: Path, backend: str, rel: str, kind: str,
                                                  style: str):  # fmt: skip
    world = worlds[backend]
    outside = _outside(tmp_path)
    host = Host(tmp_path / "h")
    if rel.startswith("var/lib") and rel != "var/lib" and backend == "apt":
        (host.root / "var/lib/dpkg").mkdir(parents=True)  # beside the link: dpkg's database stays
    if rel == "var/lib/spma/state.json":
        (host.root / "var/lib/spma").mkdir(parents=True, exist_ok=True)
    link = _link(host.root, rel, outside, kind, style)
    before = snapshot(outside)
    err = _apply(world, host)
    assert snapshot(outside) == before, "something outside the root changed"
    if rel.startswith("var/lib/spma/cache/"):
        # spma's private cache holds no links: a planted one is removed, the run goes through
        assert err is None and not link.is_symlink(), err
        assert "foo" in world.installed(host.root)
    elif style == "escaping":
        assert isinstance(err, SafetyError) and err.exit_code == 7, err
        assert (
            str(link) in err.message or str(link.parent) in err.message or "outside the root" in err.message
        )
        assert world.installed(host.root) == {}, "a refused run changed the root"
    else:
        # resolved inside the root: the run goes through (the lock file alone is refused as a link)
        if rel == "run/spma.lock":
            assert isinstance(err, SafetyError) and "symlink" in err.message
            return
        assert err is None, err
        assert "foo" in world.installed(host.root)
        # the files spma wrote are where the root's own system sees them
        if rel in ("etc/yum.repos.d", "etc/apt/sources.list.d"):
            written = host.root / str(outside).lstrip("/") / ("os.repo" if backend == "dnf" else "os.list")
            assert written.read_text().startswith(rootfs.MARK)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BOTH)
def test_only_files_spma_wrote_are_removed(worlds, tmp_path: Path, backend: str):
    """Foreign repository files are disabled (renamed), never deleted; spma's own are removed."""
    world = worlds[backend]
    host = Host(tmp_path / "h")
    d = host.root / ("etc/yum.repos.d" if backend == "dnf" else "etc/apt/sources.list.d")
    suffix = ".repo" if backend == "dnf" else ".list"
    d.mkdir(parents=True)
    (d / ("vendor" + suffix)).write_text("# the site's own\n")
    (d / ("old" + suffix)).write_text(rootfs.MARK + " from the host profile\n")
    (d / "notes.txt").write_text("not a repository file\n")
    assert _apply(world, host) is None
    assert sorted(os.listdir(d)) == sorted(["os" + suffix, "vendor%s.disabled" % suffix, "notes.txt"])
    assert (d / ("vendor%s.disabled" % suffix)).read_text() == "# the site's own\n"


def test_a_pending_plan_naming_a_file_outside_is_refused(tmp_path: Path):
    host = Host(tmp_path / "h")
    sdir = host.root / "var/lib/spma"
    (sdir / "pending").mkdir(parents=True)
    (tmp_path / "evil.rpm").write_bytes(b"x")
    for bad in ("../../../../evil.rpm", "/tmp/evil.rpm", ".hidden.rpm", "a/b.rpm", "evil.sh"):
        doc = {"format": deferral.PENDING_FORMAT, "backend": "dnf", "status": "pending", "attempts": 0,
               "inputs": {"installed": "sha256:x"}, "changes": [{"action": "install", "name": "x", "arch": "noarch", "unit": 0, "file": bad,
                                                             "sha256": "0" * 64}],
               "actions": []}  # fmt: skip
        (sdir / "pending.json").write_text(json.dumps(doc))
        with pytest.raises(StateError, match="not a package file in the pending directory"):
            deferral.boot(str(host.root))
        with pytest.raises(StateError, match="pending.json"):
            run.status(str(host.root))
    assert (sdir / "pending.json").exists()


@pytest.mark.parametrize("garbage", [b'{"result": "applied", "inputs": {"pro', b"\x00\x01", b"[1]",
                                     b'{"summary": [1, 2]}', b'{"result": 3}'])  # fmt: skip
def test_status_reports_a_damaged_state_file_and_never_moves_it(tmp_path: Path, garbage: bytes):
    host = Host(tmp_path / "h")
    state = host.root / "var/lib/spma/state.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(garbage)
    p = host.cli("status")
    assert p.returncode == 3, p.stderr
    assert str(state) in p.stderr and "Traceback" not in p.stderr
    assert state.read_bytes() == garbage and os.listdir(state.parent) == ["state.json"]
    assert host.cli("history").returncode == 0


def test_a_device_or_a_huge_file_as_state_is_a_clear_error(tmp_path: Path):
    host = Host(tmp_path / "h")
    sdir = host.root / "var/lib/spma"
    sdir.mkdir(parents=True)
    os.mknod(str(sdir / "state.json"), stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero
    p = host.cli("status")
    assert p.returncode == 3 and "not a regular file" in p.stderr, p.stderr
    os.unlink(sdir / "state.json")
    with open(sdir / "pending.json", "wb") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: no disk used
    p = host.cli("status")
    assert p.returncode == 3 and "larger than" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_dev_zero_as_a_plan_is_a_clear_error(tmp_path: Path, repos):
    from tests.helpers import profile_tree

    host = Host(tmp_path / "h")
    p = host.cli("apply", "--plan", "/dev/zero", profile=profile_tree({"bar": None}, {"os": repos["snap2"]}))
    assert p.returncode == 3 and "larger than" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_rootfs_resolves_as_a_chroot_does(tmp_path: Path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", str(root / "etc/self"))  # -> <root>/etc
    os.symlink("/var/lib/real", str(root / "data"))  # absolute: inside the root
    os.symlink("../../..", str(root / "etc/up"))  # climbs out
    os.symlink("loop2", str(root / "loop1"))
    os.symlink("loop1", str(root / "loop2"))
    assert rootfs.resolve(str(root), "etc/self/self/x") == str(root / "etc/x")
    assert rootfs.write_file(str(root), "data/f", b"1") == str(root / "var/lib/real/f")
    assert (root / "var/lib/real/f").read_bytes() == b"1"
    with pytest.raises(SafetyError, match="etc/up"):
        rootfs.write_file(str(root), "etc/up/x", b"1")
    with pytest.raises(SafetyError, match="too many levels"):
        rootfs.read_bytes(str(root), "loop1/x", 10)
    # a link at the final name is replaced, never written through
    os.symlink(str(tmp_path / "victim"), str(root / "etc/f"))
    rootfs.write_file(str(root), "etc/f", b"new")
    assert not (tmp_path / "victim").exists() and (root / "etc/f").read_bytes() == b"new"
    # removal needs the mark, and never follows a link
    (tmp_path / "theirs").write_text(rootfs.MARK + "\n")
    os.symlink(str(tmp_path / "theirs"), str(root / "etc/theirs"))
    (root / "etc/mine").write_text(rootfs.MARK + " x\n")
    (root / "etc/foreign").write_text("# not spma's\n")
    assert not rootfs.remove_marked(str(root), "etc/theirs") and (tmp_path / "theirs").exists()
    assert not rootfs.remove_marked(str(root), "etc/foreign") and (root / "etc/foreign").exists()
    assert rootfs.remove_marked(str(root), "etc/mine") and not (root / "etc/mine").exists()


@pytest.mark.parametrize("backend", BOTH)
@pytest.mark.parametrize("what", ["private", "arbitrary"])
def test_a_gpgkey_that_is_not_a_public_key_is_refused(worlds, tmp_path: Path, backend: str, what: str):
    world = worlds[backend]
    host = Host(tmp_path / "h")
    err = _apply(world, host, key=world.bad_keys[what])
    assert err is not None and err.exit_code == 3, err
    assert "gpgkey file://%s" % world.bad_keys[what] in err.message
    assert ("private key" if what == "private" else "not") in err.message
    assert world.installed(host.root) == {}
    if backend == "dnf":
        q = subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-q", "gpg-pubkey"],
                           capture_output=True, text=True, env=dict(os.environ, HOME=str(tmp_path)))  # fmt: skip
        assert q.returncode != 0 and "gpg-pubkey" in q.stdout + q.stderr, q.stdout  # "not installed"
    else:
        assert not (host.root / "etc/apt/keyrings").exists()
    # the same root with the public key goes through
    assert _apply(world, host) is None and "foo" in world.installed(host.root)


def test_the_roots_arch_list_cannot_change_spmas_apt_configuration(worlds, tmp_path: Path):
    world = worlds["apt"]
    host = Host(tmp_path / "h")
    (host.root / "var/lib/dpkg").mkdir(parents=True)
    pwned = tmp_path / "pwned"
    (host.root / "var/lib/dpkg/arch").write_text(
        'amd64\ni386"; }; DPkg::Pre-Invoke { "touch %s"; }; APT::X { "\nx y\n' % pwned
    )
    assert _apply(world, host) is None and "foo" in world.installed(host.root)
    conf = (host.root / "var/lib/spma/cache/apt/spma-apt.conf").read_text()
    assert "Pre-Invoke" not in conf and "APT::X" not in conf and not pwned.exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BOTH)
def test_boot_installs_only_what_the_live_run_verified(tmp_path: Path, backend: str):
    """A prefetched package swapped in the root between the live run and boot is refused."""
    from tests.helpers import profile_tree

    core = "glibc" if backend == "dnf" else "libc6"
    if backend == "dnf":
        old = rpmrepo.make_repo(tmp_path / "old", [rpmrepo.parse("%s-2.34-1" % core)])
        new = rpmrepo.make_repo(
            tmp_path / "new", [rpmrepo.parse("%s-2.34-1" % core), rpmrepo.parse("%s-2.34-9" % core)]
        )
        prof = lambda url: profile_tree({core: None}, {"os": "file://%s" % url})  # noqa: E731
    else:
        from tests.test_apt_reconcile import apt_profile

        old = debrepo.make_repo(tmp_path / "old", [debrepo.deb("%s=2.34-1" % core)])
        new = debrepo.make_repo(
            tmp_path / "new", [debrepo.deb("%s=2.34-1" % core), debrepo.deb("%s=2.34-9" % core)]
        )
        prof = lambda url: apt_profile({core: None}, "file://%s" % url)  # noqa: E731
    host = Host(tmp_path / "h")
    host.apply(prof(old), boot=True)
    res = host.apply(prof(new))
    assert [a["deferred"] for a in res.plan["actions"]] == [True]
    pdir = host.root / "var/lib/spma/pending"
    (pkg,) = [p for p in pdir.iterdir() if p.suffix in (".rpm", ".deb")]
    first = next(p for p in (tmp_path / "old").rglob("*" + pkg.suffix))
    pkg.write_bytes(first.read_bytes())  # a valid package, but not the one verified
    p = host.cli("boot")
    assert p.returncode == 5 and "not the one verified" in p.stderr, p.stderr
    world = World(backend, "", "")
    assert world.installed(host.root) == {core: "2.34-1" if backend == "apt" else "x"}


def test_a_device_as_os_release_is_never_read_forever(worlds, tmp_path: Path):
    """Backend detection and dnf's release detection read the root's os-release bounded."""
    world = worlds["dnf"]
    host = Host(tmp_path / "h")
    (host.root / "dev").mkdir(parents=True)
    os.mknod(str(host.root / "dev/zero"), stat.S_IFCHR | 0o666, os.makedev(1, 5))
    (host.root / "etc").mkdir()
    os.symlink("/dev/zero", str(host.root / "etc/os-release"))  # the root's own /dev/zero
    p = host.cli("plan", "--format", "json", profile=world.profile(packager="auto"), timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["backend"] == "dnf"
