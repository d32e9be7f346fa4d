"""dnf backend: libdnf/hawkey through the dnf Python API, never the dnf command.

Mechanism only: it loads a root and its repositories (base), builds and runs the one goal of
the desired state (goal), reports the solved changes as facts (facts), answers the deferral's
questions and runs the boot transaction (boot), and executes a goal (execute). Every rule of
policy — reasons, errata binding, protection, deferral, safety — is the core's.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from spma import faults
from spma.backend import ProgressFn, RepoFiles
from spma.errors import RepoError, ResolveError
from spma.model import Change, ErrataPin, Need, Offer, Repository, SolveFacts, SolveRequest

from . import boot, duplicates, execute, facts, goal, nextrun, prune, sack
from .base import Root, evr, render_repo, repo_fingerprints, version_matches


class _EVR:
    """A version spelled as the plan spells it ([E:]V-R), for version_matches."""

    def __init__(self, spelled: str) -> None:
        epoch, _, vr = spelled.rpartition(":")
        self.epoch = int(epoch) if epoch.isdigit() else 0
        self.version, _, self.release = vr.rpartition("-") if "-" in vr else (vr, "", "")


def create(*, root: str, statedir: str) -> DnfBackend:
    return DnfBackend(root=root, statedir=statedir)


class DnfSession:
    """One filled sack; `solve` then the deferral's questions, prefetch and execute."""

    def __init__(self, root: Root, base: Any, request: SolveRequest) -> None:
        self.root, self.base, self.request = root, base, request
        self.installed_fingerprint = root.installed_fingerprint()
        self.repo_fingerprints = repo_fingerprints(base, request)
        self._units: List[Tuple[Optional[Any], List[Any]]] = []
        self._goal: Optional[Any] = None

    def offers(self, pins: Sequence[Tuple[str, str]]) -> Dict[str, Offer]:
        avail = self.base.sack.query().available()
        installed = {p.name for p in self.base.sack.query().installed()}
        out = {}
        for name, want in pins:
            of_name = avail.filter(name=name)
            out[name] = Offer(tuple(sorted({evr(p) for p in of_name})),
                              any(version_matches(p, want) for p in of_name), name in installed)  # fmt: skip
        return out

    def offering(self, patterns: Sequence[str], want: str) -> Tuple[str, ...]:
        avail = self.base.sack.query().available().filter(name__glob=list(patterns))
        return tuple(sorted({p.name for p in avail if version_matches(p, want)}))

    def solve(self, binding: Mapping[str, ErrataPin]) -> SolveFacts:
        desired = goal.Desired(self.base, self.request, binding)
        desired.copies = duplicates.copies(desired.installed, duplicates.find(self.root))
        solved = desired.solve()
        self._goal = solved
        final = desired.final(solved)
        problems = prune.fixpoint_problems(
            solved, final, desired.q, desired.decls, self.request.process_obsoletes
        ) + nextrun.problems(desired, solved)
        if problems:
            raise ResolveError(
                "the plan would not converge (the next run would change the host again):\n  "
                + "\n  ".join(problems),
                hint="nothing was changed; this is a gap in spma's translation of the profile into one "
                "solve: report it with the profile and `spma plan --format json --debug` output",
            )
        f = facts.Facts(
            solved,
            final,
            desired.available,
            binding,
            desired.keep,
            desired.leftovers,
            declared=desired.declared_names,
        )
        self._units = f.units
        would = (
            () if self.request.process_obsoletes else facts.would_obsolete(self.base.sack, desired.installed)
        )
        installed = tuple(sorted((p.name, p.arch, evr(p)) for p in desired.installed))
        return SolveFacts(tuple(f.changes()), tuple(would), installed=installed)

    def version_matches(self, evr: str, spec: str) -> bool:
        return version_matches(_EVR(evr), spec)

    def unmet(self, live: Sequence[int], deferred: Sequence[int]) -> List[Need]:
        return boot.unmet(self.base.sack, self._units, live, deferred)

    def restrict(self, live: Sequence[int]) -> bool:
        import hawkey

        self._goal = boot.live_goal(self.base.sack, [self._units[i] for i in live])
        if self._goal is None:
            self._goal = hawkey.Goal(self.base.sack)
            return False
        return True

    def _transacting(self) -> None:
        if isinstance(self.base, sack.Cached):
            raise RuntimeError("a session opened with execute=False only plans")

    def prefetch(self, changes: Sequence[Change], dest: str) -> List[Optional[str]]:
        self._transacting()
        return boot.prefetch(self.root, self.base, self._units, changes, dest)

    def execute(self, progress: Optional[ProgressFn] = None) -> None:
        if self._goal is None:
            raise RuntimeError("execute() needs a solve() first")
        self._transacting()
        execute.execute(self.root, self.base, self._goal, progress, lambda: duplicates.find(self.root))


