"""Committing a marked depcache: download (apt checks hashes), dpkg with its output kept in a
log, no service start inside a sandbox root, DEBIAN_FRONTEND scoped to the transaction."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, List, Optional

from spma import rootfs
from spma.backend import ProgressFn
from spma.environ import scoped
from spma.errors import RepoError

from . import dpkgstate


@contextlib.contextmanager
def _no_service_starts(root: str) -> Iterator[None]:
    """A policy-rc.d for the length of a transaction inside a sandbox root."""
    # A dangling link there is followed as the root's invoke-rc.d would (inside the root); the
    # file is removed only if spma wrote it (spma/rootfs.py).
    if os.path.realpath(root) == "/" or rootfs.is_file(root, "usr/sbin/policy-rc.d"):
        yield
        return
    policy = rootfs.resolve(root, "usr/sbin/policy-rc.d", create_parents=True)
    rootfs.write_file(root, policy, b"#!/bin/sh\n%s for the length of a transaction\nexit 101\n" % rootfs.MARK.encode(),
                      mode=0o755)  # fmt: skip
    try:
        yield
    finally:
        rootfs.remove_marked(root, policy)


@contextlib.contextmanager
def guarded(root: str) -> Iterator[None]:
    """What every dpkg run of spma's runs inside: no service starts, no questions."""
    with _no_service_starts(root), scoped(DEBIAN_FRONTEND="noninteractive"):
        yield


def commit(cache: Any, root: str, logdir: str, progress: Optional[ProgressFn] = None) -> None:
    """Run the marks; a failure says whether dpkg changed anything and what it left unfinished."""
    import apt.cache
    from apt.progress.base import InstallProgress

    logdir = rootfs.makedirs(root, logdir)

    class _QuietInstall(InstallProgress):
        """dpkg writes to the terminal itself; keep its words in a log, not on spma's stdout."""

        def fork(self) -> int:
            pid = os.fork()
            if pid == 0:
                fd = os.open(
                    os.path.join(logdir, "dpkg-output.log"),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
                    0o644,
                )
                os.dup2(fd, 1)
                os.dup2(fd, 2)
            return pid

        def status_change(self, pkg: str, percent: float, status: str) -> None:
            # dpkg's own progress, as the transaction step of the terminal's progress line
            if progress is not None:
                progress("transaction", int(percent), 100, pkg)

    from .problems import fetch_failures, repo_failure

    before = dpkgstate.lines(dpkgstate.read(root))
    dpkg_log = os.path.join(logdir, "dpkg-output.log")
    try:
        log_start = os.path.getsize(dpkg_log)
    except OSError:
        log_start = 0
    failures = fetch_failures(progress)
    with guarded(root):
        try:
            cache.commit(failures, _QuietInstall())
        except apt.cache.FetchFailedException as e:
            if dpkgstate.lines(dpkgstate.read(root)) != before:
                raise dpkgstate.failed("downloading packages failed: %s" % e, before, root, logdir) from e
            raise RepoError(
                repo_failure((), failures.failed, str(e), "downloading packages failed, nothing was changed")
            ) from e
        except (SystemError, apt.cache.LockFailedException) as e:
            cause = dpkg_failure(dpkg_log, log_start)
            what = (str(e).strip() or type(e).__name__) + (
                "\n  dpkg said:\n    " + "\n    ".join(cause) if cause else ""
            )
            raise dpkgstate.failed(what, before, root, logdir) from e


def dpkg_failure(log_path: str, start: int, keep: int = 6) -> List[str]:
    """The last error lines dpkg wrote in this transaction (from `start` in its output log):
    what a user needs to see instead of apt's bare "installArchives() failed"."""
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            text = f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return []
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("dpkg:", "E:", "dpkg-", "Errors were encountered"))
              or "error" in ln.lower() or ln.startswith(" ")]  # fmt: skip
    return (errors or lines)[-keep:]
