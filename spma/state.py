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
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional

from spma.errors import LockError, StateFormatError

log = logging.getLogger("spma.state")

STATE_FORMAT = "spma-state/1"


def state_dir(root: str) -> str:
    return os.path.join(root, "var/lib/spma")


def lock_path(root: str) -> str:
    return os.path.join(root, "run/spma.lock")


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
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


def write_json(path: str, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def read_json(path: str) -> Optional[Dict[str, Any]]:
    """The JSON object at `path`; None if missing. A corrupt file is set aside, not fatal."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        return obj
    except (ValueError, UnicodeDecodeError) as e:
        aside = "%s.corrupt-%d" % (path, int(time.time()))
        os.replace(path, aside)
        log.warning("state file %s was unreadable (%s); moved to %s", path, e, aside)
        return None


@contextlib.contextmanager
def run_lock(root: str, timeout: float) -> Iterator[None]:
    """flock(2) on <root>/run/spma.lock; LockError (exit 6) after `timeout` seconds."""
    path = lock_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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


def read_state(root: str) -> Optional[Dict[str, Any]]:
    """The last run's record; one of another format is refused, never half-used."""
    path = os.path.join(state_dir(root), "state.json")
    last = read_json(path)
    if last is not None and last.get("format") != STATE_FORMAT:
        raise StateFormatError(
            "%s has format %r; this spma reads %s" % (path, last.get("format"), STATE_FORMAT),
            hint="it was written by another spma version; the next `spma apply` replaces it",
        )
    return last


def record_state(root: str, entry: Dict[str, Any]) -> None:
    entry = dict(entry, format=STATE_FORMAT)
    write_json(os.path.join(state_dir(root), "state.json"), entry)


def record_history(root: str, plan: Dict[str, Any], keep: int = 50) -> str:
    hdir = os.path.join(state_dir(root), "history")
    os.makedirs(hdir, exist_ok=True)
    now = time.time()
    # microseconds and pid: two runs in one second (or one process) never share a name
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + ".%06dZ" % int((now % 1) * 1e6)
    path = os.path.join(hdir, "%s-%d.json" % (stamp, os.getpid()))
    write_json(path, plan)
    entries = sorted(f for f in os.listdir(hdir) if f.endswith(".json"))
    for old in entries[:-keep] if keep > 0 else []:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(hdir, old))
    return path


def list_history(root: str) -> List[str]:
    hdir = os.path.join(state_dir(root), "history")
    try:
        return sorted(os.path.join(hdir, f) for f in os.listdir(hdir) if f.endswith(".json"))
    except FileNotFoundError:
        return []
