"""The pure tier: every rule of spma.policy on synthetic facts, no package manager."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from spma.errors import RepoError, ResolveError, SafetyError
from spma.model import Action, Change, ErrataPin, Offer, PackageDecl, Profile
from spma.policy import (
    Binding,
    Explainer,
    bind_errata,
    check_repo_pins,
    errata_candidates,
    errata_notes,
    needs_reboot,
    obsolete_notes,
    protected_removals,
    safety,
)

D = PackageDecl
PIN = ErrataPin("foo", "1.1-1", (), ("A-1", "A-2", "A-3", "A-4"), reboot_suggested=True)
PACKAGES = (D("bar"), D("pinned", ("2.0-1",)), D("multi", (), ("x86_64",)), D("kernel*", ("6.1-1",)))


def ch(action: str, name: str, frm: Any = "1.0-1", to: Any = "2.0-1", **kw: Any) -> Change:
    return Change(action, name, kw.pop("arch", "noarch"), frm, to, 0, **kw)


EX = Explainer(PACKAGES, Binding({"foo": PIN}, set_id="set-1"), userpkgs=False)

# (change, reason, because)
TABLE = [
    (ch("reinstall", "x", "1-1", "1-1"), "sync", "repository copy differs"),
    (ch("obsolete", "old", to=None, replaces=("new-1-1.noarch",)), "obsoleted", "obsoleted by new-1-1.noarch"),
    (ch("remove", "stray", to=None), "unmanaged", "not declared"),
    (ch("remove", "bar", to=None), "dependency", "in the way of the declared set"),
    (ch("remove", "pinned", to=None), "kernel", "version not declared (declared: 2.0-1)"),
    (ch("remove", "kernel-core", to=None), "kernel", "outside constraint kernel* = 6.1-1"),
    (ch("remove", "multi", to=None, arch="i686"), "unmanaged", "arch i686 not declared (declared: x86_64)"),
    (ch("upgrade", "pinned", version_move=True), "declared", "declared pin 2.0-1"),
    (ch("upgrade", "kernel-core", version_move=True, best=False), "kernel", "constraint kernel* = 6.1-1"),
    (ch("downgrade", "foo", version_move=True, errata=True), "errata", "A-4, A-3, A-2 and 1 more (errata set-1)"),
    (ch("upgrade", "foo", version_move=True, errata=False), "sync", "repositories offer 2.0-1"),
    (ch("upgrade", "lib", version_move=True, best=False, required_by=("a", "b", "c", "d", "e")), "dependency",
     "best version installable with the declared pins; required by a, b, c and 2 more"),
    (ch("upgrade", "lib", version_move=True, best=False), "dependency", "best version installable with the declared pins"),
    (ch("install", "new", None, replaces=("old-1-1.noarch",)), "obsoleted", "replaces old-1-1.noarch"),
    (ch("install", "pinned", None), "declared", "declared pin 2.0-1"),
    (ch("install", "foo", None, errata=True), "errata", "A-4, A-3, A-2 and 1 more (errata set-1)"),
    (ch("install", "bar", None), "declared", "declared"),
    (ch("install", "kernel-core", None, required_by=("kernel",)), "kernel", "required by kernel"),
    (ch("install", "lib", None, required_by=("app",)), "dependency", "required by app"),
    (ch("install", "lib", None), "dependency", "required by the declared set"),
]  # fmt: skip


@pytest.mark.parametrize("change,reason,because", TABLE)
def test_reasons(change: Change, reason: str, because: str) -> None:
    assert EX.explain(change) == (reason, because)


def test_userpkgs_removals_are_in_the_way_and_apt_name_arch_declarations() -> None:
    ex = Explainer((D("foo:i386"),), Binding({}), userpkgs=True)
    assert ex.explain(ch("remove", "stray", to=None)) == ("dependency", "in the way of the declared set")
    assert ex.explain(ch("install", "foo", None, arch="i386")) == ("declared", "declared")


def test_reboot_suggested_only_when_the_errata_set_decided() -> None:
    assert EX.action(ch("downgrade", "foo", version_move=True, errata=True)).reboot
    assert not EX.action(ch("upgrade", "foo", version_move=True)).reboot
    assert EX.action(ch("upgrade", "glibc", version_move=True)).reboot


@pytest.mark.parametrize(
    "action,name,suggested,reboot",
    [("upgrade", "glibc", False, True), ("remove", "glibc", False, False), ("upgrade", "vim", False, False),
     ("install", "linux-image-6.1", False, True), ("upgrade", "vim", True, True), ("remove", "vim", True, True)],
)  # fmt: skip
def test_needs_reboot(action: str, name: str, suggested: bool, reboot: bool) -> None:
    assert needs_reboot(action, name, suggested) is reboot


def offer(*have: str, has: bool = True, installed: bool = False) -> Offer:
    return Offer(tuple(have), has, installed)


def test_errata_binding_pkg_ronly() -> None:
    pins = {
        n: ErrataPin(n, "1.0-1", (), ("A",))
        for n in ("foo", "pinned", "kernel-core", "absent", "gone", "new")
    }
    offers: Dict[str, Offer] = {
        "foo": offer("1.0-1", "2.0-1"), "pinned": offer("1.0-1"), "kernel-core": offer("1.0-1"),
        "gone": offer(), "new": offer("2.0-1", has=False),
    }  # fmt: skip
    b = bind_errata(pins, offers, PACKAGES, "s")
    # a declared version and a versioned glob win; what the repositories do not carry binds nothing
    assert sorted(b.pins) == ["foo"] and [p.name for p in b.unoffered] == ["new"]


@pytest.mark.parametrize("declared,installed", [(True, False), (False, True)])
def test_errata_version_missing_for_a_declared_or_installed_package_is_an_error(
    declared: bool, installed: bool
):
    pins = {"foo": ErrataPin("foo", "3.0-1")}
    pkgs = (D("foo"),) if declared else ()
    with pytest.raises(ResolveError) as ei:
        bind_errata(pins, {"foo": offer("1.0-1", "2.0-1", has=False, installed=installed)}, pkgs, "s")
    assert "foo: errata version 3.0-1 not in the repositories (available: 1.0-1, 2.0-1)" in str(ei.value)


def test_kernel_family_candidates_do_not_override_the_sets_own_pins() -> None:
    c = errata_candidates([ErrataPin("kernel", "9-9")], "6.1-1", ["kernel", "kernel-core"])
    assert c["kernel"].evr == "9-9" and c["kernel-core"].evr == "6.1-1"
    assert c["kernel-core"].advisories == ("kernel 6.1-1",)
    assert errata_candidates([], None, ["kernel"]) == {}


def test_errata_notes_only_for_packages_in_the_plan() -> None:
    b = Binding({}, tuple(ErrataPin(n, "9-9") for n in ("a", "b", "c")))
    acts = [Action("install", "b", "noarch", None, "1", "dependency", "")]
    assert errata_notes(b, acts) == [
        "errata version 9-9 of b is not in the repositories; not constrained",
        "2 more packages of the errata set are not in the repositories in the set's version and not in this "
        "plan; not constrained",
    ]
    assert errata_notes(Binding({}), acts) == []
    assert obsolete_notes([("n-1.noarch", "o-1.noarch")] * 2) == [
        "n-1.noarch would replace o-1.noarch (obsoletes); not applied because process_obsoletes is false"
    ]


def _profile(**kw: Any) -> Profile:
    return Profile(source="p", sha256="0", packages=kw.pop("packages", (D("bar"),)), repositories=(), **kw)


def _removals(n: int) -> list:
    return [Action("remove", "p%d" % i, "noarch", "1", None, "unmanaged", "") for i in range(n)]


@pytest.mark.parametrize(
    "profile,actions,protected,refused",
    [
        (_profile(), _removals(3), [], None),
        (_profile(packages=()), _removals(1), [], "declares no packages"),
        (_profile(packages=(D("k*", ("1",)),)), _removals(1), [], "declares no packages"),
        (_profile(packages=()), [], [], None),
        (_profile(max_removals=2), _removals(3), [], "more than max_removals (2)"),
        (_profile(max_removals=3), _removals(3), [], None),
        (_profile(), [], ["rpm-4.16-1.x86_64"], "protected packages: rpm-4.16-1.x86_64"),
    ],
)
def test_safety(profile: Profile, actions: list, protected: list, refused: Any) -> None:
    if refused is None:
        safety(profile, actions, protected)
        return
    with pytest.raises(SafetyError) as ei:
        safety(profile, actions, protected)
    assert refused in str(ei.value) and ei.value.exit_code == 7


def test_protected_removals_named_as_each_family_names_them() -> None:
    cs = [ch("remove", "rpm", "4-1", None, arch="x86_64", protected=True), ch("remove", "x", to=None),
          ch("obsolete", "dpkg", "1.2", None, arch="amd64", protected=True)]  # fmt: skip
    assert protected_removals("rpm", cs) == ["dpkg-1.2.amd64", "rpm-4-1.x86_64"]
    assert protected_removals("deb", cs) == ["dpkg:amd64", "rpm:x86_64"]


def test_repository_metadata_pins() -> None:
    check_repo_pins({"os": None, "b": "ab"}, [("os", "sha256:1"), ("b", "sha256:ab")])
    with pytest.raises(RepoError) as ei:
        check_repo_pins({"b": "ff"}, [("b", "sha256:ab")])
    assert "pins" in str(ei.value) and ei.value.hint.startswith("the mirror no longer serves")
