"""State under <root>/var/lib/spma and the run lock (DESIGN §8).

Every write is temp file + fsync + rename (+ fsync of the directory), so a crash leaves either
the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import time
from typing import Any, Dict, Iterator, List, Optional

from spma import jsontext, rootfs
from spma.errors import LockError, StateError, StateFormatError

log = logging.getLogger("spma.state")

STATE_FORMAT = "spma-state/1"
# state.json, pending.json and a history entry are a few KiB to a few MiB; anything larger
# (or /dev/zero linked in their place) is not a file spma wrote.
MAX_STATE_BYTES = 64 * 1024 * 1024


def state_dir(root: str) -> str:
    return os.path.join(root, "var/lib/spma")


def lock_path(root: str) -> str:
    return os.path.join(root, "run/spma.lock")


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = rootfs.open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(d)


def fsync_dir(d: str) -> None:
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_json(path: str, obj: Any, *, root: Optional[str] = None) -> None:
    data = (jsontext.dumps(obj) + "\n").encode()
    if root is not None:
        rootfs.write_file(root, path, data)
    else:
        atomic_write(path, data)


def read_json(path: str, *, root: Optional[str] = None, set_aside: bool = True) -> Optional[Dict[str, Any]]:
    """The JSON object at `path` (inside `root` when given: read as the root sees it); None if
    missing. A corrupt file is set aside with a warning, or, for a read-only command
    (`set_aside=False`), a StateError naming it: looking never renames or rewrites state."""
    problem = ""
    try:
        if root is not None:
            data = rootfs.read_bytes(root, path, MAX_STATE_BYTES)
            if data is None:
                return None
        else:
            with open(path, "rb") as f:
                data = rootfs.read_bounded(f.fileno(), MAX_STATE_BYTES, path)
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        return obj
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        problem = str(e) or type(e).__name__
    if not set_aside:
        raise StateError("%s is unreadable: %s" % (path, problem))
    aside = "%s.corrupt-%d" % (path, int(time.time()))
    if root is not None:
        rootfs.rename(root, path, os.path.basename(aside))
    else:
        os.replace(path, aside)
    log.warning("state file %s was unreadable (%s); moved to %s", path, problem, aside)
    return None


@contextlib.contextmanager
def run_lock(root: str, timeout: float) -> Iterator[None]:
    """flock(2) on <root>/run/spma.lock; LockError (exit 6) after `timeout` seconds."""
    path = lock_path(root)
    fd = rootfs.open_lock(root, path)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    raise LockError(
                        "another spma run holds %s%s" % (path, " (pid %s)" % holder if holder else ""),
                        hint="wait for it to finish, or raise --lock-timeout",
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""


def read_state(root: str, *, set_aside: bool = True) -> Optional[Dict[str, Any]]:
    """The last run's record; one of another format is refused, never half-used. A damaged one
    is set aside, or with `set_aside` false (a read-only command) reported naming the file."""
    path = os.path.join(state_dir(root), "state.json")
    last = read_json(path, root=root, set_aside=set_aside)
    if last is None:
        return None
    try:
        if not isinstance(last.get("format"), str):
            raise StateError("%s has no format: not a state file spma wrote" % path)
        if last["format"] != STATE_FORMAT:
            raise StateFormatError(
                "%s has format %r; this spma reads %s" % (path, last.get("format"), STATE_FORMAT),
                hint="it was written by another spma version; the next `spma apply` replaces it",
            )
        return check_state(last, path)
    except StateError as e:
        if not set_aside:
            raise
        aside = "%s.corrupt-%d" % (path, int(time.time()))
        rootfs.rename(root, path, os.path.basename(aside))
        log.warning("state file %s was unreadable (%s); moved to %s", path, e, aside)
        return None


def record_state(root: str, entry: Dict[str, Any]) -> None:
    entry = dict(entry, format=STATE_FORMAT)
    write_json(os.path.join(state_dir(root), "state.json"), entry, root=root)


def record_history(root: str, plan: Dict[str, Any], keep: int = 50) -> str:
    hdir = os.path.join(state_dir(root), "history")
    now = time.time()
    # microseconds and pid: two runs in one second (or one process) never share a name
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + ".%06dZ" % int((now % 1) * 1e6)
    path = os.path.join(hdir, "%s-%d.json" % (stamp, os.getpid()))
    write_json(path, plan, root=root)
    entries = [f for f in rootfs.listdir(root, hdir) if _HISTORY_NAME.fullmatch(f)]
    for old in entries[:-keep] if keep > 0 else []:
        with contextlib.suppress(OSError):
            rootfs.remove(root, os.path.join(hdir, old))
    return path


# the names record_history gives; anything else in the directory is not spma's to prune
_HISTORY_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-\d+\.json$")


def list_history(root: str) -> List[str]:
    hdir = os.path.join(state_dir(root), "history")
    return [os.path.join(hdir, f) for f in rootfs.listdir(root, hdir) if _HISTORY_NAME.fullmatch(f)]


_PACKAGE_FILE = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+~%^:-]*\.(rpm|deb)$")


def check_pending(doc: Dict[str, Any], path: str) -> Dict[str, Any]:
    """A pending plan as `spma boot` trusts it: every package it names is a plain file name in
    the pending directory, every field the type spma writes. StateError names the file."""

    def bad(what: str) -> StateError:
        return StateError("%s: %s" % (path, what))

    if doc.get("backend") not in ("dnf", "apt"):
        raise bad("backend must be dnf or apt")
    if not isinstance(doc.get("status"), str) or not isinstance(doc.get("attempts", 0), int):
        raise bad("status must be a string and attempts an integer")
    inputs = doc.get("inputs")
    if not isinstance(inputs, dict) or not isinstance(inputs.get("installed"), str):
        raise bad("inputs.installed must be a string")
    for key in ("changes", "actions"):
        items = doc.get(key)
        if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
            raise bad("%s must be a list of objects" % key)
    for i, c in enumerate(doc["changes"]):
        for key in ("action", "name", "arch"):
            if not isinstance(c.get(key), str):
                raise bad("changes/%d: %s must be a string" % (i, key))
        if not isinstance(c.get("unit"), int) or isinstance(c.get("unit"), bool):
            raise bad("changes/%d: unit must be an integer" % i)
        fn = c.get("file")
        if fn is None:
            continue
        if not isinstance(fn, str) or not _PACKAGE_FILE.fullmatch(fn):
            raise bad("changes/%d: %r is not a package file in the pending directory" % (i, fn))
        if not isinstance(c.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", c["sha256"]):
            raise bad("changes/%d: %s has no sha256 of the package verified at prefetch" % (i, fn))
    return doc


def check_state(doc: Dict[str, Any], path: str) -> Dict[str, Any]:
    """A state entry as `spma status` shows it; StateError naming the file otherwise."""
    for key, types in (("time", str), ("result", str), ("backend", str), ("mode", str), ("error", str),
                       ("summary", dict), ("inputs", dict), ("reboot_required", bool)):  # fmt: skip
        if key in doc and doc[key] is not None and not isinstance(doc[key], types):
            raise StateError("%s: %s has the wrong type" % (path, key))
    for k, v in (doc.get("summary") or {}).items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise StateError("%s: summary/%s must be an integer" % (path, k))
    return doc
