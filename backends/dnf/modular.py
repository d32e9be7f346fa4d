"""Module filtering for a plan's sack, its outcome kept between plans.

libdnf's module filtering (`Sack.filter_modules`) parses every repository's modules metadata,
resolves the active streams and hides the modular packages of inactive ones: ~40 ms for CentOS
Stream 9's AppStream, a quarter of a small plan. Its outcome is only the set of packages it
hides (the module excludes; the module includes it also keeps serve rpm's transaction, which a
plan never runs), and that set depends only on:

* each repository's metadata (its cached `repomd.xml`, which names the checksum of every other
  metadata file), its id, order and `module_hotfixes`;
* the root's module state: `etc/dnf/modules.d`, `etc/dnf/modules.defaults.d` and the module
  fail-safe copies;
* the platform: the root's os-release files, or the `base-module(...)` provides of installed
  and available packages (the installed NEVRAs are in the key: any rpmdb change misses);
* the architecture and libdnf's version.

So the first plan filters as dnf does and writes the hidden packages, per repository, with a
digest of all of the above into the root's spma dnf cache; a later plan with the same digest
hides the same packages without parsing anything. The file is checked like any other input
from the root: a wrong format, digest or package that is not there means filtering again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from typing import Any, Dict, List, Optional, Tuple

from spma import rootfs
from spma.errors import SafetyError

log = logging.getLogger("spma.dnf")

_NAME = "module-excludes.json"
_FORMAT = 1
_LIMIT = 4 << 20  # a module state file or os-release larger than this is not keyed, just filtered
_STATE_DIRS = ("etc/dnf/modules.d", "etc/dnf/modules.defaults.d")
_OS_RELEASE = ("etc/os-release", "usr/etc/os-release", "usr/lib/os-release")


class _Unkeyed(Exception):
    """An input of module filtering that spma does not digest: filter without the cache."""


def filter_modules(
    sack: Any, root: str, cachedir_rel: str, persistdir: str, repos: List[Any], arch: str
) -> None:
    """Hide what module filtering hides, from the cache when its digest matches; nothing when no
    repository has modules metadata and the root keeps no fail-safe copies (it would hide none)."""
    if not any(r.getMetadataPath("modules") for r in repos) and not _failsafe(root, persistdir):
        return
    try:
        key: Optional[str] = _key(sack, root, persistdir, repos, arch)
    except _Unkeyed as e:
        log.debug("module filtering not cached: %s", e)
        key = None
    path = os.path.join(cachedir_rel, _NAME)
    if key is not None and _restore(sack, root, path, key):
        return
    import libdnf

    container = libdnf.module.ModulePackageContainer(False, root, arch, persistdir)
    sack._moduleContainer = container
    hotfix = [r.getId() for r in repos if r.getConfig().module_hotfixes().getValue()]
    sack.filter_modules(
        container, hotfix, root, None, update_only=False, debugsolver=False, module_obsoletes=False
    )
    if key is not None:
        _save(sack, root, path, key)


def _failsafe_dirs(root: str, persistdir: str) -> Tuple[str, str]:
    """Where libdnf looks for the fail-safe copies of enabled modules' metadata: with and
    without the root prefix."""
    return os.path.join(persistdir, "modulefailsafe"), os.path.join(
        root, persistdir.lstrip("/"), "modulefailsafe"
    )


def _failsafe(root: str, persistdir: str) -> bool:
    """Does the root keep fail-safe copies?"""
    for d in _failsafe_dirs(root, persistdir):
        try:
            if os.listdir(d):
                return True
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return True  # unreadable: let libdnf decide
    return False


def _read(path: str) -> Optional[bytes]:
    """A key input as libdnf reads it (following links, as libdnf does): None when absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise _Unkeyed("%s: %s" % (path, e)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Unkeyed("%s is not a regular file" % path)
        return rootfs.read_bounded(fd, _LIMIT, path)
    except (OSError, rootfs.SizeError) as e:
        raise _Unkeyed(str(e)) from None
    finally:
        os.close(fd)


def _dir(h: Any, path: str) -> None:
    try:
        names = sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        h.update(b"-\0")
        return
    except OSError as e:
        raise _Unkeyed("%s: %s" % (path, e)) from None
    h.update(b"d%d\0" % len(names))
    for n in names:
        data = _read(os.path.join(path, n))
        h.update(n.encode("utf-8", "surrogateescape") + b"\0")
        h.update(b"-\0" if data is None else hashlib.sha256(data).digest())


def _key(sack: Any, root: str, persistdir: str, repos: List[Any], arch: str) -> str:
    import hawkey

    h = hashlib.sha256(
        b"spma module excludes %d\0%s\0%s\0" % (_FORMAT, hawkey.VERSION.encode(), arch.encode())
    )
    for r in repos:
        repomd = _read(os.path.join(r.getCachedir(), "repodata", "repomd.xml"))
        if repomd is None:
            raise _Unkeyed("no cached repomd.xml for %s" % r.getId())
        hotfix = r.getConfig().module_hotfixes().getValue()
        h.update(b"r%s\0%d\0" % (r.getId().encode(), hotfix) + hashlib.sha256(repomd).digest())
    for rel in _OS_RELEASE:
        data = _read(os.path.join(root, rel))
        h.update(b"o-\0" if data is None else b"o" + hashlib.sha256(data).digest())
    for rel in _STATE_DIRS:
        _dir(h, os.path.join(root, rel))
    for d in _failsafe_dirs(root, persistdir):
        _dir(h, d)
    installed = sorted(str(p) for p in sack.query().installed())
    h.update(b"i%d\0" % len(installed) + "\n".join(installed).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _nevra(p: Any) -> str:
    return "%s-%d:%s-%s.%s" % (p.name, p.epoch, p.version, p.release, p.arch)


def _restore(sack: Any, root: str, path: str, key: str) -> bool:
    import hawkey

    try:
        raw = rootfs.read_bytes(root, path, 64 << 20)
        data = json.loads(raw) if raw is not None else None
    except (OSError, ValueError, SafetyError) as e:
        log.debug("module filtering cache unreadable: %s", e)
        return False
    if not (isinstance(data, dict) and data.get("format") == _FORMAT and data.get("key") == key):
        return False
    hidden = data.get("excludes")
    if not isinstance(hidden, dict):
        return False
    q = sack.query(hawkey.IGNORE_MODULAR_EXCLUDES).filterm(empty=True)
    expected = 0
    for rid, nevras in sorted(hidden.items()):
        if not (
            isinstance(rid, str) and isinstance(nevras, list) and all(isinstance(n, str) for n in nevras)
        ):
            return False
        if nevras:
            expected += len(set(nevras))
            found = sack.query(hawkey.IGNORE_MODULAR_EXCLUDES).filterm(reponame=rid, nevra_strict=nevras)
            q = q.union(found)
    if len(q) != expected:
        return False  # a package the file names is not in the repositories: filter again
    sack.add_module_excludes(q)
    return True


def _save(sack: Any, root: str, path: str, key: str) -> None:
    hidden: Dict[str, List[str]] = {}
    for p in sack.get_module_excludes():
        hidden.setdefault(p.reponame, []).append(_nevra(p))
    body = {"format": _FORMAT, "key": key, "excludes": {r: sorted(n) for r, n in sorted(hidden.items())}}
    try:
        rootfs.write_file(root, path, json.dumps(body, sort_keys=True).encode() + b"\n")
    except (OSError, ValueError, SafetyError) as e:  # a cache that cannot be written is only slower
        log.debug("module filtering cache not written: %s", e)
