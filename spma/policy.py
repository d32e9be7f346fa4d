"""Every rule of policy, once, for every backend: reasons and `because` texts, errata binding
(pkg_ronly), the kernel family, errata notes, reboot classification and the safety rules.

Backends report facts (`Change`, `Offer`); this module decides what they mean. Nothing here
imports a package manager, so the whole module is tested on synthetic records.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from spma import faults
from spma.errors import RepoError, ResolveError, SafetyError
from spma.model import Action, Change, ErrataPin, Offer, PackageDecl, Profile

FAMILY = {"dnf": "rpm", "apt": "deb"}

# spma itself and the package manager it drives are never removed (DESIGN §4.4).
PROTECTED_NAMES = {
    "rpm": ("gpg-pubkey", "spma", "python3-spma", "dnf", "python3-dnf", "libdnf", "python3-libdnf",
            "python3-hawkey", "rpm", "python3-rpm", "rpm-libs"),
    "deb": ("apt", "dpkg", "python3-apt", "spma", "python3-spma"),
}  # fmt: skip

# The packages an errata set's kernel version binds, where the repositories offer it.
KERNEL_FAMILY = {"rpm": ("kernel", "kernel-*"), "deb": ()}  # type: Dict[str, Tuple[str, ...]]

DEFAULT_BOOT_ONLY = {
    "rpm": ("glibc*", "systemd*", "dbus*", "kernel*", "linux-firmware*", "microcode_ctl"),
    # binary names, and (matched against each package's source, spma.bootonly) glibc and the kernel
    "deb": (
        "libc6",
        "libc-bin",
        "glibc",
        "systemd*",
        "libsystemd0",
        "udev",
        "libudev1",
        "dbus*",
        "linux-image-*",
        "linux",
        "linux-signed-*",
    ),  # fmt: skip
}

# Changing these on a running host only takes effect at the next boot.
REBOOT_PATTERNS = ("kernel", "kernel-core", "kernel-rt*", "glibc", "glibc-common", "systemd", "systemd-libs",
                   "dbus", "dbus-broker", "dbus-daemon", "linux-firmware", "microcode_ctl", "libc6",
                   "linux-image-*", "udev")  # fmt: skip
# one pattern for all: a plan asks for every one of its actions (fnmatchcase, pattern by pattern,
# was 10 ms of an 800-action plan)
_REBOOT = re.compile("|".join(fnmatch.translate(p) for p in REBOOT_PATTERNS))

REMOVALS = ("remove", "obsolete")


def protected_globs(family: str, whitelist: Sequence[str]) -> Tuple[str, ...]:
    return PROTECTED_NAMES[family] + tuple(whitelist)


def boot_only(profile: Profile, backend: str) -> Tuple[str, ...]:
    """The profile's boot_only globs, or the family's defaults; an empty list disables deferral."""
    if profile.boot_only is not None:
        return profile.boot_only
    return DEFAULT_BOOT_ONLY[FAMILY[backend]]


def needs_reboot(action: str, name: str, suggested: bool = False) -> bool:
    """An advisory that decided the version suggests it, or the package only takes effect at boot."""
    if suggested:
        return True
    if action == "remove":
        return False
    return _REBOOT.match(name) is not None


def nevra(family: str, name: str, evr: Optional[str], arch: str) -> str:
    """How the family's own tools name one installed package."""
    return "%s-%s.%s" % (name, evr, arch) if family == "rpm" else "%s:%s" % (name, arch)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (" and %d more" % (len(names) - 3) if len(names) > 3 else "")


def errata_because(pin: ErrataPin, set_id: Optional[str]) -> str:
    """The `because` of an action an errata set decided: its newest advisories, and the set."""
    advs = list(pin.advisories)
    shown = ", ".join(reversed(advs[-3:])) if advs else "version set"
    if len(advs) > 3:
        shown += " and %d more" % (len(advs) - 3)
    return "%s (errata %s)" % (shown, set_id) if set_id else shown


# -- errata binding ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Binding:
    """The errata pins that bind this run, and those the repositories cannot honour."""

    pins: Mapping[str, ErrataPin]
    unoffered: Tuple[ErrataPin, ...] = ()
    set_id: Optional[str] = None


def errata_candidates(
    pins: Sequence[ErrataPin], kernel: Optional[str], kernel_names: Iterable[str]
) -> Dict[str, ErrataPin]:
    """The set's pins, plus its kernel version for every kernel-family name that offers it."""
    out = {p.name: p for p in pins}
    if kernel:
        for name in sorted(kernel_names):
            out.setdefault(name, ErrataPin(name, kernel, (), ("kernel %s" % kernel,)))
    return out


