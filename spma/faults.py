"""What a package manager can leave behind when a run is cut short, and how spma words it.

Backends report the facts (`Unfinished` records read from dpkg's status file or the rpmdb);
the core owns the reason (`interrupted`), the `because` of a repair and the wording of a
failure, so both backends say the same thing the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

from spma.errors import HostError, NoSpaceError, ProfileError, RepoError, SpmaError, TransactionError

INTERRUPTED = "interrupted"

# dpkg's package states (dpkg-query(1) "Status"), other than installed / not-installed /
# config-files: each means a dpkg run stopped (killed, or a maintainer script failed) before
# the package was fully installed.
DPKG_UNFINISHED = {
    "half-installed": "dpkg left it half-installed (an unpack or removal stopped part way)",
    "unpacked": "dpkg left it unpacked but not configured",
    "half-configured": "dpkg left it half-configured (its configuration failed or was interrupted)",
    "triggers-awaited": "dpkg left it awaiting another package's trigger processing",
    "triggers-pending": "dpkg left its triggers pending",
}
REINSTREQ = "dpkg marked it as needing reinstallation"
RPM_DUPLICATE = "two versions of it are in the rpm database (an rpm transaction stopped part way)"


@dataclass(frozen=True)
class Unfinished:
    """One package the package database reports as not fully installed."""

    name: str
    arch: str
    version: str
    # dpkg's state word (half-configured, ...), or "duplicate" for rpm
    state: str
    # dpkg's reinstreq flag: only a reinstall (or a forced removal) finishes it
    reinstall_required: bool = False
    # rpm duplicates: the other version(s) sharing the name and arch
    others: Sequence[str] = ()

    def describe(self) -> str:
        if self.state == "duplicate":
            return "%s.%s %s (also %s in the rpmdb)" % (
                self.name,
                self.arch,
                self.version,
                ", ".join(self.others),
            )
        flag = ", reinstall required" if self.reinstall_required else ""
        return "%s:%s %s (%s%s)" % (self.name, self.arch, self.version, self.state, flag)

    def token(self) -> str:
        """The fact a backend hands the core in `Change.unfinished`."""
        return self.state + ("+reinstreq" if self.reinstall_required else "")


def words(token: str) -> str:
    """What the package database left, in words: the `because` of a repair."""
    state, _, flag = token.partition("+")
    if state == "duplicate":
        return RPM_DUPLICATE
    out = DPKG_UNFINISHED.get(state, "dpkg left it %s" % state)
    if flag == "reinstreq" and state != "half-installed":
        out += "; " + REINSTREQ
    return out


def because(u: Unfinished) -> str:
    """The `because` of the repair action spma plans for `u`."""
    return words(u.token())


def left_behind(items: Iterable[Unfinished]) -> str:
    """A failure message's account of what the package database holds unfinished."""
    items = list(items)
    if not items:
        return ""
    shown = ", ".join(u.describe() for u in items[:10])
    more = " and %d more" % (len(items) - 10) if len(items) > 10 else ""
    return "; it left behind: %s%s" % (shown, more)


def full_filesystem(paths: Sequence[str], slack: int = 64 * 1024) -> Optional[str]:
    """The first of `paths` (or its nearest existing parent) whose file system has less than
    `slack` bytes free for an unprivileged writer: what a download, a package manager's own
    error or a state write hit when it reports a vaguer failure."""
    for path in paths:
        p = path
        while p and not os.path.exists(p):
            p = os.path.dirname(p)
        try:
            st = os.statvfs(p or "/")
        except OSError:
            continue
        if st.f_bavail * st.f_frsize < slack:
            return path
    return None


def no_room(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, errno.EDQUOT)


def not_permitted(e: OSError) -> bool:
    return e.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


def path_of(e: OSError, default: str) -> str:
    return e.filename if isinstance(e.filename, str) and e.filename else default


def explain_oserror(e: OSError, default_path: str) -> Optional[str]:
    """The environment problem an OSError stands for, in words that name the path; None when it
    is not one spma can explain (then it is a bug)."""
    path = path_of(e, default_path)
    if no_room(e):
        return "no room at %s: %s" % (path, os.strerror(e.errno or errno.ENOSPC))
    if e.errno == errno.EROFS:
        return "%s is on a read-only file system" % path
    if e.errno in (errno.EACCES, errno.EPERM):
        who = "" if os.geteuid() == 0 else " (spma runs as uid %d, not root)" % os.geteuid()
        return "permission denied on %s%s" % (path, who)
    return None


def as_spma_error(e: OSError, default_path: str) -> Optional[SpmaError]:
    """An environment problem as the error its phase maps to (exit 5 for a full disk, 3 for a
    path spma may not write); None for anything else, which stays a bug."""
    words = explain_oserror(e, default_path)
    if words is None:
        return None
    if no_room(e):
        return NoSpaceError(words)
    return HostError(words)


@contextlib.contextmanager
def environment(watch: Sequence[str]) -> Iterator[None]:
    """Before a transaction: an OSError that is the host's fault (full, read-only, not ours to
    write) is a clear error naming the path; an SpmaError other than a transaction failure, hit
    while a watched file system is full, says so (exit 5, "no room at PATH")."""
    try:
        yield
    except OSError as e:
        err = as_spma_error(e, watch[0] if watch else "/")
        if err is None:
            raise
        raise err from e
    except (RepoError, ProfileError) as e:
        if isinstance(e, NoSpaceError):
            raise
        full = full_filesystem(watch)
        if full is None:
            raise
        raise NoSpaceError("no room at %s (%s)" % (full, e.message)) from e


def after_commit(e: BaseException, root: str) -> TransactionError:
    """A failure after the package transaction committed: the host changed, so it is exit 9
    with words that say the transaction was applied (the next run finishes the rest)."""
    what = getattr(e, "message", str(e))
    if isinstance(e, OSError):
        what = explain_oserror(e, root) or what
    return TransactionError(
        "the package transaction was applied, but a later step failed: %s" % what,
        hint="fix the cause above and rerun: the packages are in place, the next run writes what is "
        "missing (repository files, deferred changes, state) and converges",
    )
