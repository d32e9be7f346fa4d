"""apt backend: python-apt (apt_pkg DepCache, ProblemResolver, explicit candidates), never by
scraping apt-get. `--root` is a private root: apt's configuration, source list, lists and
archives live in spma's state dir, dpkg's database in the root.

Mechanism only: configuration, sources and dpkg's status (config), the desired state as marks
(marks), the marks as facts (facts), the deferral's questions, prefetch and boot marks (boot),
and the commit (execute). Every rule of policy is the core's.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from spma import faults, rootfs
from spma.backend import ProgressFn, RepoFiles
from spma.errors import RepoError, TransactionError
from spma.model import Change, ErrataPin, Need, Offer, Repository, SolveFacts, SolveRequest

from . import boot, dpkgstate, execute, facts, repairs
from .config import AptRoot, held, source_line
from .marks import Desired, deb_key, same_version


def create(*, root: str, statedir: str) -> AptBackend:
    return AptBackend(root=root, statedir=statedir)


class AptSession:
    """One opened cache; `solve` then the deferral's questions, prefetch and execute."""

    def __init__(self, root: AptRoot, request: SolveRequest, plain: bool = False) -> None:
        self.root, self.request = root, request
        self._status = root.status()
        self._unfinished = dpkgstate.unfinished(self._status)
        self.installed_fingerprint = root.installed_fingerprint(self._status)
        # plain: a plan that never executes reads apt_pkg's objects only (no `import apt`)
        self.cache = root.open(request, plain)
        self.repo_fingerprints = root.repo_fingerprints(request)
        self._units: List[Tuple[Change, Any, Any]] = []
        # what solve() and restrict() were given: execute() solves again after dpkg's own
        # recovery, so apt's marks are made against what dpkg then reports
        self._binding: Mapping[str, ErrataPin] = {}
        self._live: Optional[Sequence[int]] = None

    def offers(self, pins: Sequence[Tuple[str, str]]) -> Dict[str, Offer]:
        ac = self.cache._cache
        out = {}
        for name, want in pins:
            try:
                pkg = ac[name]
            except KeyError:
                continue
            vers = list(pkg.version_list)
            have = tuple(sorted({v.ver_str for v in vers}, key=deb_key))
            has = any(v.downloadable and same_version(v.ver_str, want) for v in vers)
            out[name] = Offer(have if pkg.has_versions else (), has, pkg.current_ver is not None)
        return out

    def offering(self, patterns: Sequence[str], want: str) -> Tuple[str, ...]:
        return ()  # no kernel family on Debian (spma.policy.KERNEL_FAMILY)

    def solve(self, binding: Mapping[str, ErrataPin]) -> SolveFacts:
        desired = Desired(self.cache, self.request, binding, held(self._status), self.root.architectures())
        desired.solve()
        repairs.mark_reinstalls(desired, self._unfinished)
        self._binding = binding
        self._units = repairs.annotate(desired.ac, facts.changes(desired), self._unfinished)
        return SolveFacts(tuple(c for c, _p, _n in self._units), installed=self.root.installed_triples(self._status),
                          notes=tuple(desired.held_notes(facts.required_by)))  # fmt: skip

    def version_matches(self, evr: str, spec: str) -> bool:
        return same_version(evr, spec)

    def unmet(self, live: Sequence[int], deferred: Sequence[int]) -> List[Need]:
        return boot.unmet(self._units, live, deferred)

    def restrict(self, live: Sequence[int]) -> bool:
        self._live = live
        return boot.restrict(self.cache, self._units, live)

    def prefetch(self, changes: Sequence[Change], dest: str) -> List[Optional[str]]:
        return boot.prefetch(self.cache, changes, dest)

    def execute(self, progress: Optional[ProgressFn] = None) -> None:
        logdir = os.path.join(self.root.statedir, "log")
        cache = self.cache
        if dpkgstate.recover(self.root.root, logdir, lambda: execute.guarded(self.root.root)):
            cache = self._after_recovery()
        if cache is not None:
            execute.commit(cache, self.root.root, logdir, progress)

    def _after_recovery(self) -> Any:
        """Solve again once dpkg has finished its work, so apt orders the transaction against
        what dpkg now reports: the plan shown, less the repairs (a package dpkg had left
        unfinished may read differently now: its journal merged, its old version back)."""
        repaired = {c.name for c, _p, _n in self._units if c.unfinished}

        def key(units: List[Tuple[Change, Any, Any]], live: Optional[Sequence[int]]) -> List[Any]:
            return sorted((c.action, c.name, c.arch, c.from_evr, c.to_evr) for c, _p, _n in units
                          if (live is None or c.unit in live) and not c.repair and c.name not in repaired)  # fmt: skip

        shown = key(self._units, self._live)
        fresh = AptSession(self.root, self.request)
        fresh.solve(self._binding)
        if self._live is not None:
            live = [c.unit for c, _p, _n in fresh._units if (c.action, c.name, c.arch, c.from_evr, c.to_evr) in
                    {(c.action, c.name, c.arch, c.from_evr, c.to_evr) for c, _p, _n in self._units if c.unit in self._live}]  # fmt: skip
            fresh.restrict(live)
        if key(fresh._units, fresh._live) != shown:
            raise TransactionError(
                "dpkg finished the packages it had left unfinished, but the plan then differs from the one "
                "shown; the rest of the plan was not applied",
                hint="rerun: spma plans again from the state dpkg is in now",
            )
        return (
            fresh.cache
            if [c for c, _p, _n in fresh._units if fresh._live is None or c.unit in fresh._live]
            else None
        )


