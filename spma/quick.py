"""The agent's no-op run (`spma apply --agent` when nothing moved since the last successful apply)
with the standard library only, plus rpm's bindings on an rpm root: what `spma.entry` answers
before click, `spma.run`, the profile model and the backends are imported.

`check` decides without writing or logging anything, and answers only when it is sure the full
run's fast path would say `unchanged=True`: the profile's bytes are those of the last successful
apply, the profile takes none of the paths that log a warning or need more than reading (errata,
templated or remote repositories, signed apt sources), nothing is unfinished, and every input
fingerprint is the one recorded. `record` then does what the full run's fast path does: the same
log lines, the same state entry. Whenever `check` is unsure it says None, and the full run
decides (and logs) everything itself, so every other case behaves as it always did.

The rules here restate, for this narrow case, what spma.profile, spma.run and the backends'
`unfinished`/`quick_inputs` compute; tests/test_noop_speed.py runs both on the same roots and
compares the fingerprints, the log lines and the state file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

from spma import jsontext, rootfs
from spma.family import resolve_backend_name
from spma.profilekeys import PROTOCOL_KEYS, REPO_KEYS

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

STATE_FORMAT = "spma-state/1"  # spma.state.STATE_FORMAT
MAX_STATE_BYTES = 64 * 1024 * 1024  # spma.state.MAX_STATE_BYTES
MAX_PROFILE_BYTES = 64 * 1024 * 1024  # spma.profile.MAX_PROFILE_BYTES
MAX_STATUS = 1024 * 1024 * 1024  # backends/apt/dpkgstate.MAX_STATUS
ACTIONS = ("install", "upgrade", "downgrade", "reinstall", "obsolete", "remove")  # spma.model.ACTIONS
# dpkg states spma.faults.DPKG_UNFINISHED names: not fully installed
DPKG_UNFINISHED = {"half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"}
# keys spma.profile accepts without a warning (a warning is logged: the full run says it)
SPMA_KEYS = {
    "packager", "run", "userpkgs", "userrepos", "whitelist", "excludes", "process_obsoletes",
    "boot_only", "max_removals", "install_weak_deps", "proxy", "proxyhost", "proxyport",
    "proxytype", "host_settings", "active", "dispatch", "dependencies", "register_change", "version",
    "ncm-module",
}  # fmt: skip
NOTE = "nothing changed since the last successful apply"


class Noop:
    """What the no-op run logs and records, once `check` found nothing changed."""

    def __init__(self, root: str, source: str, digest: str, packages: int, repositories: int, backend: str,
                 chosen_by: str, inputs: Dict[str, Any], seconds: float, started: float, lock: int,
                 mode: str) -> None:  # fmt: skip
        self.root, self.source, self.digest = root, source, digest
        self.packages, self.repositories = packages, repositories
        self.backend, self.chosen_by, self.inputs = backend, chosen_by, inputs
        self.seconds, self.started, self.lock, self.mode = seconds, started, lock, mode


def check(source: str, root: str, backend: str, boot: bool = False) -> Optional[Noop]:
    """A Noop, holding the run lock, if the full run's fast path would find nothing changed;
    None (lock released, nothing written) whenever it might not."""
    root = os.path.abspath(root)
    try:
        st = os.stat(root)
        if not stat.S_ISDIR(st.st_mode) or "://" in source or source == "-":
            return None
        with open(source, "rb") as f:
            data = f.read(MAX_PROFILE_BYTES + 1)
        if len(data) > MAX_PROFILE_BYTES or data.lstrip().startswith(b"<"):
            return None
        digest = hashlib.sha256(data).hexdigest()
        # before the lock: a changed profile never waits for it
        if _last_inputs(root, digest) is None:
            return None
        profile = _profile(json.loads(data.decode("utf-8")))
        if profile is None:
            return None
        name, why = resolve_backend_name(backend, profile["packager"], root)
        if name not in ("dnf", "apt"):
            return None
        rootfs.check_paths(root)
        if _links_to_scrub(root):
            return None
        lock = _try_lock(root)
    except Exception:  # noqa: BLE001 - anything unexpected: the full run decides and reports it
        return None
    if lock is None:
        return None
    try:
        noop = _under_lock(root, source, digest, profile, name, why, boot, lock)
    except Exception:  # noqa: BLE001
        noop = None
    if noop is None:
        unlock(lock)
    return noop


def _under_lock(root: str, source: str, digest: str, profile: Dict[str, Any], name: str, why: str, boot: bool,
                lock: int) -> Optional[Noop]:  # fmt: skip
    started = time.time()
    last = _last_inputs(root, digest)
    if last is None:
        return None
    t0 = time.monotonic()
    if name == "dnf":
        installed = _rpm_installed(root)
        repos = _dnf_repos(profile["repositories"])
    else:
        installed = _dpkg_installed(root)
        repos = local_apt_fingerprints(
            [(r["name"], r["urls"]) for r in profile["repositories"] if r["enabled"]],
            rootfs.resolve(root, "var/lib/spma/cache/apt/lists"),
            [r["name"] for r in profile["repositories"] if r["enabled"] and r["signed"]],
        )
    if installed is None or repos is None:
        return None
    pins = {r["name"]: r["pin"] for r in profile["repositories"]}
    if any(pins.get(n) and fp != "sha256:" + pins[n] for n, fp in repos):
        return None  # the full run refuses it (exit 5)
    options = json.dumps({"backend": name, "boot": boot, "errata": None}, sort_keys=True).encode()
    want = {
        "profile": "sha256:" + digest,
        "installed": installed,
        "repositories": dict(sorted(repos)),
        "options": "sha256:" + hashlib.sha256(options).hexdigest(),
        "errata": None,
    }
    if {k: last.get(k) for k in want} != want:
        return None
    seconds = time.monotonic() - t0
    return Noop(root, source, digest, profile["packages"], len(profile["repositories"]), name, why, want,
                seconds, started, lock, "boot" if boot else "live")  # fmt: skip


def record(noop: Noop) -> None:
    """The log lines and the state entry of the full run's fast path; the lock released."""
    import logging

    from spma.steps import step

    try:
        step("profile", source=noop.source, sha256=noop.digest[:16], packages=noop.packages,
             repositories=noop.repositories)  # fmt: skip
        step("lock", path=os.path.join(noop.root, "run/spma.lock"))
        step("backend", backend=noop.backend, chosen_by=noop.chosen_by)
        step("fast-path", unchanged=True, seconds="%.3f" % noop.seconds)
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(noop.started)),
            "duration": round(time.time() - noop.started, 3),
            "result": "unchanged",
            "backend": noop.backend,
            "mode": noop.mode,
            "inputs": noop.inputs,
            "summary": dict({a: 0 for a in ACTIONS}, total=0, deferred=0),
            "reboot_required": False,
            "format": STATE_FORMAT,
        }
        state_dir = os.path.join(noop.root, "var/lib/spma")
        try:
            data = (jsontext.dumps(entry) + "\n").encode()
            rootfs.write_file(noop.root, os.path.join(state_dir, "state.json"), data)
        except OSError as e:
            from spma import faults

            logging.getLogger("spma.run").warning(
                "could not write state under %s: %s", state_dir, faults.explain_oserror(e, state_dir) or e
            )
        step("done", result="unchanged", note=NOTE)
    finally:
        unlock(noop.lock)


