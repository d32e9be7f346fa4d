"""Unsolvable requests explained in the profile's terms.

A backend reports what its solver found as facts about packages (which dependency nothing
usable satisfies, which two packages conflict), with every package that would satisfy the
dependency if nothing were filtered out. This module, which knows the profile, says which
declaration filtered each of them out (a version pin, an exclude, a repository's excludepkgs,
an errata set), names the profile paths involved, and lists the smallest changes to the profile
that would make the request solvable. It never applies them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from spma.model import ErrataPin, PackageDecl, SolveRequest

SPMA = "/software/components/spma"
MAX_SHOWN = 4  # candidates listed per problem; the rest are counted

SameFn = Callable[[str, str], bool]  # (a package's version, a declared version) -> the same?


@dataclass(frozen=True)
class Pkg:
    """One package as the solver saw it (a backend converts its library object into this)."""

    name: str
    evr: str
    arch: str
    repo: str = ""  # repository id; "@System" for the installed package
    label: str = ""  # how the package manager writes it: foo-1.0-1.noarch, foo=1.0-1:all

    def __str__(self) -> str:
        return self.label or "%s-%s.%s" % (self.name, self.evr, self.arch)

    def where(self) -> str:
        if not self.repo:
            return str(self)
        return "%s (%s)" % (self, "installed" if self.repo == "@System" else "repository %s" % self.repo)


@dataclass(frozen=True)
class Unsatisfied:
    """`pkg` needs `dep` and no package the run may use provides it."""

    pkg: Pkg
    chain: Tuple[str, ...]  # names from the declared package down to pkg.name
    dep: str
    candidates: Tuple[Pkg, ...]  # every package in the repositories providing dep, best first
    # reasons only the backend knows (e.g. "obsoletes an installed package"), by candidate label
    blocked: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Conflict:
    """`pkg` conflicts with `other` (through `dep`); both are needed."""

    pkg: Pkg
    chain: Tuple[str, ...]
    other: Pkg
    other_chain: Tuple[str, ...]
    dep: str
    other_ok: Tuple[Pkg, ...] = ()  # versions of other.name that `dep` does not hit, best first
    pkg_ok: Tuple[Pkg, ...] = ()  # versions of pkg.name that do not conflict with other


@dataclass(frozen=True)
class Problem:
    rule: str
    summary: str
    details: Tuple[str, ...] = ()
    paths: Tuple[str, ...] = ()
    packages: Tuple[str, ...] = ()
    fixes: Tuple[str, ...] = ()

    def to_json(self) -> Dict[str, Any]:
        return {
            "rule": self.rule,
            "summary": self.summary,
            "details": list(self.details),
            "paths": list(self.paths),
            "packages": list(self.packages),
            "fixes": list(self.fixes),
        }


def render(problems: Sequence[Problem]) -> str:
    """dnf's layout: one problem per block, its facts and the possible changes as `- ...` lines."""
    lines: List[str] = []
    for i, p in enumerate(problems, 1):
        lines.append("Problem %d: %s" % (i, p.summary))
        lines.extend("  - %s" % d for d in p.details)
        if p.fixes:
            lines.append("  Changes to the profile that would solve it (none is applied):")
            lines.extend("  - %s" % f for f in p.fixes)
    return "\n".join(lines)


def message(head: str, problems: Sequence[Problem]) -> str:
    return "%s:\n%s" % (head, render(problems))


# -- versions ----------------------------------------------------------------------------------
def same_version(family: str) -> SameFn:
    """Does a package's version match a declared one? The parts the declaration gives must match
    (rpm: a declaration without release matches every release); globs match as globs."""
    from spma.errata.vercmp import deb_cmp, rpm_cmp, split_evr

    def same_rpm(evr: str, declared: str) -> bool:
        if any(c in declared for c in "*?["):
            e, v, r = split_evr(evr)
            return fnmatch.fnmatchcase("%s-%s" % (v, r), declared) or fnmatch.fnmatchcase(
                "%s:%s-%s" % (e, v, r), declared
            )
        he, hv, hr = split_evr(evr)
        de, dv, dr = split_evr(declared)
        if ":" in declared and (he or "0").lstrip("0") != (de or "0").lstrip("0"):
            return False
        if rpm_cmp(hv, dv) != 0:
            return False
        return not dr or rpm_cmp(hr, dr) == 0

    def same_deb(evr: str, declared: str) -> bool:
        if any(c in declared for c in "*?["):
            return fnmatch.fnmatchcase(evr, declared)
        return bool(deb_cmp(evr, declared) == 0)

    return same_deb if family == "deb" else same_rpm


