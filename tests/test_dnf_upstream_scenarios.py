"""More of the dnf team's behaviour tests (ci-dnf-stack, branch dnf-4-stack,
dnf-behave-tests/dnf/*.feature), translated into profiles on their own fixture repositories.

A dnf command sequence becomes a sequence of declared end states: `install X` adds X to the
profile, `remove X` drops it, `upgrade` / `distro-sync` is what every spma run does anyway
(the repositories are the snapshot). Every step asserts the feature's "package state" (the
installed set after the step), that the package database changed exactly as the plan said, and
that the next plan is empty (one apply converges).

Scenarios that upstream marks @xfail are named in XFAIL_UPSTREAM with the reason; where spma's
declarative semantics give a different end state than the dnf command, the test says so in a
comment starting with "DIFFERENCE:" (the same list is in docs/dnf-backend.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest

from tests.dnf_fixtures import SPECS, fixture_repo
from tests.helpers import Host, profile_tree
from tests.test_dnf_convergence import converge

pytestmark = [
    pytest.mark.dnf,
    pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/corpus/dnf-fixtures is not present"),
]

# upstream @xfail scenarios translated here, and why upstream marks them
XFAIL_UPSTREAM = {
    "install-remove-multilib.feature: Installing inferior arch with dependencies":
        "libsolv picks the best arch for a dependency of an i686 package (upstream: no bz)",
    "install-remove-multilib.feature: Removing package of inferior arch also removes dependencies":
        "bz1745878: dnf remove does not take the i686 dependency with it",
    "install-remove-multilib.feature: Installing an older version of x86_64 pulls in a newer version "
    "of i686 through dependencies": "openSUSE/libsolv#404",
    "obsoletes.feature: Multilib obsoletes during distro-sync": "bz1672947: dnf's history cannot record it",
    "epoch.feature: Downgrade to RPM with same NVR but no epoch": "bz1845069",
}  # fmt: skip


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    dest = tmp_path_factory.mktemp("upstream-fixtures")
    built: Dict[str, str] = {}

    def repo(name: str) -> str:
        if name not in built:
            built[name] = str(fixture_repo(name, dest))
        return built[name]

    return repo


def step(host: Host, decl: Mapping[str, Any], repos: Mapping[str, str], expect: Optional[List[str]] = None,
         repo_opts: Optional[Mapping[str, Mapping[str, Any]]] = None, **spma: Any) -> Dict[str, Any]:  # fmt: skip
    """One declared end state: apply, check plan == change and convergence, then the package state."""
    tree = profile_tree(decl, repos, **spma)
    for r in tree["software"]["repositories"]:
        r.update((repo_opts or {}).get(r["name"], {}))
    plan = converge(host, tree)
    if expect is not None:
        assert host.installed() == sorted(expect), plan["actions"]
    return plan


def x86(*names: str) -> Dict[str, Any]:
    return {n: {"": ["x86_64"]} for n in names}


def rows(plan: Dict[str, Any]) -> List[tuple]:
    return sorted(
        (a["action"], "%s-%s.%s" % (a["name"], a["to"] or a["from"], a["arch"])) for a in plan["actions"]
    )


# ---------------------------------------------------------------------------------------------
# rich-dependencies.feature
def test_rich_required_one_of_with_recommended(tmp_path: Path, fx) -> None:
    """Required one of packages with recommended (pancake: (milk or soymilk), recommends milk)."""
    host = Host(tmp_path)
    step(host, {"pancake": None}, {"r": fx("dnf-ci-rich")}, ["milk-1.0-1.x86_64", "pancake-1.0-1.x86_64"],
         install_weak_deps=True)  # fmt: skip


def test_rich_conditional_not_met_and_met(tmp_path: Path, fx) -> None:
    """Conditional dependency (condition is not met / is met): soup requires (water and (cream if dill))."""
    repos = {"r": fx("dnf-ci-rich")}
    step(Host(tmp_path / "a"), {"soup": None}, repos, ["soup-1.0-1.x86_64", "water-1.0-1.x86_64"])
    host = Host(tmp_path / "b")
    step(host, {"dill": None}, repos, ["dill-1.0-1.x86_64"])
    step(host, {"dill": None, "soup": None}, repos,
         ["cream-1.0-1.x86_64", "dill-1.0-1.x86_64", "soup-1.0-1.x86_64", "water-1.0-1.x86_64"])  # fmt: skip


def test_rich_one_of_with_conflict(tmp_path: Path, fx) -> None:
    """Conditional dependency with "one of" and conflict: sauce requires (flour and ((milk or
    cream) if dill)); milk conflicts with water, so cream is the one."""
    repos = {"r": fx("dnf-ci-rich")}
    step(Host(tmp_path / "a"), {"sauce": None}, repos, ["flour-1.0-1.x86_64", "sauce-1.0-1.x86_64"])
    host = Host(tmp_path / "b")
    step(host, {"dill": None, "water": None}, repos, ["dill-1.0-1.x86_64", "water-1.0-1.x86_64"])
    step(host, {"dill": None, "water": None, "sauce": None}, repos,
         ["cream-1.0-1.x86_64", "dill-1.0-1.x86_64", "flour-1.0-1.x86_64", "sauce-1.0-1.x86_64",
          "water-1.0-1.x86_64"])  # fmt: skip


def test_rich_gradually_removing_conditional_dependencies(tmp_path: Path, fx) -> None:
    """Gradually removing conditional dependencies (porridge requires (milk if (flour or oat)))."""
    repos = {"r": fx("dnf-ci-rich")}
    host = Host(tmp_path)
    step(host, {"porridge": None, "oat": None}, repos,
         ["milk-1.0-1.x86_64", "oat-1.0-1.x86_64", "porridge-1.0-1.x86_64"])  # fmt: skip
    # DIFFERENCE: `dnf remove oat` leaves milk (installed as a dependency, dnf does not clean it
    # without clean_requirements_on_remove); a profile without oat declares a host without
    # what only oat made necessary, in the same plan.
    step(host, {"porridge": None}, repos, ["porridge-1.0-1.x86_64"])


# ---------------------------------------------------------------------------------------------
# install-remove-multilib.feature
def test_multilib_inferior_arch_in_two_steps(tmp_path: Path, fx) -> None:
    """Installing inferior arch with dependencies, in two steps."""
    repos = {"m": fx("install-remove-multilib")}
    host = Host(tmp_path)
    step(host, {"library": {"": ["i686"]}}, repos, ["library-1.0-1.i686"])
    step(host, {"library": {"": ["i686"]}, "packageB": {"": ["i686"]}}, repos,
         ["library-1.0-1.i686", "packageB-1.0-1.i686"])  # fmt: skip


def test_multilib_inferior_arch_with_dependencies_upstream_xfail(tmp_path: Path, fx) -> None:
    """@xfail upstream: Installing inferior arch with dependencies (packageB.i686 requires
    library(x86-32)). Upstream expects packageB.i686 and library.i686 only; libsolv's
    inferior-architecture rule also takes library.x86_64 ("library-1.0-1.i686 has inferior
    architecture" without it). spma gets the same set as dnf, shows it, and it converges."""
    host = Host(tmp_path)
    plan = step(host, {"packageB": {"": ["i686"]}}, {"m": fx("install-remove-multilib")},
                ["library-1.0-1.i686", "library-1.0-1.x86_64", "packageB-1.0-1.i686"])  # fmt: skip
    lib = {a["arch"]: a["because"] for a in plan["actions"] if a["name"] == "library"}
    assert lib["i686"] == "required by packageB", lib


def test_multilib_removing_inferior_arch_removes_its_dependencies(tmp_path: Path, fx) -> None:
    """@xfail upstream (bz1745878): Removing package of inferior arch also removes dependencies."""
    repos = {"m": fx("install-remove-multilib")}
    host = Host(tmp_path)
    step(host, x86("packageA"), repos, ["library-1.0-1.x86_64", "packageA-1.0-1.x86_64"])
    step(host, {"packageA": {"": ["x86_64"]}, "packageB": {"": ["i686"]}, "library": {"": ["i686", "x86_64"]}},
         repos, ["library-1.0-1.i686", "library-1.0-1.x86_64", "packageA-1.0-1.x86_64",
                 "packageB-1.0-1.i686"])  # fmt: skip
    # the declared end state of `remove packageB`: what only packageB needed goes with it
    step(host, x86("packageA"), repos, ["library-1.0-1.x86_64", "packageA-1.0-1.x86_64"])


def test_multilib_upgrade_does_not_pull_secondary_arch(tmp_path: Path, fx) -> None:
    """Installing a package upgrade with best will not pull in secondary arch packages."""
    repos = {"m": fx("install-remove-multilib")}
    host = Host(tmp_path)
    step(host, {"foo": {"1.0-1": ["x86_64"]}}, repos,
         ["foo-1.0-1.x86_64", "python3-foo-1.0-1.x86_64", "python3-foo-clibs-1.0-1.x86_64"])  # fmt: skip
    plan = step(host, x86("foo"), repos,
                ["foo-2.0-1.x86_64", "python3-foo-2.0-1.x86_64", "python3-foo-clibs-2.0-1.x86_64"])  # fmt: skip
    assert rows(plan) == [("upgrade", "foo-2.0-1.x86_64"), ("upgrade", "python3-foo-2.0-1.x86_64"),
                          ("upgrade", "python3-foo-clibs-2.0-1.x86_64")]  # fmt: skip


def test_multilib_older_x86_64_does_not_pull_newer_i686(tmp_path: Path, fx) -> None:
    """@xfail upstream (openSUSE/libsolv#404): Installing an older version of x86_64 pulls in a
    newer version of i686 through dependencies. spma pins what is declared and takes the rest at
    the best version installable with it."""
    host = Host(tmp_path)
    step(host, {"foo": {"1.0-1": ["x86_64"]}}, {"m": fx("install-remove-multilib")},
         ["foo-1.0-1.x86_64", "python3-foo-1.0-1.x86_64", "python3-foo-clibs-1.0-1.x86_64"])  # fmt: skip


def test_multilib_drop_one_arch(tmp_path: Path, fx) -> None:
    """undo install transaction when another arch is installed (bz2172292): perduto on both
    arches, then only i686 declared."""
    repos = {"m": fx("install-remove-multilib")}
    host = Host(tmp_path)
    step(host, {"perduto": {"": ["i686", "x86_64"]}}, repos,
         ["perduto-1.0-1.fc29.i686", "perduto-1.0-1.fc29.x86_64"])  # fmt: skip
    plan = step(host, {"perduto": {"": ["i686"]}}, repos, ["perduto-1.0-1.fc29.i686"])
    assert rows(plan) == [("remove", "perduto-1.0-1.fc29.x86_64")]


# ---------------------------------------------------------------------------------------------
# obsoletes.feature (process_obsoletes: true is dnf's obsoletes=True)
def test_obsoletes_alphabetically_first_obsoleter(tmp_path: Path, fx) -> None:
    """Install alphabetically first of obsoleters when installing obsoleted package."""
    host = Host(tmp_path)
    plan = step(host, {"PackageF": None}, {"o": fx("dnf-ci-obsoletes")}, ["PackageF-Obsoleter-3.0-1.x86_64"],
                process_obsoletes=True)  # fmt: skip
    assert plan["actions"][0]["because"] == "replaces declared PackageF (obsoletes)"


def test_obsoletes_higher_version_wins_over_obsoleter(tmp_path: Path, fx) -> None:
    """Upgrade of obsoleted package by package of higher version than obsoleted."""
    repos = {"o": fx("dnf-ci-obsoletes")}
    host = Host(tmp_path)
    step(host, {"PackageA": {"1.0-1": ["x86_64"]}}, repos, ["PackageA-1.0-1.x86_64"])
    plan = step(host, {"PackageA": None}, repos, ["PackageA-3.0-1.x86_64"], process_obsoletes=True)
    assert rows(plan) == [("upgrade", "PackageA-3.0-1.x86_64")]


def test_obsoletes_version_glob_applies_no_obsoletes(tmp_path: Path, fx) -> None:
    """Upgrade of obsoleted package if package specified by version with glob (no obsoletes applied)."""
    repos = {"o": fx("dnf-ci-obsoletes")}
    host = Host(tmp_path)
    step(host, {"PackageB": {"1.0-1": ["x86_64"]}}, repos, ["PackageB-1.0-1.x86_64"])
    step(host, {"PackageB": {"2*": ["x86_64"]}}, repos, ["PackageB-2.0-1.x86_64"], process_obsoletes=True)


def test_obsoletes_upgrade_then_nothing_to_autoremove(tmp_path: Path, fx) -> None:
    """Autoremoval of obsoleted package: after the upgrade, autoremove finds nothing."""
    repos = {"o": fx("dnf-ci-obsoletes")}
    host = Host(tmp_path)
    step(host, {"PackageB": {"1.0-1": ["x86_64"]}}, repos, ["PackageB-1.0-1.x86_64"])
    plan = step(host, {"PackageB": None}, repos, ["PackageB-Obsoleter-1.0-1.x86_64"], process_obsoletes=True)
    assert rows(plan) == [
        ("install", "PackageB-Obsoleter-1.0-1.x86_64"),
        ("obsolete", "PackageB-1.0-1.x86_64"),
    ]


def test_obsoletes_obsoleter_declared_replaces_installed(tmp_path: Path, fx) -> None:
    """Install of obsoleting package using upgrade command, when obsoleted package on the system
    (bz1818118): declaring PackageA-Obsoleter replaces PackageE-1.0."""
    repos = {"o": fx("dnf-ci-obsoletes")}
    host = Host(tmp_path)
    step(host, {"PackageE": {"1.0-1": ["x86_64"]}}, repos, ["PackageE-1.0-1.x86_64"])
    plan = step(host, {"PackageA-Obsoleter": None}, repos, ["PackageA-Obsoleter-1.0-1.x86_64"],
                process_obsoletes=True)  # fmt: skip
    old = [a for a in plan["actions"] if a["name"] == "PackageE"]
    assert old and old[0]["action"] in ("obsolete", "remove"), plan["actions"]


def test_obsoletes_multilib_distro_sync(tmp_path: Path, fx) -> None:
    """@xfail upstream (bz1672947): Multilib obsoletes during distro-sync. lz4 1.8.2's lz4 and
    lz4-libs obsolete lz4 < 1.7.5-3 on every arch.
    DIFFERENCE: upstream's expected outcome removes lz4.i686; a profile that declares lz4 on
    both arches keeps both, at the new version, and says why nothing else is needed."""
    host = Host(tmp_path)
    step(host, {"lz4": {"1.7.5-2.fc26": ["x86_64", "i686"]}}, {"f": fx("dnf-ci-fedora")},
         ["lz4-1.7.5-2.fc26.i686", "lz4-1.7.5-2.fc26.x86_64"])  # fmt: skip
    repos = {"f": fx("dnf-ci-fedora"), "u": fx("dnf-ci-fedora-updates")}
    plan = step(host, {"lz4": {"": ["x86_64", "i686"]}}, repos,
                ["lz4-1.8.2-2.fc29.i686", "lz4-1.8.2-2.fc29.x86_64"], process_obsoletes=True)  # fmt: skip
    assert rows(plan) == [("upgrade", "lz4-1.8.2-2.fc29.i686"), ("upgrade", "lz4-1.8.2-2.fc29.x86_64")]


# ---------------------------------------------------------------------------------------------
# protected-packages.feature (spma's protected packages are the profile's whitelist)
def test_protected_package_is_kept(tmp_path: Path, fx) -> None:
    """Package protected via setopt cannot be removed.
    DIFFERENCE: dnf's `remove filesystem` fails; a profile that no longer declares a whitelisted
    package keeps it, with exit 0 (the whitelist is the declaration that it stays)."""
    repos = {"f": fx("dnf-ci-fedora")}
    host = Host(tmp_path)
    step(host, {"filesystem": None}, repos, ["filesystem-3.9-2.fc29.x86_64", "setup-2.12.1-1.fc29.noarch"])
    plan = step(host, {"setup": None}, repos, ["filesystem-3.9-2.fc29.x86_64", "setup-2.12.1-1.fc29.noarch"],
                whitelist=["filesystem"])  # fmt: skip
    assert plan["actions"] == []


def test_protected_dependency_chain(tmp_path: Path, fx) -> None:
    """Package with protected dependency via setopt can be removed; Left over protected package
    installed as a dependency is not autoremoved; Dependency of a protected package cannot be
    removed (top -> mid -> bot, mid protected).
    DIFFERENCE: `remove bot` fails in dnf; here bot simply stays, needed by the protected mid."""
    repos = {"d": fx("dependency-chain")}
    host = Host(tmp_path)
    step(host, x86("top"), repos, ["bot-1-1.fc29.x86_64", "mid-2-1.fc29.x86_64", "top-1-1.fc29.x86_64"])
    plan = step(host, x86("bot"), repos, ["bot-1-1.fc29.x86_64", "mid-2-1.fc29.x86_64"], whitelist=["mid"])
    assert rows(plan) == [("remove", "top-1-1.fc29.x86_64")]


# ---------------------------------------------------------------------------------------------
# clean-requirements-on-remove.feature
def test_clean_requirements_on_remove(tmp_path: Path, fx) -> None:
    """Remove with --setopt=clean_requirements_on_remove=True: abcde's dependencies and weak
    dependencies go with it.
    DIFFERENCE: with clean_requirements_on_remove=False dnf leaves them; a strict profile
    (userpkgs false) always removes what nothing declared needs, and `userpkgs: true` keeps
    abcde as well, so that scenario has no declarative translation."""
    repos = {"f": fx("dnf-ci-fedora"), "t": fx("dnf-ci-thirdparty")}
    host = Host(tmp_path)
    step(host, {"abcde": None}, repos,
         ["FlacBetterEncoder-1.0-1.x86_64", "abcde-2.9.2-1.fc29.noarch", "flac-1.3.2-8.fc29.x86_64",
          "wget-1.19.5-5.fc29.x86_64"], install_weak_deps=True)  # fmt: skip
    step(host, {"setup": None}, repos, ["setup-2.12.1-1.fc29.noarch"], install_weak_deps=True)


# ---------------------------------------------------------------------------------------------
# repo-priorities.feature
PRIO = {"p1": {"priority": 1}, "p2": {"priority": 2}, "p3": {"priority": 3}}


def prio_repos(fx: Callable[[str], str], drop: str = "") -> Dict[str, str]:
    return {"p%d" % i: fx("dnf-ci-priority-%d" % i) for i in (1, 2, 3) if "p%d" % i != drop}


def test_priorities_highest_priority_wins_and_upgrade_stays(tmp_path: Path, fx) -> None:
    """Install an RPM from the highest-priority repository and ensure that upgrade will not
    install update from the lower priority repository."""
    host = Host(tmp_path)
    step(host, x86("flac"), prio_repos(fx), ["flac-1.3.3-2.fc29.x86_64"], repo_opts=PRIO)


def test_priorities_specific_version_from_lower_priority(tmp_path: Path, fx) -> None:
    """Install an RPM of specific version from lower-priority repository; Upgrade an RPM to
    specific version from lower-priority repository."""
    host = Host(tmp_path)
    step(host, {"flac": {"1.3.3-3.fc29": ["x86_64"]}}, prio_repos(fx), ["flac-1.3.3-3.fc29.x86_64"],
         repo_opts=PRIO)  # fmt: skip


def test_priorities_dependencies_from_highest_priority(tmp_path: Path, fx) -> None:
    """Install an RPM and its dependencies from the proper highest-priority repositories; then
    Upgrade RPMs from different highest-priority repositories (priority-1 dropped)."""
    host = Host(tmp_path, boot=True)  # glibc: the whole plan, as dnf does it
    step(host, x86("setup", "glibc"), prio_repos(fx),
         ["basesystem-11-6.fc29.noarch", "filesystem-3.9-2.fc29.x86_64", "glibc-2.28-9.fc29.x86_64",
          "glibc-all-langpacks-2.28-9.fc29.x86_64", "glibc-common-2.28-9.fc29.x86_64",
          "setup-2.12.1-1.fc29.noarch"], repo_opts=PRIO)  # fmt: skip
    step(host, x86("setup", "glibc"), prio_repos(fx, drop="p1"),
         ["basesystem-11-6.fc29.noarch", "filesystem-3.9-2.fc29.x86_64", "glibc-2.28-26.fc29.x86_64",
          "glibc-all-langpacks-2.28-26.fc29.x86_64", "glibc-common-2.28-26.fc29.x86_64",
          "setup-2.12.1-2.fc29.noarch"], repo_opts=PRIO)  # fmt: skip


def test_priorities_installonly_not_from_lower_priority(tmp_path: Path, fx) -> None:
    """Do not upgrade installonly package from lower-priority repository (bz1733582)."""
    host = Host(tmp_path, boot=True)
    step(host, x86("kernel-core"), prio_repos(fx), ["kernel-core-4.18.16-300.fc29.x86_64"], repo_opts=PRIO)


# ---------------------------------------------------------------------------------------------
# epoch.feature
@pytest.mark.parametrize(
    "first, second, before, after, kind",
    [
        ("epoch0", "epoch1", "dummy-1.0-1.x86_64", "dummy-1:1.0-1.x86_64", "upgrade"),
        ("epoch", "epoch1", "dummy-1.0-1.x86_64", "dummy-1:1.0-1.x86_64", "upgrade"),
        ("epoch1", "epoch0", "dummy-1:1.0-1.x86_64", "dummy-1.0-1.x86_64", "downgrade"),
        # @xfail upstream (bz1845069): rpm refuses "dummy-1.0-1 is already installed" for a
        # package with no epoch tag against one with epoch 1; the run fails with exit 9, unchanged
        pytest.param(
            "epoch1",
            "epoch",
            "dummy-1:1.0-1.x86_64",
            "dummy-1.0-1.x86_64",
            "downgrade",
            marks=pytest.mark.xfail(strict=True, reason="upstream @xfail bz1845069: rpm refuses"),
        ),
    ],
)
def test_epoch_follows_the_snapshot(tmp_path: Path, fx, first: str, second: str, before: str, after: str,
                                    kind: str) -> None:  # fmt: skip
    """Upgrade to RPM with same NVR but different epoch (from epoch 0 / from no epoch); Downgrade
    to RPM with same NVR but different epoch.
    DIFFERENCE: the dnf scenarios add the second repository next to the first and run
    upgrade/downgrade; a snapshot is followed both ways, so here the second repository replaces
    the first."""
    host = Host(tmp_path)
    step(host, x86("dummy"), {"e": fx(first)}, [before])
    plan = step(host, x86("dummy"), {"e": fx(second)}, [after])
    assert [a["action"] for a in plan["actions"]] == [kind]


# ---------------------------------------------------------------------------------------------
# excludes-includes.feature (profile excludes = dnf's main excludepkgs; a repository's
# excludepkgs / includepkgs = the repo option)
def test_excludes_and_includes(tmp_path: Path, fx) -> None:
    """Install RPMs that are NOT in excludepkgs (main conf and repo conf); that are in
    includepkgs in repo conf; in includepkgs and NOT in excludepkgs. `install flac*` declares
    the names it matched."""
    repos = {"dnf-ci-fedora": fx("dnf-ci-fedora")}
    step(Host(tmp_path / "main"), x86("flac-libs"), repos, ["flac-libs-1.3.2-8.fc29.x86_64"],
         excludes=["flac", "glibc"])  # fmt: skip
    step(Host(tmp_path / "repo"), x86("flac-libs"), repos, ["flac-libs-1.3.2-8.fc29.x86_64"],
         repo_opts={"dnf-ci-fedora": {"excludepkgs": ["flac", "glibc"]}})  # fmt: skip
    step(Host(tmp_path / "incl"), x86("flac-libs"), repos, ["flac-libs-1.3.2-8.fc29.x86_64"],
         repo_opts={"dnf-ci-fedora": {"includepkgs": ["flac-libs", "setup"]}})  # fmt: skip
    step(Host(tmp_path / "none"), x86("flac", "flac-libs"), repos,
         ["flac-1.3.2-8.fc29.x86_64", "flac-libs-1.3.2-8.fc29.x86_64"], excludes=["non-existent-pkg"])  # fmt: skip


@pytest.mark.parametrize(
    "opts",
    [
        {"excludes": ["flac", "flac-libs", "glibc"]},
        {"repo_opts": {"dnf-ci-fedora": {"excludepkgs": ["flac", "flac-libs", "glibc"]}}},
        {"repo_opts": {"dnf-ci-fedora": {"includepkgs": ["flac-libs", "setup"]}}},
        {"repo_opts": {"dnf-ci-fedora": {"includepkgs": ["non-existent-pkg"]}}},
    ],
)
def test_excluded_declaration_is_refused(tmp_path: Path, fx, opts: Dict[str, Any]) -> None:
    """Fail to install RPMs when some RPM is in excludepkgs / NOT in includepkgs (main conf and
    repo conf), and with a non-existent RPM in includepkgs: exit 4, nothing changed."""
    from spma.errors import ResolveError

    host = Host(tmp_path)
    tree = profile_tree(x86("flac", "flac-libs"), {"dnf-ci-fedora": fx("dnf-ci-fedora")},
                        **{k: v for k, v in opts.items() if k != "repo_opts"})  # fmt: skip
    for r in tree["software"]["repositories"]:
        r.update(opts.get("repo_opts", {}).get(r["name"], {}))
    with pytest.raises(ResolveError):
        host.apply(tree)
    assert host.installed() == []


# ---------------------------------------------------------------------------------------------
# installonly.feature
def test_installonly_install_and_remove_versions(tmp_path: Path, fx) -> None:
    """Install and remove multiple versions of an installonly package; Remove all installonly
    packages but keep the latest (remove --oldinstallonly)."""
    f, u, t = fx("dnf-ci-fedora"), fx("dnf-ci-fedora-updates"), fx("dnf-ci-fedora-updates-testing")
    host = Host(tmp_path, boot=True)
    step(host, x86("kernel-core"), {"f": f}, ["kernel-core-4.18.16-300.fc29.x86_64"])
    both = {"kernel-core": {"4.18.16-300.fc29": ["x86_64"], "4.19.15-300.fc29": ["x86_64"]}}
    step(host, both, {"f": f, "u": u},
         ["kernel-core-4.18.16-300.fc29.x86_64", "kernel-core-4.19.15-300.fc29.x86_64"])  # fmt: skip
    three = dict(both["kernel-core"], **{"4.20.6-300.fc29": ["x86_64"]})
    step(host, {"kernel-core": three}, {"f": f, "u": u, "t": t},
         ["kernel-core-4.18.16-300.fc29.x86_64", "kernel-core-4.19.15-300.fc29.x86_64",
          "kernel-core-4.20.6-300.fc29.x86_64"])  # fmt: skip
    # remove --oldinstallonly: only the latest declared.
    # DIFFERENCE: an unversioned install-only declaration keeps the installed versions (up to
    # installonly_limit, as `dnf upgrade` does); the versions to keep are declared explicitly.
    plan = step(host, {"kernel-core": {"4.20.6-300.fc29": ["x86_64"]}}, {"f": f, "u": u, "t": t},
                ["kernel-core-4.20.6-300.fc29.x86_64"])  # fmt: skip
    assert rows(plan) == [("remove", "kernel-core-4.18.16-300.fc29.x86_64"),
                          ("remove", "kernel-core-4.19.15-300.fc29.x86_64")]  # fmt: skip
