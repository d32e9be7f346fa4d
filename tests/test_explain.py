"""Unsolvable requests explained in the profile's terms (issue 14 §2, issue 11 points 3 and 7),
on real dnf and apt sandbox roots: the profile paths named, the rule, the suggested fixes, and
the same records in the JSON error output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from spma import explain
from spma.errors import ResolveError
from spma.model import PackageDecl, SolveRequest
from tests.builders.debrepo import deb
from tests.builders.debrepo import make_repo as make_deb_repo
from tests.builders.rpmrepo import make_repo
from tests.builders.rpmrepo import parse as P
from tests.helpers import Host, profile_tree
from tests.test_preflight import apt_tree

RPMS = [P("openssl-1.0-1"), P("openssl-2.0-1"), P("webapp-1.0-1", requires=["openssl >= 2.0"]),
        P("legacy-1.0-1", conflicts=["openssl >= 2.0"]), P("anti-1.0-1", conflicts=["tool"]), P("tool-1.0-1"),
        P("needy-1.0-1", requires=["libmissing"]), P("mid-1.0-1", requires=["needy"]), P("ok-1.0-1"),
        P("vim-enhanced-9.0-1", provides=["vim"])]  # fmt: skip
DEBS = [deb("openssl=1.0-1"), deb("openssl=2.0-1"), deb("webapp=1.0-1", depends=["openssl (>= 2.0)"]),
        deb("legacy=1.0-1", conflicts=["openssl (>= 2.0)"]), deb("anti=1.0-1", conflicts=["tool"]),
        deb("tool=1.0-1"), deb("needy=1.0-1", depends=["libmissing"]), deb("mid=1.0-1", depends=["needy"]),
        deb("ok=1.0-1"), deb("vim-nox=9.0-1", provides=["vim"])]  # fmt: skip

V1, V2 = "/software/packages/openssl/_31_2e0_2d1", "/software/packages/openssl/_32_2e0_2d1"
WEBAPP, LEGACY, OPENSSL = (
    "/software/packages/webapp",
    "/software/packages/legacy",
    "/software/packages/openssl",
)
EXCL = "/software/components/spma/excludes/0"

# (id, packages, spma fields, rule, paths, fixes)
CASES: List[Tuple[str, Dict[str, Any], Dict[str, Any], str, List[str], List[str]]] = [
    ("pin-requires", {"openssl": "1.0-1", "webapp": None}, {}, "pin-requires", [WEBAPP, V1],
     ["declare openssl 2.0-1 at `/software/packages/openssl` instead of 1.0-1", "remove `%s`" % WEBAPP]),
    ("pin-conflicts", {"openssl": "2.0-1", "legacy": None}, {}, "pin-conflicts", [LEGACY, OPENSSL, V2],
     ["declare openssl 1.0-1 at `/software/packages/openssl` instead of 2.0-1", "remove `%s`" % LEGACY,
      "remove `%s`" % OPENSSL]),
    ("exclude-requires", {"webapp": None}, {"excludes": ["openssl*"]}, "exclude-requires", [WEBAPP, EXCL],
     ["remove 'openssl*' from `%s`" % EXCL, "remove `%s`" % WEBAPP]),
    ("conflict", {"anti": None, "tool": None}, {}, "conflict", ["/software/packages/anti", "/software/packages/tool"],
     ["remove `/software/packages/anti`", "remove `/software/packages/tool`"]),
    ("missing-provider", {"mid": None, "ok": None}, {}, "missing-provider", ["/software/packages/mid"],
     ["remove `/software/packages/mid`", "add a repository that provides libmissing to `/software/repositories`"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def rpmrepo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_repo(tmp_path_factory.mktemp("explain-rpms") / "app", RPMS))


@pytest.fixture(scope="module")
def debrepo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "file://%s" % make_deb_repo(tmp_path_factory.mktemp("explain-debs") / "app", DEBS)


def _check(err: ResolveError, rule: str, paths: List[str], fixes: List[str]) -> None:
    assert err.exit_code == 4
    assert [p["rule"] for p in err.problems] == [rule], err.message
    prob = err.problems[0]
    assert prob["paths"] == paths
    assert prob["fixes"] == fixes
    assert prob["packages"] and set(prob) == {"rule", "summary", "details", "paths", "packages", "fixes"}
    # printed dnf-style: a problem over several short lines, never one long line
    lines = err.message.splitlines()
    assert lines[1].startswith("Problem 1: ") and any(ln.startswith("  - ") for ln in lines)
    assert max(len(ln) for ln in lines) < 200
    for f in fixes:
        assert "  - " + f in lines


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dnf_unsolvable_named_in_profile_terms(tmp_path: Path, rpmrepo: str, case) -> None:  # type: ignore[no-untyped-def]
    _id, packages, spma, rule, paths, fixes = case
    host = Host(tmp_path, boot=True)
    with pytest.raises(ResolveError) as ei:
        host.plan(profile_tree(packages, {"app": rpmrepo}, **spma))
    _check(ei.value, rule, paths, fixes)


APT_CASES = CASES


@pytest.mark.apt
@pytest.mark.parametrize("case", APT_CASES, ids=[c[0] for c in APT_CASES])
def test_apt_unsolvable_named_in_profile_terms(tmp_path: Path, debrepo: str, case) -> None:  # type: ignore[no-untyped-def]
    _id, packages, spma, rule, paths, fixes = case
    host = Host(tmp_path, boot=True)
    with pytest.raises(ResolveError) as ei:
        host.plan(apt_tree(packages, debrepo, **spma))
    _check(ei.value, rule, paths, fixes)


@pytest.mark.parametrize("backend", ["dnf", pytest.param("apt", marks=pytest.mark.apt)])
def test_pin_below_the_installed_provider(tmp_path: Path, rpmrepo: str, debrepo: str, backend: str) -> None:
    """The installed openssl 2.0 satisfies webapp today; the pin moves it away: that is the cause."""
    host = Host(tmp_path, boot=True)
    if backend == "dnf":
        host.apply(profile_tree({"openssl": "2.0-1"}, {"app": rpmrepo}))
        tree = profile_tree({"openssl": "1.0-1", "webapp": None}, {"app": rpmrepo})
    else:
        host.apply(apt_tree({"openssl": "2.0-1"}, debrepo))
        tree = apt_tree({"openssl": "1.0-1", "webapp": None}, debrepo)
    with pytest.raises(ResolveError) as ei:
        host.plan(tree)
    _check(ei.value, "pin-requires", [WEBAPP, V1], CASES[0][5])
    assert len(ei.value.problems[0]["packages"]) == 2  # webapp and openssl 2.0, once


def test_pin_requires_text_names_both_paths(tmp_path: Path, rpmrepo: str) -> None:
    host = Host(tmp_path, boot=True)
    with pytest.raises(ResolveError) as ei:
        host.plan(profile_tree({"openssl": "1.0-1", "webapp": None}, {"app": rpmrepo}))
    assert ei.value.message.splitlines()[1] == (
        "Problem 1: `%s` pins openssl 1.0-1, but `%s` (declared) requires openssl >= 2.0" % (V1, WEBAPP)
    )
    assert "  - openssl-2.0-1.noarch (repository app) would satisfy it, but the pin at `%s` (openssl 1.0-1) " \
           "excludes it" % V1 in ei.value.message  # fmt: skip


def test_json_error_output_carries_the_problems(tmp_path: Path, rpmrepo: str, debrepo: str) -> None:
    for name, tree in (("dnf", profile_tree({"anti": None, "tool": None}, {"app": rpmrepo})),
                       ("apt", apt_tree({"anti": None, "tool": None}, debrepo))):  # fmt: skip
        host = Host(tmp_path / name, boot=True)
        p = host.cli("plan", "--boot", "--format", "json", profile=tree)
        assert p.returncode == 4, p.stderr
        doc = json.loads(p.stdout)
        assert doc["exit"] == 4 and doc["phase"] == "resolve"
        assert doc["problems"][0]["rule"] == "conflict"
        assert doc["problems"][0]["paths"] == ["/software/packages/anti", "/software/packages/tool"]
        assert "Problem 1: " in p.stderr  # the text stays on stderr


def test_dnf_declared_package_hidden_by_excludes_names_each_filter(tmp_path: Path, rpmrepo: str) -> None:
    host = Host(tmp_path, boot=True)
    tree = profile_tree({"openssl": None, "ok": None}, {"app": rpmrepo}, excludes=["ok", "openssl*"])
    tree["software"]["repositories"][0]["excludepkgs"] = ["openssl"]
    with pytest.raises(ResolveError) as ei:
        host.plan(tree)
    assert [p["rule"] for p in ei.value.problems] == ["excluded", "excluded"]
    prob = next(p for p in ei.value.problems if p["paths"][0] == OPENSSL)
    assert prob["paths"] == [
        OPENSSL,
        "/software/components/spma/excludes/1",
        "/software/repositories/0/excludepkgs/0",
    ]
    assert prob["fixes"] == [
        "remove 'openssl*' from `/software/components/spma/excludes/1` and remove 'openssl' from "
        "`/software/repositories/0/excludepkgs/0`",
        "remove `%s`" % OPENSSL,
    ]


@pytest.mark.apt
def test_apt_declared_package_hidden_by_excludes_names_the_filter(tmp_path: Path, debrepo: str) -> None:
    host = Host(tmp_path, boot=True)
    with pytest.raises(ResolveError) as ei:
        host.plan(apt_tree({"openssl": None, "ok": None}, debrepo, excludes=["ok", "openssl*"]))
    assert [p["rule"] for p in ei.value.problems] == ["excluded", "excluded"]
    prob = next(p for p in ei.value.problems if p["paths"][0] == OPENSSL)
    assert prob["paths"] == [OPENSSL, "/software/components/spma/excludes/1"]
    assert prob["fixes"] == [
        "remove 'openssl*' from `/software/components/spma/excludes/1`",
        "remove `%s`" % OPENSSL,
    ]


@pytest.mark.parametrize("backend", ["dnf", pytest.param("apt", marks=pytest.mark.apt)])
def test_errata_set_vs_requires(tmp_path: Path, rpmrepo: str, debrepo: str, backend: str) -> None:
    """An errata set pins openssl (pkg_ronly) below what a declared package needs."""
    family = "rpm" if backend == "dnf" else "deb"
    vs = tmp_path / "set.json"
    vs.write_text(json.dumps({"format": "spma-versionset/1", "id": "2026-01", "os": "test", "family": family,
                              "cutoff": "2026-01-01", "packages": {"openssl": {"evr": "1.0-1"}}}))  # fmt: skip
    host = Host(tmp_path / "h", boot=True)
    if backend == "dnf":
        tree = profile_tree({"openssl": None, "webapp": None}, {"app": rpmrepo})
    else:
        tree = apt_tree({"openssl": None, "webapp": None}, debrepo)
    with pytest.raises(ResolveError) as ei:
        host.plan(tree, errata=str(vs))
    _check(ei.value, "errata-requires", [WEBAPP, "/software/components/spma/errata"], [
        "declare openssl 2.0-1 at `/software/packages/openssl` (a declared version wins over the errata set)",
        "remove `%s`" % WEBAPP,
    ])  # fmt: skip


# -- issue 11 point 3: a declared name that is a capability, not a package ---------------------


def test_dnf_declared_capability_names_its_provider(tmp_path: Path, rpmrepo: str) -> None:
    host = Host(tmp_path, boot=True)
    with pytest.raises(ResolveError) as ei:
        host.plan(profile_tree({"vim": None, "ok": None}, {"app": rpmrepo}))
    assert "vim is not a package name; provided by vim-enhanced" in ei.value.message
    prob = ei.value.problems[0]
    assert prob["rule"] == "provided-by" and prob["paths"] == ["/software/packages/vim"]
    assert prob["fixes"] == ["declare vim-enhanced at `/software/packages/vim_2denhanced` instead of "
                             "`/software/packages/vim`"]  # fmt: skip


@pytest.mark.apt
def test_apt_declared_virtual_name_names_its_provider(tmp_path: Path, debrepo: str) -> None:
    host = Host(tmp_path, boot=True)
    with pytest.raises(ResolveError) as ei:
        host.plan(apt_tree({"vim": None, "ok": None}, debrepo))
    assert "vim is not a package name; provided by vim-nox" in ei.value.message
    assert ei.value.problems[0]["paths"] == ["/software/packages/vim"]
    assert ei.value.problems[0]["fixes"][0].startswith("declare vim-nox at `/software/packages/vim_2dnox`")


# -- pure: the profile side, on synthetic facts -------------------------------------------------


def _req(**kw: Any) -> SolveRequest:
    kw.setdefault("repositories", ())
    return SolveRequest(**kw)


def test_repository_excludepkgs_and_errata_are_named() -> None:
    from spma.model import ErrataPin, Repository

    req = _req(
        packages=(PackageDecl("webapp", path="/software/packages/webapp"),),
        repositories=(Repository("base", ("file:///x",)), Repository("app", ("file:///y",), excludepkgs=("ssl*", "openssl"))),
    )  # fmt: skip
    fact = explain.Unsatisfied(explain.Pkg("webapp", "1.0-1", "noarch", "app"), ("webapp",), "openssl >= 2.0",
                               (explain.Pkg("openssl", "2.0-1", "noarch", "app"),))  # fmt: skip
    (prob,) = explain.explain(req, "rpm", [fact], {"openssl": ErrataPin("openssl", "1.0-1")})
    assert prob.rule == "blocked-requires"
    assert prob.paths == ("/software/packages/webapp", "/software/repositories/1/excludepkgs/1",
                          "/software/components/spma/errata")  # fmt: skip
    assert prob.fixes[0] == (
        "remove 'openssl' from `/software/repositories/1/excludepkgs/1` and declare openssl 2.0-1 at "
        "`/software/packages/openssl` (a declared version wins over the errata set)"
    )


def test_render_is_dnf_style() -> None:
    p = explain.Problem(
        "conflict", "a and b exclude each other", ("a conflicts with b",), fixes=("remove a",)
    )
    assert explain.render([p, p]).splitlines() == [
        "Problem 1: a and b exclude each other", "  - a conflicts with b",
        "  Changes to the profile that would solve it (none is applied):", "  - remove a",
        "Problem 2: a and b exclude each other", "  - a conflicts with b",
        "  Changes to the profile that would solve it (none is applied):", "  - remove a",
    ]  # fmt: skip