# -- the last run and the profile -----------------------------------------------------------
def _last_inputs(root: str, digest: str) -> Optional[Dict[str, Any]]:
    """The inputs of the last successful apply, if it applied exactly these profile bytes and
    its state file is one spma.state reads without complaint."""
    data = rootfs.read_bytes(root, "var/lib/spma/state.json", MAX_STATE_BYTES)
    if data is None:
        return None
    last = json.loads(data.decode("utf-8"))
    if not isinstance(last, dict) or last.get("format") != STATE_FORMAT:
        return None
    # spma.state.check_state: anything it would set aside, the full run sets aside (and says so)
    for key, types in (("time", str), ("result", str), ("backend", str), ("mode", str), ("error", str),
                       ("summary", dict), ("inputs", dict), ("reboot_required", bool)):  # fmt: skip
        if key in last and last[key] is not None and not isinstance(last[key], types):
            return None
    if any(not isinstance(v, int) or isinstance(v, bool) for v in (last.get("summary") or {}).values()):
        return None
    inputs = last.get("inputs")
    if last.get("result") not in ("applied", "unchanged") or not inputs:
        return None
    return inputs if inputs.get("profile") == "sha256:" + digest else None


def _bool(v: Any, default: bool) -> Optional[bool]:
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("yes", "no", "true", "false"):
        return v.lower() in ("yes", "true")
    return None


