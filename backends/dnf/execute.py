"""Running a solved goal: download, signature checks (rpmkeys with a scoped HOME), the rpm
transaction, and progress callbacks."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, List, Optional, Sequence

from spma import faults, rootfs
from spma.backend import ProgressFn
from spma.environ import scoped
from spma.errors import RepoError, TransactionError

from .base import Root

log = logging.getLogger("spma.dnf")


def execute(root: Root, base: Any, goal: Any, progress: Optional[ProgressFn],
            unfinished: Callable[[], Sequence[faults.Unfinished]] = tuple) -> None:  # fmt: skip
    import dnf.exceptions

    # Run exactly the goal the plan was computed from: no second resolve.
    base._goal = goal
    base._transaction = base._goal2transaction(goal)
    pkgs = list(base.transaction.install_set)
    from .problems import dnf_warnings, download_failure

    try:
        with dnf_warnings() as said:
            base.download_packages(pkgs, _DownloadProgress(progress) if progress else None)
    except dnf.exceptions.Error as e:  # DownloadError, or a package of a local repository gone or bad
        try:
            st = os.statvfs(root.cachedir)
            free = "%.1f MiB free" % (st.f_bavail * st.f_frsize / 1048576.0)
        except OSError:
            free = "free space unknown"
        raise RepoError(
            download_failure(pkgs, str(e), said),
            hint="nothing was changed; check that the mirror is reachable and that the cache %s has room "
            "(%s), then rerun" % (root.cachedir, free),
        ) from e
    check_signatures(root, base, pkgs)
    before = root.rpmdb_nevras()
    scripts = _ScriptErrors()
    try:
        base.do_transaction(display=[scripts] + ([_TransactionDisplay(progress)] if progress else []))
    except dnf.exceptions.Error as e:
        # dnf runs rpm's test transaction first; ask the rpmdb whether anything moved
        changed = root.rpmdb_nevras() != before
        raise TransactionError(
            "the rpm transaction failed%s: %s%s"
            % ("" if changed else " (nothing was changed)", e, faults.left_behind(unfinished())),
            hint="the state is recorded; fix the cause and rerun: spma converges from wherever it stopped",
        ) from e
    for msg in scripts.errors:
        # rpm counts a failed scriptlet as a warning: the package is installed, the scriptlet's
        # work may not be done, and nothing in the rpmdb records it
        log.warning("the transaction was applied, but rpm reported: %s", msg)


def check_signatures(root: Root, base: Any, pkgs: List[Any]) -> None:
    # dnf 4.14 verifies with the rpmkeys executable, which does not see our in-process
    # %_dbpath pin (Debian's default is ~/.rpmdb): for this step only, rpmkeys gets a HOME
    # whose .rpmmacros pins the same rpmdb. On EL9 that is rpm's own default anyway.
    _checked_keys(root, base, pkgs)
    home = rootfs.makedirs(root.root, os.path.join(root.statedir, "rpmhome"))
    rootfs.write_file(root.root, os.path.join(home, ".rpmmacros"), b"%%_dbpath %s\n" % root.dbpath.encode())
    with scoped(HOME=home):
        _verify(base, pkgs)


def _checked_keys(root: Root, base: Any, pkgs: List[Any]) -> None:
    """dnf imports a missing key from the repository's gpgkey URLs: point those at local copies
    checked to be public keys, so a private key or an arbitrary file never reaches the rpmdb
    (spma/keys.py)."""
    from spma.keys import fetch_checked

    kdir = os.path.join(root.statedir, "keys")
    for r in {base.repos[p.reponame] for p in pkgs if p.reponame in base.repos}:
        if r.gpgcheck and r.gpgkey:
            r.gpgkey = ["file://" + p for p in fetch_checked(root.root, kdir, r.id, list(r.gpgkey))]


def _verify(base: Any, pkgs: List[Any]) -> None:
    """What dnf's CLI does in gpgsigcheck: verify every downloaded package of a gpgcheck
    repository; a missing key is imported only from that repository's gpgkey list, which the
    profile declares and so trusts. Any failure stops the run before the transaction."""
    import dnf.exceptions

    problems = []
    for pkg in pkgs:
        result, msg = base.package_signature_check(pkg)
        if result == 1:
            try:
                base.package_import_key(pkg, askcb=lambda *a: True, fullaskcb=lambda *a: True)
            except (dnf.exceptions.Error, ValueError) as e:
                problems.append("%s: %s" % (pkg, e))
                continue
            result, msg = base.package_signature_check(pkg)
        if result != 0:
            problems.append("%s: %s" % (pkg, msg or "signature check failed"))
    if problems:
        raise RepoError(
            "package signatures could not be verified, nothing was changed:\n  " + "\n  ".join(problems),
            hint="check the repository's gpgkey in the profile, or set gpgcheck false for it if that is intended",
        )


class _DownloadProgress:
    def __init__(self, progress: ProgressFn) -> None:
        self._cb = progress
        self._total = 0
        self._done = 0

    # dnf calls these duck-typed; subclassing is not required by dnf.Base.download_packages
    def start(self, total_files: int, total_size: int, total_drpms: int = 0) -> None:
        self._total = total_files

    def progress(self, payload: Any, done: int) -> None:
        pass

    def end(self, payload: Any, status: int, msg: Any) -> None:
        self._done += 1
        # the name and size let a terminal show what is being fetched, not only how many
        self._cb("download", self._done, self._total, str(payload), getattr(payload, "download_size", None))


class _ScriptErrors:
    """Collects rpm's scriptlet failures, which do not fail a transaction."""

    def __init__(self) -> None:
        self.errors: List[str] = []

    def progress(self, *args: Any) -> None:
        pass

    def scriptout(self, msgs: Any) -> None:
        pass

    def error(self, message: str) -> None:
        self.errors.append(message)

    def filelog(self, package: Any, action: int) -> None:
        pass

    def verify_tsi_package(self, pkg: Any, count: int, total: int) -> None:
        pass


class _TransactionDisplay:
    def __init__(self, progress: ProgressFn) -> None:
        self._cb = progress

    def progress(
        self, package: Any, action: int, ti_done: int, ti_total: int, ts_done: int, ts_total: int
    ) -> None:
        # package steps only (1..10: install, erase, up/downgrade, obsolete, reinstall), not
        # rpm's preparation, verify or cleanup callbacks
        if 1 <= action <= 10 and ti_done == ti_total:
            self._cb("transaction", ts_done, ts_total, str(package))

    def scriptout(self, msgs: Any) -> None:
        if msgs:
            log.info("scriptlet output: %s", msgs)

    def error(self, message: str) -> None:
        log.error("rpm: %s", message)

    def filelog(self, package: Any, action: int) -> None:
        pass

    def verify_tsi_package(self, pkg: Any, count: int, total: int) -> None:
        pass