# -- the profile side ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Block:
    kind: str  # pin, exclude, glob, repo-exclude, repo-include, errata, backend
    path: str
    why: str  # "the pin at ... excludes it"
    fix: str  # the change to the profile that lifts this block


Errata = Mapping[str, ErrataPin]  # the errata pins that bind the run (a declared version wins)


class Explainer:
    def __init__(self, request: SolveRequest, same: SameFn, errata: Optional[Errata] = None) -> None:
        self.request = request
        self.same = same
        self.errata = errata or {}
        self.decls = [d for d in request.packages if not d.is_glob]
        self.globs = [d for d in request.packages if d.is_glob and d.versions]

    def decl(self, name: str) -> Optional[PackageDecl]:
        """The declaration of a package name (apt: `name:arch`, declared with or without arch)."""
        base = name.split(":", 1)[0]
        for match in (lambda d: d.name == name, lambda d: d.name == base,
                      lambda d: d.name.split(":", 1)[0] == base):  # fmt: skip
            for d in self.decls:
                if match(d):
                    return d
        return None

    def who(self, chain: Sequence[str], pkg: Pkg) -> Tuple[str, List[str]]:
        """How a package came in, in profile terms, and the paths that says."""
        d = self.decl(chain[0]) if chain else None
        if d is None:
            d = self.decl(pkg.name)
        if d is None:
            return "%s (needed by the installed packages)" % pkg.name, []
        if len(chain) <= 1 or chain[-1] == chain[0]:
            return "`%s` (declared)" % d.where, [d.where]
        return "`%s` (declared) through %s" % (d.where, " -> ".join(chain[1:])), [d.where]

    def blocks(self, c: Pkg, backend_reasons: Dict[str, str]) -> List[_Block]:
        out: List[_Block] = []
        r = self.request
        pinned_here = False
        for d in self.decls:
            if d.name.split(":", 1)[0] == c.name and d.versions:
                pinned_here = True
                if not any(self.same(c.evr, v) for v in d.versions):
                    path = d.version_path(d.versions[0])
                    out.append(_Block("pin", path, "the pin at `%s` (%s %s) excludes it" % (
                        path, d.name, ", ".join(d.versions)),
                        "declare %s %s at `%s` instead of %s" % (c.name, c.evr, d.where, ", ".join(d.versions))))  # fmt: skip
        for i, pat in enumerate(r.excludes):
            if fnmatch.fnmatchcase(c.name, pat):
                path = "%s/excludes/%d" % (SPMA, i)
                out.append(_Block("exclude", path, "`%s` (%r) excludes it" % (path, pat),
                                  "remove %r from `%s`" % (pat, path)))  # fmt: skip
        if not pinned_here:
            for g in self.globs:
                if g.matches_name(c.name) and not any(self.same(c.evr, v) for v in g.versions):
                    out.append(_Block("glob", g.where, "`%s` allows only %s" % (g.where, ", ".join(g.versions)),
                                      "allow %s at `%s`" % (c.evr, g.where)))  # fmt: skip
        for i, repo in enumerate(r.repositories):
            if repo.name != c.repo:
                continue
            for j, pat in enumerate(repo.excludepkgs):
                if fnmatch.fnmatchcase(c.name, pat):
                    path = "/software/repositories/%d/excludepkgs/%d" % (i, j)
                    out.append(_Block("repo-exclude", path, "`%s` (%r) excludes it" % (path, pat),
                                      "remove %r from `%s`" % (pat, path)))  # fmt: skip
            if repo.includepkgs and not any(fnmatch.fnmatchcase(c.name, p) for p in repo.includepkgs):
                path = "/software/repositories/%d/includepkgs" % i
                out.append(_Block("repo-include", path, "`%s` does not list it" % path,
                                  "add %s to `%s`" % (c.name, path)))  # fmt: skip
        if not pinned_here and not any(g.matches_name(c.name) for g in self.globs):
            pin = self.errata.get(c.name)
            if pin is not None and not self.same(c.evr, pin.evr):
                path = "%s/errata" % SPMA
                out.append(_Block("errata", path, "the errata version set requires %s %s" % (c.name, pin.evr),
                                  "declare %s %s at `/software/packages/%s` (a declared version wins over the "
                                  "errata set)" % (c.name, c.evr, _escape(c.name))))  # fmt: skip
        why = backend_reasons.get(str(c))
        if why and not out:
            out.append(_Block("backend", "", why, ""))
        return out

    # -- facts -> problems ---------------------------------------------------------------------
    def unsatisfied(self, f: Unsatisfied) -> Optional[Problem]:
        who, paths = self.who(f.chain, f.pkg)
        details = ["%s requires %s" % (f.pkg.where(), f.dep)]
        packages = [str(f.pkg)]
        removal = self._removal(f.chain, f.pkg)
        if not f.candidates:
            return Problem(
                "missing-provider",
                "%s requires %s, which no enabled repository provides" % (who, f.dep),
                tuple(details + ["nothing in the enabled repositories provides %s" % f.dep]),
                tuple(paths),
                tuple(packages),
                tuple(removal + ["add a repository that provides %s to `/software/repositories`" % f.dep]),
            )
        reasons = dict(f.blocked)
        if any(c.repo == "@System" and not self.blocks(c, reasons) for c in f.candidates):
            return None  # an installed package that may stay provides it: not this problem's cause
        shown: Dict[str, Pkg] = {}
        for c in f.candidates:  # the installed copy of a package the repositories have: once
            if str(c) not in shown or shown[str(c)].repo == "@System":
                shown[str(c)] = c
        f = Unsatisfied(f.pkg, f.chain, f.dep, tuple(shown.values()), f.blocked)
        fixes: List[str] = []
        kinds: List[str] = []
        lead: Optional[_Block] = None
        for i, c in enumerate(f.candidates):
            blocks = self.blocks(c, reasons)
            if i < MAX_SHOWN:
                packages.append(str(c))
                details.append("%s would satisfy it, but %s" % (
                    c.where(), "; ".join(b.why for b in blocks) if blocks else "it cannot be installed with the rest"))  # fmt: skip
            for b in blocks:
                if b.path and b.path not in paths:
                    paths.append(b.path)
                kinds.append(b.kind)
            fix = " and ".join(b.fix for b in blocks if b.fix)
            if blocks and all(b.fix for b in blocks) and fix not in fixes and len(fixes) < 3:
                fixes.append(fix)
            if lead is None and blocks:
                lead = blocks[0]
        if len(f.candidates) > MAX_SHOWN:
            details.append("and %d more packages that provide it" % (len(f.candidates) - MAX_SHOWN))
        kind = kinds[0] if kinds and all(k == kinds[0] for k in kinds) else "blocked"
        rule = {"pin": "pin-requires", "exclude": "exclude-requires", "repo-exclude": "exclude-requires",
                "repo-include": "exclude-requires", "glob": "pin-requires", "errata": "errata-requires"
                }.get(kind, "blocked-requires")  # fmt: skip
        if lead is not None and lead.kind in ("pin", "glob"):
            summary = "`%s` pins %s, but %s requires %s" % (lead.path, self._pinned(lead.path), who, f.dep)
        elif lead is not None and kind != "blocked":
            why = lead.why[:-3] + " every package that provides it" if lead.why.endswith(" it") else lead.why
            summary = "%s requires %s, but %s" % (who, f.dep, why)
        else:
            summary = "%s requires %s, but none of the packages providing it can be installed" % (who, f.dep)
        return Problem(rule, summary, tuple(details), tuple(paths), tuple(packages), tuple(fixes + removal))

    def conflict(self, f: Conflict) -> Problem:
        who_a, paths = self.who(f.chain, f.pkg)
        who_b, paths_b = self.who(f.other_chain, f.other)
        for p in paths_b:
            if p not in paths:
                paths.append(p)
        details = ["%s conflicts with %s" % (f.pkg.where(), f.dep),
                   "%s provides %s" % (f.other.where(), f.dep)]  # fmt: skip
        fixes: List[str] = []
        rule = "conflict"
        summary = "%s and %s cannot be installed together: %s conflicts with %s" % (
            who_a,
            who_b,
            f.pkg,
            f.dep,
        )
        for side, alts in ((f.other, f.other_ok), (f.pkg, f.pkg_ok)):
            for alt in alts[:2]:
                pins = [b for b in self.blocks(alt, {}) if b.kind in ("pin", "glob")]
                if pins and all(b.fix for b in self.blocks(alt, {})):
                    fix = " and ".join(b.fix for b in self.blocks(alt, {}))
                    if fix not in fixes:
                        fixes.append(fix)
                    if rule == "conflict":
                        rule = "pin-conflicts"
                        summary = "`%s` pins %s, but %s conflicts with %s" % (
                            pins[0].path, self._pinned(pins[0].path), who_a if side is f.other else who_b,
                            f.dep if side is f.other else "%s" % f.pkg.name)  # fmt: skip
                        if pins[0].path not in paths:
                            paths.append(pins[0].path)
                    break
        for chain, pkg in ((f.chain, f.pkg), (f.other_chain, f.other)):
            for fix in self._removal(chain, pkg):
                if fix not in fixes:
                    fixes.append(fix)
        return Problem(rule, summary, tuple(details), tuple(paths), (str(f.pkg), str(f.other)), tuple(fixes))

    def _pinned(self, path: str) -> str:
        for d in self.decls + self.globs:
            if (
                path == d.where
                or any(path == p for _v, p in d.version_paths)
                or path.startswith(d.where + "/")
            ):
                return "%s %s" % (d.name, ", ".join(d.versions))
        return path

    def _removal(self, chain: Sequence[str], pkg: Pkg) -> List[str]:
        d = self.decl(chain[0]) if chain else self.decl(pkg.name)
        if d is None:
            return []
        return ["remove `%s`" % d.where]


