"""Facts about an unsolvable dnf goal, for spma.explain: the packages libsolv reports as broken or
conflicting (hawkey's structured problem lists, not its text), each dependency nothing usable
provides, and every package that would provide it with the run's excludes ignored."""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from spma.explain import Conflict, Pkg, Unsatisfied
from spma.model import Repository, SolveRequest

MAX_CHAIN_NAMES = 5000


def pkg(p: Any) -> Pkg:
    evr = "%d:%s-%s" % (p.epoch, p.version, p.release) if p.epoch else "%s-%s" % (p.version, p.release)
    return Pkg(p.name, evr, p.arch, p.reponame, str(p))


def _providers(q: Any, req: Any) -> List[Any]:
    return _lookup(q, req) or []


def _lookup(q: Any, req: Any) -> Optional[List[Any]]:
    """What provides `req` in `q`; None when libsolv cannot filter on it (rich dependencies)."""
    try:
        found = list(q.filter(provides=req))
        if not found and str(req).startswith("/"):  # a file dependency: any package shipping it
            found = list(q.filter(file=str(req)))
        return found
    except Exception:  # noqa: BLE001 - rich dependencies libsolv cannot filter on: no fact
        return None


def _cmp(a: Any, b: Any) -> int:
    return int(a.evr_cmp(b)) or (a.name > b.name) - (a.name < b.name)


def _best_first(pkgs: Iterable[Any]) -> List[Any]:
    return sorted(pkgs, key=functools.cmp_to_key(_cmp), reverse=True)


def _chains(q: Any, roots: Sequence[str]) -> Dict[str, Optional[str]]:
    """name -> the name that pulls it in, breadth-first from the declared names."""
    parent: Dict[str, Optional[str]] = {n: None for n in roots}
    frontier = list(roots)
    while frontier and len(parent) < MAX_CHAIN_NAMES:
        nxt: List[str] = []
        for p in q.filter(name=sorted(set(frontier))):
            for req in p.requires:
                for prov in _providers(q, req):
                    if prov.name not in parent:
                        parent[prov.name] = p.name
                        nxt.append(prov.name)
        frontier = nxt
    return parent


def _chain(parent: Dict[str, Optional[str]], name: str) -> Tuple[str, ...]:
    out = [name]
    seen = {name}
    cur = parent.get(name)
    while cur is not None and cur not in seen:
        out.append(cur)
        seen.add(cur)
        cur = parent.get(cur)
    return tuple(reversed(out))


def facts(goal: Any, request: SolveRequest) -> List[Any]:
    import hawkey

    sack = goal.sack
    q = sack.query()  # what this run may use: the excludes applied
    everything = sack.query(flags=hawkey.IGNORE_EXCLUDES)
    avail_all = everything.available()
    installed = q.installed()
    parent = _chains(q, [d.name for d in request.packages if not d.is_glob])
    out: List[Any] = []
    reasons: Dict[str, str] = {}
    if not request.process_obsoletes:
        for o in avail_all.filter(obsoletes=installed):
            reasons[str(o)] = "it obsoletes an installed package, and process_obsoletes is false"
    for p in goal.problem_broken_dependency():
        for req in p.requires:
            # rpmlib() features are the rpm's own, never provided by a package
            if str(req).startswith("rpmlib("):
                continue
            usable = _lookup(q, req)
            if usable is None or [x for x in usable if x.reponame != hawkey.SYSTEM_REPO_NAME]:
                continue  # an available package provides it: if that one is broken, that is its own fact
            # installed providers may be on their way out (a pin moves them): the profile side decides
            cands = _best_first(_providers(everything, req))
            out.append(Unsatisfied(pkg(p), _chain(parent, p.name), str(req), tuple(pkg(c) for c in cands),
                                   tuple((str(c), reasons[str(c)]) for c in cands if str(c) in reasons)))  # fmt: skip
    conflicting = list(goal.problem_conflicts())
    for p in conflicting:
        for o in conflicting:
            if o == p:
                continue
            one = everything.filter(pkg=[o])
            for c in p.conflicts:
                if not _providers(one, c):
                    continue
                other_ok = [x for x in avail_all.filter(name=o.name, arch=o.arch) if not _providers(
                    everything.filter(pkg=[x]), c)]  # fmt: skip
                pkg_ok = [x for x in avail_all.filter(name=p.name, arch=p.arch)
                          if not any(_providers(one, xc) for xc in x.conflicts)]  # fmt: skip
                out.append(Conflict(pkg(p), _chain(parent, p.name), pkg(o), _chain(parent, o.name), str(c),
                                    tuple(pkg(x) for x in _best_first(other_ok)),
                                    tuple(pkg(x) for x in _best_first(pkg_ok))))  # fmt: skip
    return out


# -- repository failures: which repository, which URL, and what the download said --------------
class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg not in self.said and len(self.said) < 20:
            self.said.append(msg)


@contextlib.contextmanager
def dnf_warnings() -> Iterator[List[str]]:
    """What dnf warns while loading metadata (librepo's curl errors, per mirror), kept for the
    error message instead of printed: the CLI shows dnf's own log only with --debug."""
    log = logging.getLogger("dnf")
    keep = _Keep()
    saved = (log.handlers[:], log.level, log.propagate)
    log.handlers[:] = [keep]
    log.setLevel(logging.WARNING)
    log.propagate = False
    try:
        yield keep.said
    finally:
        log.handlers[:], level, log.propagate = saved[0], saved[1], saved[2]
        log.setLevel(level)


def failed_repo(base: Any, request: SolveRequest) -> Optional[Repository]:
    """The profile repository whose metadata did not load: dnf loads them in order and stops at
    the first failure."""
    for repo in request.repositories:
        if not repo.enabled:
            continue
        try:
            loaded = bool(base.repos[repo.name]._repo.getMetadataPath("primary"))
        except Exception:  # noqa: BLE001 - libdnf raises its own types for unloaded repos
            loaded = False
        if not loaded:
            return repo
    return None


def repo_failure(repo: Optional[Repository], error: str, said: Sequence[str]) -> str:
    head = "repository metadata could not be loaded"
    if repo is not None:
        head = "repository %s (%s): metadata could not be loaded" % (repo.name, ", ".join(repo.baseurls))
    lines = [ln.rstrip() for msg in said for ln in msg.splitlines() if ln.strip()]
    return "%s: %s%s" % (head, error or "no reason given", "".join("\n  " + ln.strip() for ln in lines))


def download_failure(pkgs: Sequence[Any], error: str, said: Sequence[str]) -> str:
    """What failed to download: dnf's error, each package of a local repository whose file is
    missing, and what dnf warned (curl's errors per package)."""
    import os

    lines = []
    for p in pkgs:
        try:
            local = p.localPkg() if p.reponame and _is_local(p) else ""
        except Exception:  # noqa: BLE001 - libdnf raises its own types
            local = ""
        if local and not os.path.exists(local):
            lines.append("%s (repository %s): %s is missing" % (p, p.reponame, local))
    lines += [ln.strip() for msg in said for ln in msg.splitlines() if ln.strip()]
    return "downloading packages failed, nothing was changed: %s%s" % (
        error or "no reason given",
        "".join("\n  " + ln for ln in lines[:20]),
    )


def _is_local(p: Any) -> bool:
    repo = getattr(p, "repo", None)
    return bool(repo is not None and repo._repo.isLocal())
