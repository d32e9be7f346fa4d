"""The declaration invariant: a plan counts as a success only if the state it ends in meets every
declaration of the profile and every errata constraint that binds.

Backends compute plans with their solvers; this module checks the result from facts alone (the
installed set before the run and the plan's actions), so a solver quirk — apt keeping a package
because an exact-version sibling could not follow, say — is an error naming the declaration,
never a silently ignored pin. Versions are compared by the backend's own rules (`matches`).
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spma.errors import ResolveError
from spma.model import Action, Change, ErrataPin, PackageDecl, SolveRequest

Pkg = Tuple[str, str, str]  # name, arch, evr
Matches = Callable[[str, str], bool]  # (installed evr, declared version) -> same version?

# arches that fit whatever architecture is asked for
_ANY_PKG_ARCH = ("noarch", "all")
_ANY_DECL_ARCH = ("any", "all")


Step = Union[Action, Change]  # anything with action, name, arch, from_evr, to_evr


def final_state(installed: Iterable[Pkg], actions: Sequence[Step]) -> List[Pkg]:
    """The installed set after every action of the plan (deferred ones included: the plan's end)."""
    state: Dict[Tuple[str, str, str], Pkg] = {p: p for p in installed}

    def drop(a: Step) -> None:
        if a.from_evr is None:
            return
        exact = (a.name, a.arch, a.from_evr)
        if exact in state:
            del state[exact]
            return
        # the arch may be spelled differently (apt: "all" vs the native arch) or change on upgrade
        for key in [k for k in state if k[0] == a.name and k[2] == a.from_evr][:1]:
            del state[key]

    for a in actions:
        if a.action in ("remove", "obsolete"):
            drop(a)
        elif a.action in ("upgrade", "downgrade", "reinstall"):
            drop(a)
            if a.to_evr is not None:
                state[(a.name, a.arch, a.to_evr)] = (a.name, a.arch, a.to_evr)
        elif a.action == "install" and a.to_evr is not None:
            state[(a.name, a.arch, a.to_evr)] = (a.name, a.arch, a.to_evr)
    return sorted(state.values())


def _arch_ok(pkg_arch: str, want: Optional[str]) -> bool:
    return want is None or want in _ANY_DECL_ARCH or pkg_arch == want or pkg_arch in _ANY_PKG_ARCH


def _split(d: PackageDecl) -> Tuple[str, Tuple[Optional[str], ...]]:
    """(name, arches) of a declaration; `name:arch` (Debian multiarch) names its arch itself."""
    name, _, arch = d.name.partition(":")
    if arch:
        return name, (arch,)
    return name, tuple(d.arches) or (None,)


def _running(p: Pkg, running_kernel: Optional[str]) -> bool:
    """The running kernel is never moved nor removed: it is exempt from version constraints."""
    if not running_kernel:
        return False
    name, arch, evr = p
    vr = evr.split(":", 1)[1] if ":" in evr else evr
    if name == "linux-image-%s" % running_kernel:
        return True
    return name.startswith("kernel") and running_kernel in ("%s.%s" % (vr, arch), vr)


def violations(request: SolveRequest, final: Sequence[Pkg], matches: Matches, errata: Sequence[ErrataPin] = (),
               errata_id: Optional[str] = None) -> List[str]:  # fmt: skip
    """Every declaration and binding errata pin (the core's binding: a pin the sources cannot
    satisfy for a package nobody has does not bind) the final state does not meet, in words."""
    out: List[str] = []
    by_name: Dict[str, List[Pkg]] = {}
    for p in final:
        by_name.setdefault(p[0], []).append(p)

    def shown(pkgs: Sequence[Pkg]) -> str:
        return ", ".join("%s %s" % (p[2], p[1]) for p in pkgs) if pkgs else "nothing"

    pinned_names = set()
    globs = []
    for d in request.packages:
        if d.is_glob:
            if d.versions:
                globs.append(d)
            continue
        name, arches = _split(d)
        if d.versions:
            pinned_names.add(name)
        for arch in arches:
            here = [p for p in by_name.get(name, []) if _arch_ok(p[1], arch)]
            what = name if arch in (None,) + _ANY_DECL_ARCH else "%s (%s)" % (name, arch)
            if not here and not d.versions and request.process_obsoletes:
                continue  # an obsoleting package may stand for the name: only the metadata says which
            if not here:
                out.append("%s: declared, but the plan leaves it not installed" % what)
                continue
            if not d.versions:
                continue
            for v in d.versions:
                if not any(matches(p[2], v) for p in here):
                    out.append("%s: declared version %s, but the plan ends with %s" % (what, v, shown(here)))
            extra = [p for p in here if not any(matches(p[2], v) for v in d.versions)
                     and not _running(p, request.running_kernel)]  # fmt: skip
            if extra and all(any(matches(p[2], v) for p in here) for v in d.versions):
                out.append("%s: declared version %s only, but the plan also keeps %s"
                           % (what, ", ".join(d.versions), shown(extra)))  # fmt: skip
    for g in globs:
        for p in final:
            if p[0] in pinned_names:
                continue  # a version declared for the exact name wins over a glob constraint
            if (g.matches_name(p[0]) and any(_arch_ok(p[1], a) for a in (tuple(g.arches) or (None,)))
                    and not any(matches(p[2], v) for v in g.versions)
                    and not _running(p, request.running_kernel)):  # fmt: skip
                out.append("%s %s (%s): outside the declared constraint %s = %s"
                           % (p[0], p[2], p[1], g.name, ", ".join(g.versions)))  # fmt: skip
    for pin in errata:
        if pin.name in pinned_names or any(g.matches_name(pin.name) for g in globs):
            continue  # a declaration wins over the version set
        for p in by_name.get(pin.name, []):
            if pin.arches and not any(_arch_ok(p[1], a) for a in pin.arches):
                continue
            if not matches(p[2], pin.evr):
                out.append("%s: the errata version set%s requires %s, but the plan ends with %s"
                           % (pin.name, " " + errata_id if errata_id else "", pin.evr, shown([p])))  # fmt: skip
    return out


def check(request: SolveRequest, installed: Iterable[Pkg], actions: Sequence[Step], matches: Matches,
          errata: Sequence[ErrataPin] = (), errata_id: Optional[str] = None) -> None:  # fmt: skip
    """Raise ResolveError (exit 4) naming each declaration the planned final state does not meet."""
    bad = violations(request, final_state(installed, actions), matches, errata, errata_id)
    if bad:
        raise ResolveError(
            "the solver's plan does not meet the profile:\n  " + "\n  ".join(bad),
            hint="nothing was changed; change the declarations named above, or point the repositories at a "
            "snapshot where they fit together (a pin may need its exact-version siblings in the same snapshot)",
        )