class DnfBackend:
    name = "dnf"

    def __init__(self, *, root: str, statedir: str) -> None:
        self.root = Root(os.path.abspath(root), statedir)

    @contextlib.contextmanager
    def session(self, request: SolveRequest, *, execute: bool = True) -> Iterator[DnfSession]:
        # a plan reads its sack from dnf's cache when it can (sack.py): no dnf.Base, no import of dnf
        base = None if execute else sack.load(self.root, request)
        if base is None:
            base = self.root.load(request)
        try:
            yield DnfSession(self.root, base, request)
        finally:
            base.close()

    def installed_fingerprint(self) -> str:
        return self.root.installed_fingerprint()

    def unfinished(self) -> Tuple[faults.Unfinished, ...]:
        return duplicates.find(self.root)

    def installed_packages(self) -> List[Tuple[str, str, str]]:
        """(name, arch, evr) of every installed package, as a plan names them (post-apply check)."""
        return self.root.installed_packages()

    def quick_inputs(self, request: SolveRequest) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        """The installed and repository fingerprints without building a sack or solving: the
        agent's no-op check. Loading a repository re-checks its repomd.xml (cheap when unchanged)."""
        local = _local_repo_fingerprints(request)
        if local is not None:  # nothing to download: the no-op check never imports dnf (~0.2 s)
            return self.root.installed_fingerprint(), local
        import dnf.exceptions

        from .problems import dnf_warnings, failed_repo, repo_failure

        base = self.root.make_base(request)
        try:
            with dnf_warnings() as said:
                for r in base.repos.iter_enabled():
                    r.load()
            return self.root.installed_fingerprint(), repo_fingerprints(base, request)
        except dnf.exceptions.RepoError as e:
            raise RepoError(repo_failure(failed_repo(base, request), str(e), said)) from e
        finally:
            base.close()

    def repo_files(self, repositories: Tuple[Repository, ...]) -> RepoFiles:
        return RepoFiles(
            os.path.join(self.root.root, "etc/yum.repos.d"),
            (".repo",),
            {"%s.repo" % r.name: render_repo(r) for r in repositories},
        )

    def apply_local(self, changes: Sequence[Tuple[Change, Optional[str]]], source: str) -> None:
        boot.apply_local(self.root, changes, source)


def _local_repo_fingerprints(request: SolveRequest) -> Optional[Tuple[Tuple[str, str], ...]]:
    """What `repo_fingerprints` reports after dnf loaded them, read in place, when every enabled
    repository is one plain file:// URL (no dnf variables) with its repomd.xml there; else None."""
    import hashlib
    from urllib.parse import unquote, urlsplit

    out = []
    for repo in request.repositories:
        if not repo.enabled:
            continue
        if len(repo.baseurls) != 1 or "$" in repo.baseurls[0]:
            return None
        url = urlsplit(repo.baseurls[0])
        if url.scheme != "file" or url.netloc not in ("", "localhost"):
            return None
        try:
            with open(os.path.join(unquote(url.path), "repodata", "repomd.xml"), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return None  # dnf's own load reports it
        out.append((repo.name, "sha256:" + digest))
    return tuple(sorted(out))


if TYPE_CHECKING:  # mypy checks the class against the core's contract
    from spma.backend import Backend

    _contract: Backend = DnfBackend(root="/", statedir="/")
