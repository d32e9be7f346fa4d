"""Facts about an apt request that cannot be satisfied, for spma.explain.

apt's resolver says little more than "held broken packages"; the depcache knows which version of
each package this run would use (spma set the candidates: declared versions, errata, snapshot).
Walking the dependencies of the declared packages over those versions finds each dependency no
usable version satisfies (with every version that would, for the profile side to explain) and
each conflict between two versions the run needs."""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from spma.backend import ProgressFn
from spma.errors import ResolveError
from spma.model import ErrataPin, PackageDecl, Repository, SolveRequest

if TYPE_CHECKING:
    from spma.explain import Pkg

from .sources import apt_uri

MAX_NAMES = 5000


def pkg(v: Any) -> Pkg:
    # spma.explain (its dataclasses) only when something fails: every plan opens the cache
    # through fetch_failures below, a resolving one never explains
    from spma.explain import Pkg

    p = v.parent_pkg
    return Pkg(p.name, v.ver_str, v.arch, "", "%s=%s:%s" % (p.name, v.ver_str, v.arch))


def _key(v: Any) -> Tuple[str, str, str]:
    return (v.parent_pkg.name, v.parent_pkg.architecture, v.ver_str)


def _best_first(vers: Iterable[Any]) -> List[Any]:
    import apt_pkg

    def cmp(a: Any, b: Any) -> int:
        return int(apt_pkg.version_compare(a.ver_str, b.ver_str)) or (
            a.parent_pkg.name > b.parent_pkg.name
        ) - (a.parent_pkg.name < b.parent_pkg.name)

    return sorted(vers, key=functools.cmp_to_key(cmp), reverse=True)


def _dep_str(group: List[Any]) -> str:
    out = []
    for d in group:
        s = d.target_pkg.name
        if d.target_ver:
            s += " (%s %s)" % (d.comp_type, d.target_ver)
        out.append(s)
    return " | ".join(out)


def facts(
    dep: Any, roots: List[Any], fixed: Dict[Tuple[str, str], Any], excludes: Sequence[str] = ()
) -> List[Any]:
    """`roots`: the declared packages (apt_pkg.Package); `fixed`: the version spma chose for a
    package (declared versions, errata), by (name, arch). apt's resolver resets the candidate of
    a package it gave up on, so the rest fall back to apt's policy. A package the profile
    excludes can only stay as installed."""
    from spma.explain import Unsatisfied

    def used(p: Any) -> Optional[Any]:
        if (p.name, p.architecture) not in fixed and any(fnmatch.fnmatchcase(p.name, x) for x in excludes):
            return p.current_ver
        v = fixed.get((p.name, p.architecture))
        return v or dep.get_candidate_ver(p) or dep.policy.get_candidate_ver(p)

    chains: Dict[Tuple[str, str], Tuple[str, ...]] = {}
    wanted: Dict[Tuple[str, str], Any] = {}
    todo: List[Any] = []
    for p in roots:
        k = (p.name, p.architecture)
        if k not in chains and used(p) is not None:
            chains[k] = ("%s:%s" % k,)
            todo.append(p)
    out: List[Any] = []
    while todo and len(chains) < MAX_NAMES:
        p = todo.pop(0)
        v = used(p)
        k = (p.name, p.architecture)
        if v is None:
            continue
        wanted[k] = v
        for group in v.depends_list.get("PreDepends", []) + v.depends_list.get("Depends", []):
            targets = [t for d in group for t in d.all_targets()]
            ok = [
                t for t in targets if used(t.parent_pkg) is not None and _key(used(t.parent_pkg)) == _key(t)
            ]
            if not ok:
                cands = _best_first(t for t in targets if t.downloadable)
                out.append(Unsatisfied(pkg(v), chains[k], _dep_str(group), tuple(pkg(c) for c in cands)))
                continue
            q = ok[0].parent_pkg
            qk = (q.name, q.architecture)
            if qk not in chains:
                chains[qk] = chains[k] + (q.name,)
                todo.append(q)
    out.extend(_conflicts(wanted, chains))
    return out


def _conflicts(
    wanted: Dict[Tuple[str, str], Any], chains: Dict[Tuple[str, str], Tuple[str, ...]]
) -> List[Any]:
    """Each conflict between two versions the run needs, with the versions that would not conflict."""
    from spma.explain import Conflict

    out: List[Any] = []
    for k, v in wanted.items():
        for kind in ("Conflicts", "Breaks"):
            for group in v.depends_list.get(kind, []):
                for d in group:
                    for t in d.all_targets():
                        tk = (t.parent_pkg.name, t.parent_pkg.architecture)
                        if tk == k or tk not in wanted or _key(wanted[tk]) != _key(t):
                            continue
                        hit = {_key(x) for x in d.all_targets()}
                        other_ok = [
                            x for x in t.parent_pkg.version_list if x.downloadable and _key(x) not in hit
                        ]
                        mine_ok = [
                            x for x in v.parent_pkg.version_list if x.downloadable and not _hits(x, t)
                        ]
                        out.append(Conflict(pkg(v), chains[k], pkg(t), chains[tk], _dep_str([d]),
                                            tuple(pkg(x) for x in _best_first(other_ok)),
                                            tuple(pkg(x) for x in _best_first(mine_ok))))  # fmt: skip
    return out