def _profile(tree: Any) -> Optional[Dict[str, Any]]:
    """What the no-op run needs of a profile the last successful apply parsed (same bytes): the
    counts it logs, the packager, the repositories; None for anything spma.profile would warn
    about (the full run logs the warning) or that needs more than reading (errata, a proxy)."""
    sw = tree.get("software") if isinstance(tree, dict) else None
    if not isinstance(sw, dict):
        return None
    packages = sw.get("packages", {})
    repositories = sw.get("repositories", [])
    comps = sw.get("components", {})
    spma = comps.get("spma", {}) if isinstance(comps, dict) else None
    if not isinstance(packages, dict) or not isinstance(repositories, list) or not isinstance(spma, dict):
        return None
    if not set(spma) <= SPMA_KEYS | {"errata"} or spma.get("errata") not in (None, ""):
        return None
    if spma.get("proxy") or spma.get("proxyhost"):
        return None
    for versions in packages.values():
        if not isinstance(versions, dict):
            return None
        for body in versions.values():
            if not isinstance(body, dict) or not set(body) <= {"arch"}:
                return None
    repos = []
    for r in repositories:
        if not isinstance(r, dict) or not set(r) <= REPO_KEYS or r.get("proxy"):
            return None
        protocols = r.get("protocols", [])
        if not isinstance(protocols, list) or not protocols:
            return None
        urls = []
        for p in protocols:
            if not isinstance(p, dict) or not set(p) <= PROTOCOL_KEYS or not isinstance(p.get("url"), str):
                return None
            urls.append(p["url"])
        enabled, gpgcheck = _bool(r.get("enabled"), True), _bool(r.get("gpgcheck"), True)
        pin = r.get("metadata_sha256")
        if enabled is None or gpgcheck is None or not isinstance(r.get("name"), str):
            return None
        if pin is not None and not isinstance(pin, str):
            return None
        # a key is fetched (and a signature checked) by apt's way only
        signed = gpgcheck or bool(r.get("gpgkey"))
        repos.append({"name": r["name"], "urls": tuple(urls), "enabled": enabled, "signed": signed,
                      "pin": pin.lower() if pin else None})  # fmt: skip
    packager = spma.get("packager", "auto")
    if not isinstance(packager, str):
        return None
    return {"packages": len(packages), "repositories": repos, "packager": packager}


def _links_to_scrub(root: str) -> bool:
    """Whether rootfs.scrub_links would remove a link from spma's cache (and warn): the full run
    does that."""
    try:
        top = rootfs.resolve(root, "var/lib/spma/cache")
    except (FileNotFoundError, NotADirectoryError):
        return False
    kept = os.path.join(top, "apt/lists")
    for dirpath, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            if dirpath == kept and n in files and not os.path.isdir(p):
                continue
            if os.path.islink(p):
                return True
    return False