def bind_errata(
    candidates: Mapping[str, ErrataPin],
    offers: Mapping[str, Offer],
    packages: Sequence[PackageDecl],
    set_id: Optional[str],
) -> Binding:
    """pkg_ronly: a version the profile declares (exactly or through a versioned glob) wins; a
    name the repositories do not carry is no constraint; a set version they lack is an error for
    a declared or installed package, and a note otherwise."""
    pinned = {base_name(d.name) for d in packages if not d.is_glob and d.versions}
    declared = {base_name(d.name) for d in packages if not d.is_glob}
    globs = [d for d in packages if d.is_glob and d.versions]
    out: Dict[str, ErrataPin] = {}
    missing, unoffered = [], []
    for name in sorted(candidates):
        pin = candidates[name]
        offer = offers.get(name)
        if name in pinned or glob_for(name, globs) or offer is None or not offer.available:
            continue
        if offer.has:
            out[name] = pin
        elif name in declared or offer.installed:
            missing.append("%s: errata version %s not in the repositories (available: %s)"
                           % (name, pin.evr, ", ".join(offer.available[-6:])))  # fmt: skip
        else:
            unoffered.append(pin)
    if missing:
        raise ResolveError(
            "the errata version set %s asks for versions the repositories do not offer:\n  %s"
            % (set_id or "", "\n  ".join(missing)),
            hint="point the repositories at a snapshot that has the set's versions, or use an older set",
        )
    return Binding(out, tuple(unoffered), set_id)


def errata_notes(binding: Binding, actions: Sequence[Action]) -> List[str]:
    """A note for each unhonoured pin of a package in the plan; one line for the rest."""
    in_plan = {a.name for a in actions}
    shown = [p for p in binding.unoffered if p.name in in_plan]
    notes = ["errata version %s of %s is not in the repositories; not constrained" % (p.evr, p.name)
             for p in shown]  # fmt: skip
    rest = len(binding.unoffered) - len(shown)
    if rest:
        notes.append("%d more package%s of the errata set %s not in the repositories in the set's version "
                     "and not in this plan; not constrained"
                     % (rest, "" if rest == 1 else "s", "is" if rest == 1 else "are"))  # fmt: skip
    return notes


def obsolete_notes(pairs: Iterable[Tuple[str, str]]) -> List[str]:
    return sorted({"%s would replace %s (obsoletes); not applied because process_obsoletes is false" % p
                   for p in pairs})  # fmt: skip


# -- reasons -----------------------------------------------------------------------------------
def base_name(decl_name: str) -> str:
    """apt's `name:arch` declarations name the package `name`."""
    return decl_name.partition(":")[0]


def glob_for(name: str, globs: Sequence[PackageDecl]) -> Optional[PackageDecl]:
    return next((g for g in globs if g.matches_name(name)), None)


