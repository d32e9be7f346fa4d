"""Pre-flight: the root's own package settings that contradict the profile (issue 14 §1).

The parsers and checks are pure and tested on texts; each kind is also tested on a real dnf or
apt sandbox root (both backends where the kind exists), through spma's plan."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spma import preflight
from spma.errors import ResolveError
from spma.profile import parse_profile
from tests.builders.debrepo import deb, make_repo
from tests.helpers import Host, profile_tree

# -- pure parsers -----------------------------------------------------------------------------


def test_parse_ini_sections_continuations_comments():
    text = "[main]\n# c\nexclude=foo*\n  bar\n; x\ninstallonly_limit = 3\n[repo1]\nincludepkgs=a,b\n"
    assert preflight.parse_ini(text) == [
        ("main", "exclude", "foo* bar", 3),
        ("main", "installonly_limit", "3", 6),
        ("repo1", "includepkgs", "a,b", 8),
    ]
    assert preflight.split_list("a, b,c  d") == ["a", "b", "c", "d"]


def test_split_nevra_and_versionlock_list():
    assert preflight.split_nevra("openssl-1:3.0.7-24.el9.*") == ("openssl", "1:3.0.7-24.el9")
    assert preflight.split_nevra("foo-bar-1.0-1.noarch") == ("foo-bar", "1.0-1")
    assert preflight.split_nevra("kernel") == ("kernel", None)
    text = "# comment\nfoo-0:1.0-1.*\n\n!tool-2.0-1.noarch\n"
    assert preflight.parse_versionlock_list(text) == [
        ("foo", "0:1.0-1", False, 2),
        ("tool", "2.0-1", True, 4),
    ]


def test_parse_versionlock_toml_dnf5_shape():
    text = """version = "1.0"
[[packages]]
name = "foo"
comment = "locked by ops"
[[packages.conditions]]
key = "evr"
comparator = "="
value = "1.0-1"
[[packages]]
name = "bar"
"""
    assert preflight.parse_versionlock_toml(text) == [("foo", [("evr", "=", "1.0-1")], 3), ("bar", [], 10)]


def test_parse_apt_conf_nested_lists_and_comments():
    text = """// comment
APT::Install-Recommends "true";
APT {
  Never-MarkAuto-Sections { "metapackages"; "contrib/metapackages"; };
};
/* block
 comment */ Dpkg::Options { "--force-confold"; }; # trailing