def _hits(v: Any, t: Any) -> bool:
    for kind in ("Conflicts", "Breaks"):
        for group in v.depends_list.get(kind, []):
            for d in group:
                if any(_key(x) == _key(t) for x in d.all_targets()):
                    return True
    return False


# -- repository failures: which source, which URL, and apt's own error for it ------------------
def fetch_failures(progress: Optional[ProgressFn] = None, base: Any = None) -> Any:
    """An acquire progress that keeps each failed download with apt's error text, and reports
    each finished file (name and bytes) to `progress` when given. On python-apt's
    AcquireProgress, or on `base` (a plan's: backends/apt/plaincache.py).

    Built on call: importing `apt` reads the host's apt configuration, which must not happen
    before spma has set up its private one (backends/apt/config.py)."""
    if base is None:
        import apt.progress.base

        base = apt.progress.base.AcquireProgress

    class FetchFailures(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.failed: List[Tuple[str, str]] = []
            self.finished = 0
            self.items = 0

        def pulse(self, owner: Any) -> bool:
            self.items = len(owner.items)
            return True

        def done(self, item: Any) -> None:
            if progress is not None:
                self.finished += 1
                size = getattr(item.owner, "filesize", 0) or None
                progress("download", self.finished, max(self.items, self.finished), item.shortdesc, size)

        def fail(self, item: Any) -> None:
            owner = item.owner
            if owner.status in (owner.STAT_DONE, owner.STAT_IDLE):
                return  # an optional index (InRelease before Release, ...) apt recovered from
            if len(self.failed) < 20:
                self.failed.append((item.uri, (owner.error_text or "").strip()))

    return FetchFailures()


def _named_in(url: str, text: str) -> bool:
    """Does apt's error text name this source: its URI, or its lists file name (gpgv names the
    file in lists/partial/)?"""
    import apt_pkg

    uri = apt_uri(url).rstrip("/")
    return uri in text or apt_pkg.uri_to_filename(uri + "/") in text


def repo_failure(repos: Sequence[Repository], failed: Sequence[Tuple[str, str]], error: str,
                 head: str = "apt sources could not be updated") -> str:  # fmt: skip
    last: Dict[str, Tuple[str, str]] = {}
    for uri, text in failed:
        # apt tries each compression of an index in turn: one line per index, its last error
        base = re.sub(r"\.(xz|bz2|lzma|gz|lz4|zst)$", "", uri)
        last.pop(base, None)
        last[base] = (base, text)
    lines = []
    for uri, text in last.values():
        repo = next((r for r in repos for u in r.baseurls
                     if uri.startswith(apt_uri(u).rstrip("/")) or _named_in(u, uri)), None)  # fmt: skip
        where = "repository %s (%s)" % (repo.name, uri) if repo else uri
        lines.append("%s: %s" % (where, text or "download failed"))
    if not lines:
        # no download failed (a signature check did, say): the repositories the error names
        text = error.strip() or "apt failed without saying why (rerun with --debug)"
        named = [r.name for r in repos if any(_named_in(u, text) for u in r.baseurls)]
        lines = ["repository %s: %s" % (", ".join(named), text) if named else text]
    return head + ":" + "".join("\n  " + ln for ln in lines)


def declaration_error(decls: Sequence[PackageDecl], texts: Sequence[str], request: SolveRequest,
                      hidden: Dict[str, List[Pkg]], binding: Mapping[str, ErrataPin]) -> ResolveError:  # fmt: skip
    """The declarations the sources cannot satisfy; each text reads "name: what is wrong"."""
    from spma import explain, pan

    by_name = {d.name: d for d in decls}
    out = []
    for text in texts:
        name, _, what = text.partition(": ")
        d = by_name.get(name)
        if d is None:
            out.append(explain.Problem("declaration", text))
        elif hidden.get(name):
            out.append(explain.excluded(request, "deb", d, hidden[name], binding))
        elif " is not a package name; provided by " in what:
            fixes = ["declare %s at `/software/packages/%s` instead of `%s`" % (n, pan.escape(n), d.where)
                     for n in what.rsplit(" by ", 1)[1].split(", ")[:3]]  # fmt: skip
            out.append(explain.declaration("provided-by", d, what, fixes=fixes))
        else:
            out.append(explain.declaration("declaration", d, text))
    return ResolveError(
        explain.message("the profile declares packages the sources cannot provide", out),
        hint="fix the declarations or point the sources at a snapshot that has them",
        problems=[p.to_json() for p in out],
    )