# -- the lock -------------------------------------------------------------------------------
def _try_lock(root: str) -> Optional[int]:
    """spma.state.run_lock, without waiting: a busy lock is the full run's to wait for and say."""
    import fcntl

    fd = rootfs.open_lock(root, os.path.join(root, "run/spma.lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())
    return fd


def unlock(fd: int) -> None:
    import fcntl

    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- rpm ------------------------------------------------------------------------------------
_DBPATHS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")  # backends/dnf/base._DBPATHS
# backends/dnf/duplicates.INSTALLONLY
INSTALLONLY = ("kernel", "kernel-PAE", "installonlypkg(kernel)", "installonlypkg(kernel-module)",
               "installonlypkg(vm)", "multiversion(kernel)")  # fmt: skip


def _rpm_installed(root: str) -> Optional[str]:
    """The dnf backend's installed fingerprint, read once from the rpmdb; None when rpm reports
    a package twice (duplicates.find: the full run repairs it)."""
    import rpm

    chosen = _DBPATHS[0]
    for p in _DBPATHS:
        d = os.path.join(root, p.lstrip("/"))
        if os.path.exists(os.path.join(d, "rpmdb.sqlite")) or os.path.exists(os.path.join(d, "Packages")):
            chosen = p
            break
    try:
        dbpath = "/" + rootfs.relpath(root, rootfs.resolve(root, chosen.lstrip("/")))
    except (FileNotFoundError, NotADirectoryError):
        dbpath = chosen
    rpm.addMacro("_dbpath", dbpath)
    ts = rpm.TransactionSet(root)
    nevras: List[str] = []
    seen: Dict[Tuple[str, str], List[Any]] = {}
    try:
        for h in ts.dbMatch():
            name, arch = h["name"], h["arch"] or "(none)"
            e = h["epochnum"]
            vr = "%s-%s" % (h["version"], h["release"])
            nevras.append("%s-%s.%s" % (name, "%d:%s" % (e, vr) if e else vr, arch))
            if name != "gpg-pubkey":
                seen.setdefault((name, arch), []).append(h)
        installonly = set(INSTALLONLY)
        for (name, _arch), hdrs in seen.items():
            if len(hdrs) < 2 or name in installonly:
                continue
            if sum(1 for h in hdrs if not installonly & set(h["providename"] or [])) > 1:
                return None
    finally:
        ts.closeDB()
    h = hashlib.sha256()
    for s in sorted(nevras):
        if not s.startswith("gpg-pubkey-"):
            h.update(s.encode() + b"\n")
    return "sha256:" + h.hexdigest()


def _local_path(url: str) -> Optional[str]:
    """The directory of a plain `file://` URL; None for anything else (remote, templated,
    quoted, with a query): those are the package manager's to read."""
    if not url.startswith("file://") or any(c in url for c in "?#%$\\ \t") or not url.isprintable():
        return None
    rest = url[len("file://") :]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    return rest if rest.startswith("/") else None


def _dnf_repos(repositories: List[Dict[str, Any]]) -> Optional[List[Tuple[str, str]]]:
    """backends/dnf's local repository fingerprints: each enabled repository's repomd.xml read
    in place, when it is one plain file:// URL."""
    out = []
    for r in repositories:
        if not r["enabled"]:
            continue
        path = _local_path(r["urls"][0]) if len(r["urls"]) == 1 else None
        if path is None:
            return None
        with open(os.path.join(path, "repodata", "repomd.xml"), "rb") as f:
            out.append((r["name"], "sha256:" + hashlib.sha256(f.read()).hexdigest()))
    return sorted(out)


# -- dpkg and apt ---------------------------------------------------------------------------
def _dpkg_installed(root: str) -> Optional[str]:
    """The apt backend's installed fingerprint from dpkg's status file; None when dpkg's journal
    holds entries or a package is unfinished (the full run finishes or repairs it)."""
    from spma.deb822 import stanzas

    updates = os.path.join(root, "var/lib/dpkg/updates")
    if os.path.isdir(updates) and any(n.isdigit() for n in os.listdir(updates)):
        return None
    data = rootfs.read_bytes(root, "var/lib/dpkg/status", MAX_STATUS)
    if data is None:
        return None
    out = []
    for f in stanzas(data.decode("utf-8", "replace")):
        words = f.get("Status", "").split()
        if "Package" not in f:
            continue
        if len(words) == 3 and (words[2] in DPKG_UNFINISHED or words[1] == "reinstreq"):
            return None
        if f.get("Status", "").endswith(" installed"):
            out.append("%s:%s=%s" % (f["Package"], f.get("Architecture", ""), f.get("Version", "")))
    h = hashlib.sha256()
    for line in sorted(out):
        h.update(line.encode() + b"\n")
    return "sha256:" + h.hexdigest()


def list_prefix(rdir: str) -> str:
    """apt_pkg.uri_to_filename of `file:<rdir>` for the characters release_files lets through:
    the scheme dropped, _ quoted as apt quotes it, / as _."""
    return rdir.replace("_", "%5f").replace("/", "_")


def release_files(url: str, lists: str) -> Optional[Tuple[str, str]]:
    """(the Release or InRelease file of a local `file:` source line, its copy in apt's lists)
    when apt's copy is exactly what `apt update` would find there now: apt takes InRelease when
    the source has one, else Release, keeps only that one in its lists, and fetches again only
    what changed. None when that cannot be told without apt (remote, a name apt would quote,
    an expiring Release, a copy missing or different)."""
    parts = url.split()
    path = _local_path(parts[0]) if parts else None
    dist = parts[1] if len(parts) > 1 else "./"
    if path is None or any(not (c.isascii() and c.isalnum() or c in "/._-+") for c in path + dist):
        return None
    rdir = path.rstrip("/") + "/" + (dist if dist.endswith("/") else "dists/%s/" % dist)
    prefix = list_prefix(rdir)
    have = {n for n in ("InRelease", "Release") if os.path.isfile(os.path.join(lists, prefix + n))}
    pick = "InRelease" if os.path.isfile(rdir + "InRelease") else "Release"
    if have != {pick}:
        return None
    return rdir + pick, os.path.join(lists, prefix + pick)


def _expires(release: bytes) -> bool:
    """Does a Release carry a Valid-Until field (on any line, the first too, in any case: deb822
    field names are not case-sensitive)? apt refuses one that has passed, even one it holds."""
    return any(ln[:12].lower() == b"valid-until:" for ln in release.splitlines())


def local_apt_fingerprints(repos: List[Tuple[str, Tuple[str, ...]]], lists: str,
                           signed: List[str]) -> Optional[List[Tuple[str, str]]]:  # fmt: skip
    """The apt backend's repository fingerprints (each enabled source's Release/InRelease in
    apt's lists) without `apt update`, when every source is a local, unsigned `file:` one whose
    Release apt already holds byte for byte; else None. A signed source (or one with keys) is
    verified again by `apt update` (its key may have changed), so it takes apt's way."""
    out = []
    for name, urls in repos:
        if name in signed:
            return None
        h = hashlib.sha256()
        for url in urls:
            files = release_files(url, lists)
            if files is None:
                return None
            try:
                with open(files[0], "rb") as f:
                    src = f.read(MAX_STATE_BYTES + 1)
                with open(files[1], "rb") as f:
                    copy = f.read(MAX_STATE_BYTES + 1)
            except OSError:  # gone from the source: apt update says so
                return None
            if src != copy or len(src) > MAX_STATE_BYTES or _expires(src):
                return None
            h.update(copy)
        out.append((name, "sha256:" + h.hexdigest()))
    return sorted(out)
