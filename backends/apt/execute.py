"""Committing a marked depcache: download (apt checks hashes), dpkg with its output kept in a
log, no service start inside a sandbox root, DEBIAN_FRONTEND scoped to the transaction."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, List, Optional

from spma import rootfs
from spma.backend import ProgressFn
from spma.environ import scoped
from spma.errors import RepoError, TransactionError


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


def commit(
    cache: Any, root: str, logdir: str, installed: Any, progress: Optional[ProgressFn] = None
) -> None:
    """Run the marks; `installed()` lists what dpkg has, to say whether a failure changed anything."""
    import apt.cache
    from apt.progress.base import AcquireProgress, InstallProgress

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

    before: List[str] = installed()
    with _no_service_starts(root), scoped(DEBIAN_FRONTEND="noninteractive"):
        try:
            cache.commit(AcquireProgress(), _QuietInstall())
        except apt.cache.FetchFailedException as e:
            raise RepoError("downloading packages failed, nothing was changed: %s" % e) from e
        except (SystemError, apt.cache.LockFailedException) as e:
            changed = installed() != before
            raise TransactionError(
                "the dpkg transaction failed%s: %s" % ("" if changed else " (nothing was changed)", e)
            ) from e