"""
    assert preflight.parse_apt_conf(text) == [
        ("apt::install-recommends", "true", 2),
        ("apt::never-markauto-sections", "metapackages", 4),
        ("apt::never-markauto-sections", "contrib/metapackages", 4),
        ("dpkg::options", "--force-confold", 7),
    ]


def test_stanzas_with_lines():
    text = "Package: foo\nPin: version 1.0*\nPin-Priority: 1001\n\nExplanation: x\nPackage: bar\n"
    st = preflight.stanzas_with_lines(text)
    assert [(f["package"], ln["package"]) for f, ln in st] == [("foo", 1), ("bar", 6)]


def _prof(packages: Dict[str, object], **spma: object) -> object:
    return parse_profile(json.dumps(profile_tree(packages, {"r": "/nowhere"}, **spma)).encode())


def _eq(a: str, b: str) -> bool:
    return a.split(":")[-1] == b.split(":")[-1]


def test_check_dnf_pure_each_kind():
    prof = _prof({"foo": "1.0-1", "bar": None, "kernel": ["6.1.0-1", "6.2.0-1", "6.3.0-1"]}, userrepos=True)
    texts = {
        "/etc/dnf/dnf.conf": "[main]\nexcludepkgs=ba*\ninstallonly_limit=2\nprotected_packages=tool\n",
        "/etc/dnf/plugins/versionlock.list": "foo-0:2.0-1.*\n",
        "/etc/yum.repos.d/local.repo": "[local]\nincludepkgs=foo\n",
        "/etc/yum.repos.d/r.repo": "[r]\nexcludepkgs=foo\n",  # spma's own file: not the host's
    }
    found = preflight.check_dnf(prof, texts, same=_eq, removals=[{"name": "tool", "because": "not declared"}],
                                managed_repo_files=["/etc/yum.repos.d/r.repo"])  # fmt: skip
    got = {(c.kind, c.profile_path.split(" ")[0], c.where) for c in found}
    assert got == {
        ("exclude", "/software/packages/bar", "/etc/dnf/dnf.conf:2"),
        ("installonly_limit", "/software/packages/kernel", "/etc/dnf/dnf.conf:3"),
        ("protected", "/software/packages", "/etc/dnf/dnf.conf:4"),
        ("versionlock", "/software/packages/foo/_31_2e0_2d1", "/etc/dnf/plugins/versionlock.list:1"),
        ("includepkgs", "/software/packages/bar", "/etc/yum.repos.d/local.repo:2"),
        ("includepkgs", "/software/packages/kernel", "/etc/yum.repos.d/local.repo:2"),
    }
    assert [c.refuse for c in found if c.kind == "protected"] == [True]
    lock = next(c for c in found if c.kind == "versionlock")
    assert "would hold foo at 0:2.0-1, the profile declares 1.0-1" in lock.note()


def test_check_dnf_unmanaged_repo_files_only_with_userrepos():
    prof = _prof({"foo": None})
    texts = {"/etc/yum.repos.d/local.repo": "[local]\nexclude=foo\n"}
    assert preflight.check_dnf(prof, texts, same=_eq) == []  # spma removes that file on apply


def test_check_apt_pure_each_kind():
    prof = _prof({"foo": "1.0-1", "bar": None, "meta": None}, packager="apt")
    texts = {
        "/var/lib/dpkg/status": "Package: bar\nStatus: hold ok installed\nVersion: 1.0-1\n\n"
        "Package: meta\nStatus: install ok installed\nSection: metapackages\nVersion: 1\n",
        "/etc/apt/preferences.d/foo": "Package: foo\nPin: version 2.0*\nPin-Priority: 1001\n\n"
        "Package: bar\nPin: release a=unstable\nPin-Priority: -1\n",
        "/etc/apt/apt.conf.d/99local": 'APT::Install-Recommends "true";\n'
        'APT::Never-MarkAuto-Sections { "metapackages"; };\n',
    }
    found = preflight.check_apt(prof, texts, same=lambda a, b: a == b)
    got = {(c.kind, c.profile_path, c.where) for c in found}
    assert got == {
        ("hold", "/software/packages/bar", "/var/lib/dpkg/status:2"),
        ("pin", "/software/packages/foo/_31_2e0_2d1", "/etc/apt/preferences.d/foo:1"),
        ("pin", "/software/packages/bar", "/etc/apt/preferences.d/foo:5"),
        (
            "install-recommends",
            "/software/components/spma/install_weak_deps",
            "/etc/apt/apt.conf.d/99local:1",
        ),
        ("never-markauto", "/software/packages/meta", "/etc/apt/apt.conf.d/99local:2"),
    }


def test_root_files_are_bounded_and_never_followed_out_of_the_root(tmp_path: Path):
    root = tmp_path / "root"
    (root / "etc/dnf").mkdir(parents=True)
    outside = tmp_path / "secret.conf"
    outside.write_text("[main]\nexclude=foo\n")
    os.symlink(str(outside), root / "etc/dnf/dnf.conf")  # absolute: means <root>/.../secret.conf
    assert preflight.read_root_file(str(root), "etc/dnf/dnf.conf") is None
    os.unlink(root / "etc/dnf/dnf.conf")
    os.symlink("../../../../../secret.conf", root / "etc/dnf/dnf.conf")  # .. stops at the root
    assert preflight.read_root_file(str(root), "etc/dnf/dnf.conf") is None
    (root / "secret.conf").write_text("inside")
    assert preflight.read_root_file(str(root), "etc/dnf/dnf.conf") == "inside"
    os.unlink(root / "etc/dnf/dnf.conf")
    (root / "etc/dnf/dnf.conf").write_text("x" * (preflight.MAX_BYTES + 100))
    assert len(preflight.read_root_file(str(root), "etc/dnf/dnf.conf") or "") == preflight.MAX_BYTES
    os.unlink(root / "etc/dnf/dnf.conf")
    os.mkfifo(root / "etc/dnf/dnf.conf")  # never blocks on a FIFO planted in the root
    assert preflight.read_root_file(str(root), "etc/dnf/dnf.conf") is None
    os.symlink("loop", root / "etc/loop")
    assert preflight.read_root_file(str(root), "etc/loop") is None


# -- real dnf roots ------------------------------------------------------------------------------


def _put(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def _notes(res) -> List[str]:  # type: ignore[no-untyped-def]
    return [n for n in res.plan["notes"] if n.startswith("host setting")]


@pytest.fixture
def dhost(tmp_path: Path) -> Host:
    return Host(tmp_path, boot=True)


DNF_CASES = [
    ("exclude", "etc/dnf/dnf.conf", "[main]\nexclude=tool\n", {"foo": "1.0-1", "tool": None}, {},
     "host setting /etc/dnf/dnf.conf:2 (exclude=tool) contradicts /software/packages/tool: a manual "
     "`dnf install` or `dnf upgrade` on this host would not see tool in any repository"),
    ("includepkgs", "etc/dnf/dnf.conf", "[main]\nincludepkgs=foo\n", {"foo": "1.0-1", "tool": None}, {},
     "host setting /etc/dnf/dnf.conf:2 (includepkgs=foo) contradicts /software/packages/tool"),
    ("repo-exclude", "etc/yum.repos.d/local.repo", "[local]\nbaseurl=file:///nowhere\nexcludepkgs=foo\n",
     {"foo": "1.0-1", "tool": None}, {"userrepos": True},
     "host setting /etc/yum.repos.d/local.repo:3 (excludepkgs=foo) contradicts /software/packages/foo"),
    ("versionlock", "etc/dnf/plugins/versionlock.list", "foo-0:2.0-1.*\n", {"foo": "1.0-1", "tool": None}, {},
     "host setting /etc/dnf/plugins/versionlock.list:1 (foo-0:2.0-1) contradicts /software/packages/foo/"
     "_31_2e0_2d1: a manual `dnf upgrade` on this host would hold foo at 0:2.0-1, the profile declares 1.0-1"),
    ("versionlock.toml", "etc/dnf/versionlock.toml",
     'version = "1.0"\n[[packages]]\nname = "foo"\n[[packages.conditions]]\nkey = "evr"\ncomparator = "="\n'
     'value = "2.0-1"\n', {"foo": "1.0-1", "tool": None}, {},
     "host setting /etc/dnf/versionlock.toml:3 (foo-2.0-1) contradicts /software/packages/foo/_31_2e0_2d1: a "
     "manual `dnf5 upgrade` on this host would hold foo at 2.0-1"),
    ("installonly_limit", "etc/dnf/dnf.conf", "[main]\ninstallonly_limit=2\n",
     {"foo": "1.0-1", "kernel": ["6.1.0-1", "6.2.0-1", "6.3.0-1"]}, {},
     "host setting /etc/dnf/dnf.conf:2 (installonly_limit=2) contradicts /software/packages/kernel: the "
     "profile declares 3 versions of kernel; a manual `dnf upgrade` on this host would keep only 2"),
]  # fmt: skip


@pytest.mark.parametrize("kind,rel,text,packages,spma,expected", DNF_CASES, ids=[c[0] for c in DNF_CASES])
def test_dnf_root_setting_is_a_plan_note(dhost: Host, repos, kind, rel, text, packages, spma, expected):
    _put(dhost.root, rel, text)
    res = dhost.plan(profile_tree(packages, {"snap2": repos["snap2"]}, **spma))
    notes = _notes(res)
    assert len(notes) == 1 and notes[0].startswith(expected), notes
    assert res.plan["host_settings"][0]["host_file"] == "/" + rel
    # the note explains, it never changes what spma does
    assert {a["name"] for a in res.plan["actions"]} >= set(packages)
    with pytest.raises(ResolveError) as ei:  # a site can make it an error
        dhost.plan(profile_tree(packages, {"snap2": repos["snap2"]}, host_settings="error", **spma))
    assert ei.value.exit_code == 4 and expected in ei.value.message
    assert ei.value.problems[0]["host_file"] == "/" + rel


def test_dnf_protected_package_the_plan_removes_is_refused_exit_7(dhost: Host, repos):
    dhost.apply(profile_tree({"foo": None, "tool": None}, {"snap2": repos["snap2"]}))
    _put(dhost.root, "etc/dnf/protected.d/tool.conf", "# ops keep this\ntool\n")
    p = dhost.cli("plan", "--boot", profile=profile_tree({"foo": None}, {"snap2": repos["snap2"]}))
    assert p.returncode == 7, p.stderr
    assert "/etc/dnf/protected.d/tool.conf:2" in p.stderr
    assert "/software/packages/tool" in p.stderr and "not declared" in p.stderr
    # apply refuses the same way, and records the refusal
    p = dhost.cli("apply", "--boot", profile=profile_tree({"foo": None}, {"snap2": repos["snap2"]}))
    assert p.returncode == 7 and "/etc/dnf/protected.d/tool.conf:2" in p.stderr, p.stderr
    last = json.loads((dhost.root / "var/lib/spma/state.json").read_text())
    assert last["result"] == "refused" and "protected.d/tool.conf:2" in last["error"]
    # nothing was changed, and declaring it (what the hint says) settles it
    assert any(n.startswith("tool-") for n in dhost.installed())
    assert dhost.plan(profile_tree({"foo": None, "tool": None}, {"snap2": repos["snap2"]})).changes == 0


def test_host_settings_cli_option_makes_notes_errors(dhost: Host, repos):
    _put(dhost.root, "etc/dnf/dnf.conf", "[main]\nexclude=tool\n")
    prof = profile_tree({"tool": None}, {"snap2": repos["snap2"]})
    assert dhost.cli("plan", "--boot", profile=prof).returncode == 0
    p = dhost.cli("plan", "--boot", "--host-settings", "error", profile=prof)
    assert p.returncode == 4 and "/etc/dnf/dnf.conf:2" in p.stderr, p.stderr


# -- real apt roots ------------------------------------------------------------------------------

DEBS = [deb("foo=1.0-1"), deb("foo=2.0-1"), deb("tool=1.0-1"), deb("weak=1.0-1", recommends=["tool"]),
        deb("meta=1.0-1", depends=["tool"], section="metapackages")]  # fmt: skip


@pytest.fixture(scope="module")
def debrepo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "file://%s" % make_repo(tmp_path_factory.mktemp("pf-debs") / "r", DEBS)


def apt_tree(packages: Dict[str, object], url: str, **spma: object) -> dict:
    from spma import pan

    pk = {
        pan.escape(n): ({pan.escape(str(v)): {"arch": {"all": ""}}} if v else {})
        for n, v in packages.items()
    }
    comp = {"packager": "apt", "userpkgs": "no"}
    comp.update(spma)  # type: ignore[arg-type]
    repos = [{"name": "os", "gpgcheck": False, "protocols": [{"name": "file", "url": url}]}]
    return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": repos}}


@pytest.mark.apt
def test_apt_root_settings_are_plan_notes(dhost: Host, debrepo: str):
    dhost.apply(apt_tree({"foo": "1.0-1", "meta": None}, debrepo))
    subprocess.run(["dpkg", "--root=%s" % dhost.root, "--set-selections"], input="foo hold\n", text=True,
                   check=True)  # fmt: skip
    _put(dhost.root, "etc/apt/preferences.d/ops", "Package: foo\nPin: version 2.0*\nPin-Priority: 1001\n")
    _put(
        dhost.root,
        "etc/apt/preferences.d/ignored.bak",
        "Package: foo\nPin: version 3*\nPin-Priority: 1001\n",
    )
    _put(dhost.root, "etc/apt/apt.conf.d/99ops",
         '// local\nAPT::Install-Recommends "true";\nAPT::Never-MarkAuto-Sections { "metapackages"; };\n')  # fmt: skip
    res = dhost.plan(apt_tree({"foo": "1.0-1", "meta": None}, debrepo))
    assert res.changes == 0
    by_kind = {c["kind"]: c for c in res.plan["host_settings"]}
    # foo is held at its declared version: that hold agrees with the profile
    assert set(by_kind) == {"pin", "install-recommends", "never-markauto"}
    assert by_kind["pin"]["profile_path"] == "/software/packages/foo/_31_2e0_2d1"
    assert by_kind["pin"]["host_file"] == "/etc/apt/preferences.d/ops" and by_kind["pin"]["line"] == 1
    assert "would prefer foo 2.0* (priority 1001), the profile declares 1.0-1" in by_kind["pin"]["effect"]
    assert by_kind["install-recommends"]["profile_path"] == "/software/components/spma/install_weak_deps"
    assert by_kind["never-markauto"]["profile_path"] == "/software/packages/meta"
    with pytest.raises(ResolveError):
        dhost.plan(apt_tree({"foo": "1.0-1", "meta": None}, debrepo, host_settings="error"))


@pytest.mark.apt
def test_apt_hold_on_an_undeclared_package(dhost: Host, debrepo: str):
    dhost.apply(apt_tree({"foo": "1.0-1", "tool": None}, debrepo))
    subprocess.run(["dpkg", "--root=%s" % dhost.root, "--set-selections"], input="tool hold\nfoo hold\n",
                   text=True, check=True)  # fmt: skip
    res = dhost.plan(apt_tree({"foo": "1.0-1"}, debrepo))
    holds = [c for c in res.plan["host_settings"] if c["kind"] == "hold"]
    # foo is held at its declared version: no contradiction; tool is held, so it stays although
    # the profile no longer declares it
    assert res.changes == 0
    assert [(c["profile_path"], c["host_file"]) for c in holds] == [
        ("/software/packages (tool is not declared at /software/packages/tool)", "/var/lib/dpkg/status")
    ]
    assert "neither spma nor apt-get removes a held package" in holds[0]["effect"]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_parsers_never_raise_on_untrusted_text(text: str) -> None:
    preflight.parse_ini(text)
    preflight.parse_versionlock_list(text)
    preflight.parse_versionlock_toml(text)
    preflight.parse_names(text)
    preflight.stanzas_with_lines(text)
    preflight.parse_apt_conf(text)
    prof = _prof({"foo": "1.0-1", "bar": None})
    never = lambda a, b: False  # noqa: E731
    preflight.check_dnf(prof, {"/etc/dnf/dnf.conf": "[main]\n" + text, "/etc/dnf/plugins/versionlock.list": text,
                               "/etc/dnf/versionlock.toml": text}, same=never)  # fmt: skip
    preflight.check_apt(prof, {"/var/lib/dpkg/status": text, "/etc/apt/preferences": text,
                               "/etc/apt/apt.conf": text}, same=never)  # fmt: skip
