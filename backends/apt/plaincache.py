"""apt's cache for a plan, opened and updated as python-apt's `apt.Cache` does it, from apt_pkg
alone: importing python-apt's `apt` package costs a plan ~12 ms (its Package class pulls in
http.client, urllib, email and ssl for changelogs), and a plan reads only apt_pkg's Cache,
DepCache, PackageRecords and source list. An apply (commit, prefetch, python-apt's Package
wrappers) opens `apt.Cache` itself (backends/apt/config.py)."""

from __future__ import annotations

import os
from typing import Any, Optional


class QuietOp:
    """python-apt's operation progress interface (`apt.progress.base.OpProgress`), silent:
    apt_pkg sets op, subop, major_change and percent, then calls update() and done()."""

    def __init__(self) -> None:
        self.op, self.subop, self.major_change, self.percent = "", "", False, 0.0

    def update(self, percent: Optional[float] = None) -> None:
        if percent is not None:
            self.percent = percent

    def done(self) -> None:
        pass


class QuietAcquire:
    """python-apt's acquire progress interface (`apt.progress.base.AcquireProgress`), silent:
    apt_pkg calls each method by name and goes on while pulse() does not return False."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.current_bytes = self.current_cps = self.fetched_bytes = self.last_bytes = self.total_bytes = 0.0
        self.current_items = self.total_items = 0
        self.elapsed_time = 0

    def stop(self) -> None:
        pass

    def done(self, item: Any) -> None:
        pass

    def fail(self, item: Any) -> None:
        pass

    def fetch(self, item: Any) -> None:
        pass

    def ims_hit(self, item: Any) -> None:
        pass

    def media_change(self, media: str, drive: str) -> bool:
        return False

    def pulse(self, owner: Any) -> bool:
        return True


class PlainCache:
    """`apt.Cache(rootdir=None, memonly=False)` as a plan uses it: `_cache`, `_depcache`,
    `_records` and `_list`, `open()` and `update()`."""

    def __init__(self) -> None:
        self._records: Any = None
        self.open()

    def open(self, progress: Any = None) -> None:
        import apt_pkg

        self._records = None  # its index files closed before the cache that owns them goes
        progress = QuietOp() if progress is None else progress
        self._cache = apt_pkg.Cache(progress)
        self._depcache = apt_pkg.DepCache(self._cache)
        self._records = apt_pkg.PackageRecords(self._cache)
        self._list = apt_pkg.SourceList()
        self._list.read_main_list()
        progress.done()

    def update(self, fetch_progress: Any) -> None:
        """`apt update` of the source list read at open, under the lists' lock; SystemError
        (with apt's words, or none when apt only said it failed) when it fails."""
        import apt_pkg

        path = apt_pkg.config.find_dir("Dir::State::Lists")
        lock = apt_pkg.FileLock(os.path.join(path, "lock"))
        try:
            lock.__enter__()
        except apt_pkg.Error as e:
            from apt.cache import LockFailedException  # the exception apt.Cache raises (rare)

            raise LockFailedException("Failed to lock directory %s: %s" % (path, e)) from None
        try:
            if not self._cache.update(fetch_progress, self._list, 0):
                raise SystemError("")
        finally:
            lock.__exit__(None, None, None)