class AptBackend:
    name = "apt"

    def __init__(self, *, root: str, statedir: str) -> None:
        self.root = AptRoot(os.path.abspath(root), statedir)

    @contextlib.contextmanager
    def session(self, request: SolveRequest, *, execute: bool = True) -> Iterator[AptSession]:
        yield AptSession(self.root, request, plain=not execute)

    def installed_fingerprint(self) -> str:
        return self.root.installed_fingerprint()

    def unfinished(self) -> Tuple[faults.Unfinished, ...]:
        return tuple(dpkgstate.unfinished(self.root.status()))

    def installed_packages(self) -> List[Tuple[str, str, str]]:
        """(name, arch, version) of every installed package as a plan names them (post-apply
        check): an Architecture: all package as `all`."""
        return sorted(self.root.installed_triples(self.root.status()))

    def quick_inputs(self, request: SolveRequest) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        local = self.root.local_fingerprints(request)
        if local is not None:  # local sources apt holds as they are: no apt update, no python-apt
            return self.root.installed_fingerprint(), local
        self.root.configure(request)
        self.root.update(request)  # no package cache: only the indexes' fingerprints count
        return self.root.installed_fingerprint(), self.root.repo_fingerprints(request)

    def repo_files(self, repositories: Tuple[Repository, ...]) -> RepoFiles:
        """One .list per repository; its keys copied under the root's /etc/apt/keyrings."""
        r = self.root.root
        files = {}
        for repo in repositories:
            keys = []
            if repo.gpgcheck:
                for path in self.root.keys(repo):  # checked to be public keys (spma/keys.py)
                    name = "spma-" + os.path.basename(path)
                    rootfs.copy_file(r, path, os.path.join("etc/apt/keyrings", name))
                    keys.append("/etc/apt/keyrings/" + name)  # as the root sees it
            lines = "".join(source_line(repo, u, keys) for u in repo.baseurls)
            if not repo.enabled:
                # the profile keeps the repository, disabled: the host's own apt must not use it
                lines = "".join("# disabled in the profile: " + ln + "\n" for ln in lines.splitlines())
            files["%s.list" % repo.name] = lines
        # the root's own sources.list feeds its apt too: neutralised along with foreign files
        return RepoFiles(os.path.join(r, "etc/apt/sources.list.d"), (".list", ".sources"), files,
                         main_file=os.path.join(r, "etc/apt/sources.list"))  # fmt: skip

    def apply_local(self, changes: Sequence[Tuple[Change, Optional[str]]], source: str) -> None:
        """Boot: the deferred changes, from the prefetched .debs only (one local source)."""
        if not os.path.exists(os.path.join(source, "Packages")):
            raise RepoError("the packages prefetched for boot are missing from %s" % source)
        local = Repository("spma-boot", ("file://%s" % source,), gpgcheck=False)  # verified when fetched
        cache = self.root.open(SolveRequest(packages=(), repositories=(local,)))
        boot.mark_local(cache, changes)
        execute.commit(cache, self.root.root, os.path.join(self.root.statedir, "log"))


if TYPE_CHECKING:  # mypy checks the class against the core's contract
    from spma.backend import Backend

    _contract: Backend = AptBackend(root="/", statedir="/")
