"""Scenarios of the dnf team's own behaviour tests (ci-dnf-stack dnf-behave-tests), translated
into profiles and run with spma on RPMs built from their fixture specs.

Each test names the feature file and scenario it translates; the expected package sets are
the ones those scenarios assert ("Transaction is following" / "package state is").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dnf_fixtures import SPECS, fixture_repo
from tests.helpers import Host, actions, profile_tree

pytestmark = [
    pytest.mark.dnf,
    pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/corpus/dnf-fixtures is not present"),
]
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory):
    dest = tmp_path_factory.mktemp("dnf-fixtures")
    names = ["dnf-ci-fedora", "dnf-ci-fedora-updates", "dnf-ci-fedora-updates-testing", "dnf-ci-obsoletes"]
    return {n: str(fixture_repo(n, dest)) for n in names}


def x86(pkgs):
    return {n: ({v: ["x86_64"]} if v else None) for n, v in pkgs.items()}


# downgrade.feature, "Downgrade one RPM": flac 1.3.3-3 -> -2 -> -1, one step at a time
def test_downgrade_chain(tmp_path: Path, fx):
    host = Host(tmp_path)
    repos = {"dnf-ci-fedora-updates": fx["dnf-ci-fedora-updates"]}
    host.apply(profile_tree(x86({"flac": "1.3.3-3.fc29"}), repos))
    assert host.installed() == ["flac-1.3.3-3.fc29.x86_64"]
    res = host.apply(profile_tree(x86({"flac": "1.3.3-2.fc29"}), repos))
    assert actions(res) == [("downgrade", "flac", "1.3.3-3.fc29", "1.3.3-2.fc29", "declared")]
    assert host.installed() == ["flac-1.3.3-2.fc29.x86_64"]
    res = host.apply(profile_tree(x86({"flac": "1.3.3-1.fc29"}), repos))
    assert actions(res) == [("downgrade", "flac", "1.3.3-2.fc29", "1.3.3-1.fc29", "declared")]
    assert host.installed() == ["flac-1.3.3-1.fc29.x86_64"]


# downgrade.feature, "Downgrade RPM that requires downgrade of dependency"
def test_downgrade_pulls_dependencies_down(tmp_path: Path, fx):
    host = Host(tmp_path, boot=True)  # glibc*: the whole plan, as dnf does it
    repos = {"dnf-ci-fedora-updates": fx["dnf-ci-fedora-updates"], "dnf-ci-fedora": fx["dnf-ci-fedora"]}
    host.apply(profile_tree(x86({"glibc": None}), repos))
    assert host.installed() == [
        "basesystem-11-6.fc29.noarch",
        "filesystem-3.9-2.fc29.x86_64",
        "glibc-2.28-26.fc29.x86_64",
        "glibc-all-langpacks-2.28-26.fc29.x86_64",
        "glibc-common-2.28-26.fc29.x86_64",
        "setup-2.12.1-1.fc29.noarch",
    ]
    res = host.apply(profile_tree(x86({"glibc": "2.28-9.fc29"}), repos))
    assert sorted((a[0], a[1], a[3]) for a in actions(res)) == [
        ("downgrade", "glibc", "2.28-9.fc29"),
        ("downgrade", "glibc-all-langpacks", "2.28-9.fc29"),
        ("downgrade", "glibc-common", "2.28-9.fc29"),
    ]
    # the feature's "package state is" table
    assert host.installed() == [
        "basesystem-11-6.fc29.noarch",
        "filesystem-3.9-2.fc29.x86_64",
        "glibc-2.28-9.fc29.x86_64",
        "glibc-all-langpacks-2.28-9.fc29.x86_64",
        "glibc-common-2.28-9.fc29.x86_64",
        "setup-2.12.1-1.fc29.noarch",
    ]


# obsoletes.feature, "Install of obsoleted package" and "Upgrade of obsoleted package"
def test_obsoleted_package_install_and_upgrade(tmp_path: Path, fx):
    repos = {"dnf-ci-obsoletes": fx["dnf-ci-obsoletes"]}
    host = Host(tmp_path / "install")
    host.apply(profile_tree({"PackageB": None}, repos, process_obsoletes=True))
    assert host.installed() == ["PackageB-Obsoleter-1.0-1.x86_64"]
    assert host.plan(profile_tree({"PackageB": None}, repos, process_obsoletes=True)).changes == 0

    host = Host(tmp_path / "upgrade")
    host.apply(profile_tree(x86({"PackageB": "1.0-1"}), repos))
    assert host.installed() == ["PackageB-1.0-1.x86_64"]
    res = host.apply(profile_tree({"PackageB": None}, repos, process_obsoletes=True))
    assert actions(res) == [
        ("obsolete", "PackageB", "1.0-1", None, "obsoleted"),
        ("install", "PackageB-Obsoleter", None, "1.0-1", "obsoleted"),
    ]
    assert host.installed() == ["PackageB-Obsoleter-1.0-1.x86_64"]
    # spma's default (process_obsoletes false) keeps the declared name and says why
    host = Host(tmp_path / "noobs")
    res = host.apply(profile_tree({"PackageB": None}, repos))
    assert host.installed() == ["PackageB-2.0-1.x86_64"]


# obsoletes.feature, "Install obsoleted package, even though obsoleter of older version is present"
def test_obsoleter_of_older_version_is_not_taken(tmp_path: Path, fx):
    host = Host(tmp_path)
    host.apply(profile_tree({"PackageE": None}, {"o": fx["dnf-ci-obsoletes"]}, process_obsoletes=True))
    assert host.installed() == ["PackageE-3.0-1.x86_64"]


# obsoletes.feature, "Upgrade a package with multiple obsoleters will install all of them"
def test_multiple_obsoleters_all_installed_and_kept(tmp_path: Path, fx):
    repos = {"o": fx["dnf-ci-obsoletes"]}
    host = Host(tmp_path)
    host.apply(profile_tree(x86({"PackageF": "1.0-1"}), repos))
    assert host.installed() == ["PackageF-1.0-1.x86_64"]
    host.apply(profile_tree({"PackageF": None}, repos, process_obsoletes=True))
    expected = ["PackageF-Obsoleter-3.0-1.x86_64", "PackageF-Obsoleter-Second-3.0-1.x86_64"]
    assert host.installed() == expected
    # both replace the declared package, so both stay on the next run
    assert host.plan(profile_tree({"PackageF": None}, repos, process_obsoletes=True)).changes == 0


# installonly.feature, "Install multiple versions of an installonly package with a limit of 2",
# and "... keep the latest and running kernel-core-0:4.18.16-300.fc29.x86_64"
def test_installonly_versions_and_running_kernel(tmp_path: Path, fx):
    host = Host(tmp_path, boot=True)  # kernel*: the whole plan, as dnf does it
    repos = {"f": fx["dnf-ci-fedora"], "u": fx["dnf-ci-fedora-updates"]}
    host.apply(profile_tree(x86({"kernel-core": None}), {"f": fx["dnf-ci-fedora"]}))
    assert host.installed() == ["kernel-core-4.18.16-300.fc29.x86_64"]
    host.apply(
        profile_tree(
            {"kernel-core": {"4.18.16-300.fc29": ["x86_64"], "4.19.15-300.fc29": ["x86_64"]}}, repos
        )
    )
    assert host.installed() == ["kernel-core-4.18.16-300.fc29.x86_64", "kernel-core-4.19.15-300.fc29.x86_64"]
    repos["t"] = fx["dnf-ci-fedora-updates-testing"]
    res = host.apply(profile_tree({"kernel-core": {"4.19.15-300.fc29": ["x86_64"], "4.20.6-300.fc29": ["x86_64"]}},
                                  repos))  # fmt: skip
    assert actions(res) == [
        ("install", "kernel-core", None, "4.20.6-300.fc29", "declared"),
        ("remove", "kernel-core", "4.18.16-300.fc29", None, "kernel"),
    ]
    assert host.installed() == ["kernel-core-4.19.15-300.fc29.x86_64", "kernel-core-4.20.6-300.fc29.x86_64"]

    # the running kernel is never removed, declared or not
    host2 = Host(tmp_path / "running", running_kernel="4.18.16-300.fc29.x86_64", boot=True)
    allv = {"4.18.16-300.fc29": ["x86_64"], "4.19.15-300.fc29": ["x86_64"], "4.20.6-300.fc29": ["x86_64"]}
    host2.apply(profile_tree({"kernel-core": allv}, repos))
    host2.apply(profile_tree({"kernel-core": {"4.20.6-300.fc29": ["x86_64"]}}, repos))
    assert host2.installed() == ["kernel-core-4.18.16-300.fc29.x86_64", "kernel-core-4.20.6-300.fc29.x86_64"]