def _escape(name: str) -> str:
    from spma.pan import escape

    return escape(name)


def explain(
    request: SolveRequest, family: str, facts: Sequence[Any], errata: Optional[Errata] = None
) -> List[Problem]:
    """Problems in the profile's terms, one per fact, in the order the solver found them."""
    ex = Explainer(request, same_version(family), errata)
    out: List[Problem] = []
    seen = set()
    for f in facts:
        p: Optional[Problem] = None
        if isinstance(f, Unsatisfied):
            p = ex.unsatisfied(f)
        elif isinstance(f, Conflict):
            key = tuple(sorted((str(f.pkg), str(f.other))))
            if key in seen:
                continue
            seen.add(key)
            p = ex.conflict(f)
        if p is not None:
            out.append(p)
    return out


def declaration(rule: str, d: PackageDecl, summary: str, *, details: Sequence[str] = (),
                fixes: Sequence[str] = (), packages: Sequence[str] = ()) -> Problem:  # fmt: skip
    """A declaration the repositories cannot satisfy at all (checked before solving)."""
    return Problem(rule, "%s; declared at `%s`" % (summary, d.where), tuple(details), (d.where,),
                   tuple(packages), tuple(fixes))  # fmt: skip


def excluded(request: SolveRequest, family: str, d: PackageDecl, candidates: Sequence[Pkg],
             errata: Optional[Errata] = None) -> Problem:  # fmt: skip
    """A declared package every candidate of which the profile's own filters hide."""
    ex = Explainer(request, same_version(family), errata)
    details: List[str] = []
    paths = [d.where]
    fixes: List[str] = []
    for c in candidates[:MAX_SHOWN]:
        blocks = ex.blocks(c, {})
        details.append("%s: %s" % (c.where(), "; ".join(b.why for b in blocks) or "filtered out"))
        for b in blocks:
            if b.path and b.path not in paths:
                paths.append(b.path)
        fix = " and ".join(b.fix for b in blocks if b.fix)
        if blocks and all(b.fix for b in blocks) and fix not in fixes:
            fixes.append(fix)
    fixes.append("remove `%s`" % d.where)
    return Problem("excluded", "%s: excluded by the profile's or the repository's filters; declared at `%s`" % (d.name, d.where),
                   tuple(details), tuple(paths), tuple(str(c) for c in candidates[:MAX_SHOWN]), tuple(fixes))  # fmt: skip


def solver_text(lines: Sequence[str]) -> Problem:
    """What the solver said, shown as it said it, when no fact could be derived from it."""
    return Problem("solver", "the solver reports:", tuple(lines))