class Explainer:
    """Turns the solver's facts into (reason, because), the same way for every backend."""

    def __init__(self, packages: Sequence[PackageDecl], binding: Binding, userpkgs: bool) -> None:
        self.binding, self.userpkgs = binding, userpkgs
        self._globs = [d for d in packages if d.is_glob and d.versions]
        # the last declaration of a name wins, as in the profile; apt's name:arch form as is
        self._decls = {d.name: d for d in packages if not d.is_glob}

    def _decl(self, c: Change) -> Optional[PackageDecl]:
        return self._decls.get("%s:%s" % (c.name, c.arch)) or self._decls.get(c.name)

    def explain(self, c: Change) -> Tuple[str, str]:
        """A repair of what the package database left unfinished has its own reason; a change
        the plan makes anyway keeps its reason, and its `because` says what was left."""
        if c.repair:
            return faults.INTERRUPTED, faults.words(c.unfinished or "")
        reason, because = self._explain(c)
        if c.unfinished:
            because = "%s; %s" % (because, faults.words(c.unfinished))
        return reason, because

    def _explain(self, c: Change) -> Tuple[str, str]:
        if c.action == "reinstall":
            return "sync", "repository copy differs"
        if c.action == "obsolete":
            return "obsoleted", "obsoleted by %s" % ", ".join(sorted(c.replaces))
        if c.action == "remove":
            return self._removal(c)
        if c.version_move:
            return self._moved(c)
        return self._added(c)

    def _errata(self, c: Change) -> str:
        return errata_because(self.binding.pins[c.name], self.binding.set_id)

    def _moved(self, c: Change) -> Tuple[str, str]:
        d, g = self._decl(c), glob_for(c.name, self._globs)
        if d is not None and d.versions:
            return "declared", "declared pin %s" % ", ".join(d.versions)
        if g is not None:
            return "kernel", "constraint %s = %s" % (g.name, ", ".join(g.versions))
        if c.errata and c.name in self.binding.pins:
            return "errata", self._errata(c)
        if c.needed_by:
            return "dependency", "needed by %s" % c.needed_by
        if c.best:
            return "sync", "repositories offer %s" % c.to_evr
        who = _names(c.required_by)
        return "dependency", "best version installable with the declared pins" + (
            "; required by %s" % who if who else ""
        )

    def _added(self, c: Change) -> Tuple[str, str]:
        d, g = self._decl(c), glob_for(c.name, self._globs)
        who = _names(c.required_by) or "the declared set"
        if c.stands_in_for:
            return "obsoleted", "replaces declared %s (obsoletes)" % _names(sorted(c.stands_in_for))
        if c.replaces:
            return "obsoleted", "replaces %s" % ", ".join(sorted(c.replaces))
        if c.recommended and d is None:
            return "dependency", "recommended by %s" % (_names(c.recommended_by) or "the declared set")
        if d is not None and d.versions:
            return "declared", "declared pin %s" % ", ".join(d.versions)
        if c.errata and c.name in self.binding.pins and g is None:
            return "errata", self._errata(c)
        if c.needed_by and d is None:
            return "dependency", "needed by %s" % c.needed_by
        if d is not None:
            return "declared", "declared"
        return ("kernel" if g is not None else "dependency"), "required by %s" % who

    def _removal(self, c: Change) -> Tuple[str, str]:
        d, g = self._decl(c), glob_for(c.name, self._globs)
        declared = d is not None
        if d is not None and d.arches and c.arch not in d.arches and c.arch not in ("noarch", "all"):
            return "unmanaged", "arch %s not declared (declared: %s)" % (c.arch, ", ".join(d.arches))
        if d is not None and d.versions:
            return "kernel", "version not declared (declared: %s)" % ", ".join(d.versions)
        if g is not None and not declared:
            return "kernel", "outside constraint %s = %s" % (g.name, ", ".join(g.versions))
        if self.userpkgs or declared:
            return "dependency", "in the way of the declared set"
        return "unmanaged", "not declared"

    def action(self, c: Change) -> Action:
        reason, because = self.explain(c)
        pin = self.binding.pins.get(c.name)
        suggested = reason == "errata" and pin is not None and pin.reboot_suggested
        reboot = needs_reboot(c.action, c.name, suggested)
        return Action(c.action, c.name, c.arch, c.from_evr, c.to_evr, reason, because, reboot=reboot,
                      repository=c.repository, size=c.size, installsize=c.installsize)  # fmt: skip


def defer(actions: Sequence[Action], changes: Sequence[Change], deferred: Mapping[int, str]) -> List[Action]:
    """Mark each action with the deferral of its change's unit."""
    # an action already marked as its unit's deferral is kept as is: dataclasses.replace makes a
    # copy through fields() and __init__, for 800 actions a millisecond and more per plan
    return [
        a if (a.deferred, a.defer_reason) == (c.unit in deferred, deferred.get(c.unit))
        else replace(a, deferred=c.unit in deferred, defer_reason=deferred.get(c.unit))
        for a, c in zip(actions, changes)
    ]  # fmt: skip


# -- safety --------------------------------------------------------------------------------------
def check_repo_pins(pins: Mapping[str, Optional[str]], fingerprints: Iterable[Tuple[str, str]]) -> None:
    """A repository whose metadata no longer has the sha256 the profile pins is refused."""
    for name, fp in fingerprints:
        want = pins.get(name)
        if want and fp != "sha256:" + want:
            raise RepoError(
                "repository %s: metadata has %s, the profile pins sha256:%s" % (name, fp, want),
                hint="the mirror no longer serves the pinned snapshot; fix the mirror or the profile",
            )


def safety(profile: Profile, actions: Sequence[Action], protected_removals: Sequence[str]) -> None:
    """The refusals apply makes and plan states: an empty profile that removes, a protected
    package removed, more removals than max_removals."""
    removals = [a for a in actions if a.action == "remove"]
    declared = [d for d in profile.packages if not d.is_glob]
    if not declared and removals:
        raise SafetyError(
            "the profile declares no packages, and applying it would remove %d installed packages"
            % len(removals),
            hint="an empty /software/packages is almost always a broken profile; fix the profile",
        )
    if protected_removals:
        raise SafetyError(
            "the plan would remove protected packages: %s" % ", ".join(protected_removals),
            hint="protected are the whitelist, the running kernel, spma and the package manager; "
            "change the declarations that force their removal",
        )
    if profile.max_removals is not None and len(removals) > profile.max_removals:
        raise SafetyError(
            "the plan removes %d packages, more than max_removals (%d): %s"
            % (len(removals), profile.max_removals, ", ".join(sorted(a.name for a in removals)[:20])),
            hint="review the plan; raise /software/components/spma/max_removals if it is intended",
        )


def protected_removals(family: str, changes: Sequence[Change]) -> List[str]:
    return sorted(nevra(family, c.name, c.from_evr, c.arch) for c in changes
                  if c.protected and c.action in REMOVALS)  # fmt: skip
