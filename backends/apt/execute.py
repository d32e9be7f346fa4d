"""Committing a marked depcache: download (apt checks hashes), dpkg with its output kept in a
log, no service start inside a sandbox root, DEBIAN_FRONTEND scoped to the transaction."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, List, Optional

from spma.backend import ProgressFn
from spma.environ import scoped
from spma.errors import RepoError, TransactionError


@contextlib.contextmanager
def _no_service_starts(root: str) -> Iterator[None]:
    """A policy-rc.d for the length of a transaction inside a sandbox root."""
    policy = os.path.join(root, "usr/sbin/policy-rc.d")
    if os.path.realpath(root) == "/" or os.path.exists(policy):
        yield
        return
    os.makedirs(os.path.dirname(policy), exist_ok=True)
    with open(policy, "w") as f:
        f.write("#!/bin/sh\n# written by spma for the length of a transaction\nexit 101\n")
    os.chmod(policy, 0o755)
    try:
        yield
    finally:
        os.unlink(policy)


def commit(
    cache: Any, root: str, logdir: str, installed: Any, progress: Optional[ProgressFn] = None
) -> None:
    """Run the marks; `installed()` lists what dpkg has, to say whether a failure changed anything."""
    import apt.cache
    from apt.progress.base import AcquireProgress, InstallProgress

    os.makedirs(logdir, exist_ok=True)

    class _QuietInstall(InstallProgress):
        """dpkg writes to the terminal itself; keep its words in a log, not on spma's stdout."""

        def fork(self) -> int:
            pid = os.fork()
            if pid == 0:
                fd = os.open(
                    os.path.join(logdir, "dpkg-output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
                )
                os.dup2(fd, 1)
                os.dup2(fd, 2)
            return pid

    before: List[str] = installed()
    dpkg_log = os.path.join(logdir, "dpkg-output.log")
    try:
        log_start = os.path.getsize(dpkg_log)
    except OSError:
        log_start = 0
    with _no_service_starts(root), scoped(DEBIAN_FRONTEND="noninteractive"):
        try:
            cache.commit(AcquireProgress(), _QuietInstall())
        except apt.cache.FetchFailedException as e:
            raise RepoError("downloading packages failed, nothing was changed: %s" % e) from e
        except (SystemError, apt.cache.LockFailedException) as e:
            changed = installed() != before
            cause = dpkg_failure(dpkg_log, log_start)
            raise TransactionError(
                "the dpkg transaction failed%s: %s%s"
                % (
                    "" if changed else " (nothing was changed)",
                    str(e).strip(),
                    "\n  dpkg said:\n    " + "\n    ".join(cause) if cause else "",
                ),  # fmt: skip
                hint="the full dpkg output is in %s; fix the cause above and rerun: spma converges from "
                "where it stopped" % dpkg_log,
            ) from e


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
