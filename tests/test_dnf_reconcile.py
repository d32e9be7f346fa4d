"""The dnf reconciler end to end: real dnf (libdnf/hawkey), real rpm, sandbox roots.

Every test asserts the installed set as rpm itself reports it, and/or the exact plan.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import Host, actions, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")


def test_fresh_install_of_declared_set(host: Host, repos):
    prof = profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
    res = host.apply(prof)
    assert actions(res) == [
        ("install", "app", None, "1.0-1", "declared"),
        ("install", "bar", None, "2.0-1", "declared"),
        ("install", "foo", None, "2.0-1", "dependency"),
        ("install", "lib", None, "2.0-1", "dependency"),
    ]
    by_name = {a["name"]: a for a in res.plan["actions"]}
    assert by_name["foo"]["because"] == "required by bar"
    assert by_name["lib"]["because"] == "required by app"
    assert host.installed() == [
        "app-1.0-1.noarch",
        "bar-2.0-1.noarch",
        "foo-2.0-1.noarch",
        "lib-2.0-1.noarch",
    ]
    # the repositories of the profile are written into the root, nothing else
    assert sorted(p.name for p in (host.root / "etc/yum.repos.d").iterdir()) == ["os.repo"]


def test_second_plan_is_empty(host: Host, repos):
    host.boot = True  # kernel*: the whole plan, nothing deferred
    prof = profile_tree({"bar": None, "app": None, "kernel": ["6.1.0-1", "6.2.0-1"]}, {"os": repos["snap2"]})
    host.apply(prof)
    again = host.plan(prof)
    assert again.plan["actions"] == []
    assert again.plan["summary"]["total"] == 0


def test_exact_pin_downgrade_with_dependent_following(host: Host, repos):
    host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}))
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    res = host.apply(profile_tree({"bar": None, "foo": "1.1-1"}, {"os": repos["snap2"]}))
    assert actions(res) == [
        ("downgrade", "bar", "2.0-1", "1.0-1", "dependency"),
        ("downgrade", "foo", "2.0-1", "1.1-1", "declared"),
    ]
    assert host.installed() == ["bar-1.0-1.noarch", "foo-1.1-1.noarch"]
    # and back up when the pin is lifted
    res = host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}))
    assert actions(res) == [
        ("upgrade", "bar", "1.0-1", "2.0-1", "sync"),
        ("upgrade", "foo", "1.1-1", "2.0-1", "sync"),
    ]


def test_pin_up_and_epoch_pins(host: Host, repos):
    # epo-1:1.0-1 beats epo-0:2.0-1 by rpm's rules: the best version is the epoch-1 one
    host.apply(profile_tree({"epo": None}, {"os": repos["snap2"]}))
    assert host.installed() == ["epo-1:1.0-1.noarch"]
    res = host.apply(profile_tree({"epo": "0:2.0-1"}, {"os": repos["snap2"]}))
    assert actions(res) == [("downgrade", "epo", "1:1.0-1", "2.0-1", "declared")]
    assert host.installed() == ["epo-2.0-1.noarch"]
    res = host.apply(profile_tree({"epo": "1:1.0-1"}, {"os": repos["snap2"]}))
    assert actions(res) == [("upgrade", "epo", "2.0-1", "1:1.0-1", "declared")]
    assert host.installed() == ["epo-1:1.0-1.noarch"]


def test_snapshot_rollback_moves_everything_down(host: Host, repos):
    decl = {"bar": None, "app": None, "tool": None}
    host.apply(profile_tree(decl, {"os": repos["snap2"]}))
    assert host.installed() == ["app-1.0-1.noarch", "bar-2.0-1.noarch", "foo-2.0-1.noarch",
                                "lib-2.0-1.noarch", "tool-2.0-1.noarch"]  # fmt: skip
    res = host.apply(profile_tree(decl, {"os": repos["snap1"]}))  # same repo name, older snapshot URL
    assert actions(res) == [
        ("downgrade", "bar", "2.0-1", "1.0-1", "sync"),
        ("downgrade", "foo", "2.0-1", "1.1-1", "sync"),
        ("downgrade", "lib", "2.0-1", "1.0-1", "sync"),
        ("downgrade", "tool", "2.0-1", "1.0-1", "sync"),
    ]
    assert host.installed() == ["app-1.0-1.noarch", "bar-1.0-1.noarch", "foo-1.1-1.noarch",
                                "lib-1.0-1.noarch", "tool-1.0-1.noarch"]  # fmt: skip
    assert host.plan(profile_tree(decl, {"os": repos["snap1"]})).plan["actions"] == []


def test_unmanaged_and_orphans_removed_but_whitelist_kept(host: Host, repos):
    host.apply(profile_tree({"bar": None, "app": None, "tool": None}, {"os": repos["snap2"]}))
    res = host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}, whitelist=["to*"]))
    assert actions(res) == [
        ("remove", "app", "1.0-1", None, "unmanaged"),
        ("remove", "lib", "2.0-1", None, "unmanaged"),
    ]
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch", "tool-2.0-1.noarch"]


def test_userpkgs_yes_keeps_undeclared(host: Host, repos):
    host.apply(profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]}))
    res = host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}, userpkgs="yes"))
    assert res.plan["actions"] == []
    assert "app-1.0-1.noarch" in host.installed()
    # userpkgs keeps them, but they still follow the snapshot
    res = host.apply(profile_tree({"bar": None}, {"os": repos["snap1"]}, userpkgs=True))
    assert ("downgrade", "lib", "2.0-1", "1.0-1", "sync") in actions(res)
    assert "app-1.0-1.noarch" in host.installed()


def test_two_kernel_versions_and_the_running_kernel(fresh_root, repos):
    host = fresh_root()
    host.boot = True  # kernel*: the whole plan, nothing deferred
    host.apply(profile_tree({"kernel": ["6.1.0-1", "6.2.0-1"]}, {"os": repos["snap2"]}))
    assert host.installed() == ["kernel-6.1.0-1.noarch", "kernel-6.2.0-1.noarch"]
    host.running_kernel = "6.1.0-1.noarch"
    res = host.apply(profile_tree({"kernel": ["6.2.0-1", "6.3.0-1"]}, {"os": repos["snap2"]}))
    assert actions(res) == [("install", "kernel", None, "6.3.0-1", "declared")]
    # 6.1 is not declared any more, but it is the running kernel: kept
    assert host.installed() == ["kernel-6.1.0-1.noarch", "kernel-6.2.0-1.noarch", "kernel-6.3.0-1.noarch"]
    host.running_kernel = "6.3.0-1.noarch"
    res = host.apply(profile_tree({"kernel": ["6.2.0-1", "6.3.0-1"]}, {"os": repos["snap2"]}))
    assert actions(res) == [("remove", "kernel", "6.1.0-1", None, "kernel")]
    assert host.installed() == ["kernel-6.2.0-1.noarch", "kernel-6.3.0-1.noarch"]


def test_obsoletes_only_with_process_obsoletes(host: Host, repos):
    host.apply(profile_tree({"oldpkg": None}, {"os": repos["snap2"]}))
    assert host.installed() == ["oldpkg-1.0-1.noarch"]
    res = host.plan(profile_tree({"oldpkg": None}, {"os": repos["snap2"]}))
    assert res.plan["actions"] == []
    assert res.plan["notes"] == [
        "newpkg-1.0-1.noarch would replace oldpkg-1.0-1.noarch (obsoletes); not applied because "
        "process_obsoletes is false"
    ]
    res = host.apply(profile_tree({"oldpkg": None}, {"os": repos["snap2"]}, process_obsoletes=True))
    assert actions(res) == [
        ("install", "newpkg", None, "1.0-1", "obsoleted"),
        ("obsolete", "oldpkg", "1.0-1", None, "obsoleted"),
    ]
    by_name = {a["name"]: a for a in res.plan["actions"]}
    assert by_name["oldpkg"]["because"] == "obsoleted by newpkg-1.0-1.noarch"
    assert host.installed() == ["newpkg-1.0-1.noarch"]
    assert (
        host.plan(profile_tree({"oldpkg": None}, {"os": repos["snap2"]}, process_obsoletes=True)).changes
        == 0
    )


def test_glob_constraint_pins_matching_packages(host: Host, repos):
    host.boot = True  # kernel*: the whole plan, nothing deferred
    # kernel* = 6.1.0-1 constrains kernel-tools without installing kernel or kernel-core
    prof = profile_tree({"kernel-tools": None, "kernel*": "6.1.0-1"}, {"os": repos["snap2"]})
    res = host.apply(prof)
    assert actions(res) == [("install", "kernel-tools", None, "6.1.0-1", "declared")]
    assert host.installed() == ["kernel-tools-6.1.0-1.noarch"]
    res = host.apply(profile_tree({"kernel-tools": None, "kernel*": "6.2.0-1"}, {"os": repos["snap2"]}))
    assert actions(res) == [("upgrade", "kernel-tools", "6.1.0-1", "6.2.0-1", "kernel")]


def test_json_and_xml_profiles_give_the_same_plan(fresh_root, repos):
    prof = profile_tree({"bar": None, "foo": "1.1-1", "kernel": ["6.1.0-1", "6.2.0-1"], "kernel*": "6.1.0-1"},
                        {"os": repos["snap2"]}, whitelist=["tool"])  # fmt: skip
    a, b = fresh_root("a"), fresh_root("b")
    pj = a.cli("plan", "--format", "json", profile=prof, fmt="json")
    px = b.cli("plan", "--format", "json", profile=prof, fmt="xml")
    assert pj.returncode == 0 and px.returncode == 0, pj.stderr + px.stderr
    ja, jb = json.loads(pj.stdout), json.loads(px.stdout)
    assert ja["actions"] == jb["actions"] and ja["actions"]
    assert ja["inputs"]["repositories"] == jb["inputs"]["repositories"]


def test_weak_deps_only_when_enabled_and_excludes(fresh_root, repos):
    host = fresh_root()
    res = host.plan(profile_tree({"weak": None}, {"os": repos["snap2"]}, install_weak_deps=True))
    assert actions(res) == [("install", "tool", None, "2.0-1", "dependency"),
                            ("install", "weak", None, "1.0-1", "declared")]  # fmt: skip
    # an excluded package is never pulled in, even as a weak dependency
    res = host.plan(
        profile_tree({"weak": None}, {"os": repos["snap2"]}, install_weak_deps=True, excludes=["to*"])
    )
    assert actions(res) == [("install", "weak", None, "1.0-1", "declared")]
    host.apply(profile_tree({"weak": None, "tool": None}, {"os": repos["snap2"]}))
    # libsolv's "unneeded" keeps what is merely recommended; spma removes it without install_weak_deps
    res = host.plan(profile_tree({"weak": None}, {"os": repos["snap2"]}))
    assert actions(res) == [("remove", "tool", "2.0-1", None, "unmanaged")]
    res = host.plan(profile_tree({"weak": None}, {"os": repos["snap2"]}, install_weak_deps=True))
    assert res.plan["actions"] == []


def test_text_output_is_grouped_and_aligned(host: Host, repos):
    host.apply(profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]}))
    p = host.cli("plan", profile=profile_tree({"bar": None, "foo": "1.1-1"}, {"os": repos["snap2"]}))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Dry-run plan for ")
    assert lines[1].split() == ["Package", "Arch", "Version", "Repository", "Size", "Why"]
    assert "Downgrading:" in lines and "Removing:" in lines
    rows = [line for line in lines if line.startswith(" ")]
    # columns line up under the header: the Why column starts at the same offset on every row
    offsets = {re.search(r" (Why|dependency|declared|unmanaged)", row).start() for row in rows}  # type: ignore[union-attr]
    assert len(offsets) == 1
    assert "declared pin 1.1-1" in p.stdout and "declared: declared" not in p.stdout
    assert "Summary: 2 downgrades, 2 removals" in lines and lines[-1].startswith("Freed space: ")


def test_undeclared_arch_of_a_declared_name_is_removed(fresh_root, tmp_path):
    from tests.builders.rpmrepo import make_repo, parse

    repo = str(make_repo(tmp_path / "multilib", [parse("libz-1.0-1.x86_64"), parse("libz-1.0-1.i686")]))
    host = fresh_root()
    host.apply(profile_tree({"libz": {"1.0-1": ["x86_64", "i686"]}}, {"m": repo}))
    assert host.installed() == ["libz-1.0-1.i686", "libz-1.0-1.x86_64"]
    res = host.apply(profile_tree({"libz": {"1.0-1": ["x86_64"]}}, {"m": repo}))
    assert actions(res) == [("remove", "libz", "1.0-1", None, "unmanaged")]
    assert host.installed() == ["libz-1.0-1.x86_64"]


def test_recommended_package_moving_with_the_snapshot_is_still_removed(fresh_root, repos):
    """Found by the property test: `tool` only recommended, and downgraded by a rollback in the
    same run; without install_weak_deps it must go, not follow the snapshot."""
    host = fresh_root()
    host.apply(profile_tree({"foo": None, "bar": None, "tool": None}, {"os": repos["snap2"]}))
    res = host.apply(profile_tree({"foo": None, "bar": None, "weak": None}, {"os": repos["snap1"]}))
    assert ("remove", "tool", "2.0-1", None, "unmanaged") in actions(res)
    assert host.installed() == ["bar-1.0-1.noarch", "foo-1.1-1.noarch", "weak-1.0-1.noarch"]
