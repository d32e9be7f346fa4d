"""Every repository field and spma-component field is honoured alike on dnf and apt, or refused
with a message naming the profile path. Each test runs on both backends against the same
package universe, built as RPMs and as .debs."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest

from spma import pan
from spma.errors import ProfileError, RepoError, ResolveError
from tests.builders import debrepo, rpmrepo
from tests.helpers import Host

pytestmark = pytest.mark.slow

# name, version, depends, provides
Pkg = Tuple[str, str, List[str], List[str]]
A: List[Pkg] = [
    ("app", "1.0-1", ["lib"], []), ("lib", "1.0-1", [], []),
    ("web", "1.0-1", ["mailer"], []),  # mailer is virtual: postfix and exim provide it
    ("postfix", "1.0-1", [], ["mailer"]), ("exim", "1.0-1", [], ["mailer"]),
    ("tool", "2.0-1", [], []), ("other", "1.0-1", [], []),
]  # fmt: skip
B: List[Pkg] = [("tool", "1.0-1", [], []), ("extra", "1.0-1", [], [])]


class World:
    def __init__(self, backend: str, dirs: Dict[str, Path]) -> None:
        self.backend, self.dirs = backend, dirs

    def url(self, repo: str, base: Optional[str] = None) -> str:
        base = base or "file://%s" % self.dirs[repo]
        return base if self.backend == "dnf" else "%s ./" % base

    def profile(
        self, packages: Mapping[str, Optional[str]], repos: Dict[str, Dict[str, Any]], **spma: Any
    ) -> dict:
        arch = "noarch" if self.backend == "dnf" else "all"
        pk = {
            pan.escape(n): ({pan.escape(v): {"arch": {arch: ""}}} if v else {}) for n, v in packages.items()
        }
        comp: Dict[str, Any] = {"packager": self.backend, "userpkgs": "no"}
        comp.update(spma)
        rl = []
        for name, fields in repos.items():
            r = {
                "name": name,
                "gpgcheck": False,
                "protocols": [{"name": "p", "url": fields.pop("url", self.url(name))}],
            }
            r.update(fields)
            rl.append(r)
        return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": rl}}

    def installed(self, host: Host) -> Dict[str, str]:
        if self.backend == "apt":
            return debrepo.dpkg_installed(host.root)
        out = {}
        for nevra in rpmrepo.rpm_query_installed(host.root):
            name, ver, rel = nevra.rsplit(".", 1)[0].rsplit("-", 2)
            out[name] = "%s-%s" % (ver, rel)
        return out


@pytest.fixture(scope="module", params=["dnf", "apt"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    d = tmp_path_factory.mktemp("parity-" + request.param)
    dirs = {}
    for name, universe in (("a", A), ("b", B)):
        if request.param == "dnf":
            pkgs = [
                rpmrepo.parse("%s-%s" % (n, v), requires=deps, provides=prov)
                for n, v, deps, prov in universe
            ]
            dirs[name] = rpmrepo.make_repo(d / name, pkgs)
        else:
            debs = [
                debrepo.deb("%s=%s" % (n, v), depends=deps, provides=prov) for n, v, deps, prov in universe
            ]
            dirs[name] = debrepo.make_repo(d / name, debs)
    return World(request.param, dirs)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path, boot=True)


# -- excludes: never chosen, whatever asks for the package ----------------------------------------


@pytest.mark.parametrize("excluded,chosen", [("postfix", "exim"), ("exim", "postfix")])
def test_excluded_provider_of_a_virtual_package_is_never_chosen(world: World, host: Host, excluded: str,
                                                                 chosen: str):  # fmt: skip
    host.apply(world.profile({"web": None}, {"a": {}}, excludes=[excluded]))
    inst = world.installed(host)
    assert excluded not in inst and chosen in inst and "web" in inst


def test_excluded_dependency_is_never_chosen(world: World, host: Host):
    with pytest.raises(ResolveError):
        host.apply(world.profile({"app": None}, {"a": {}}, excludes=["li*"]))
    assert world.installed(host) == {}


def test_excluded_declared_package_is_refused(world: World, host: Host):
    with pytest.raises(ResolveError):
        host.apply(world.profile({"tool": None, "other": None}, {"a": {}}, excludes=["tool"]))
    assert world.installed(host) == {}


def test_exclude_that_is_not_a_name_glob_is_refused(world: World, host: Host):
    with pytest.raises(ProfileError) as e:
        host.plan(world.profile({"tool": None}, {"a": {}}, excludes=["tool\nPin-Priority: 1001"]))
    assert "/software/components/spma/excludes/0" in e.value.message


# -- per-repository filters and priority ----------------------------------------------------------


@pytest.mark.parametrize("fields", [{"excludepkgs": ["to*"]}, {"includepkgs": ["app", "lib", "other"]}],
                         ids=["excludepkgs", "includepkgs"])  # fmt: skip
def test_repository_filters_hide_a_package_from_that_repository_only(world: World, host: Host,
                                                                     fields: Dict[str, Any]):  # fmt: skip
    host.apply(world.profile({"tool": None}, {"a": dict(fields), "b": {}}))
    assert world.installed(host) == {"tool": "1.0-1"}  # from b: a's newer tool is filtered out
    host.apply(world.profile({"tool": None}, {"a": {}, "b": {}}))
    assert world.installed(host) == {"tool": "2.0-1"}


def test_priority_prefers_the_lower_value_even_for_an_older_version(world: World, host: Host):
    host.apply(world.profile({"tool": None, "app": None}, {"a": {"priority": 50}, "b": {"priority": 10}}))
    assert world.installed(host) == {"tool": "1.0-1", "app": "1.0-1", "lib": "1.0-1"}


# -- enabled: false --------------------------------------------------------------------------------


def test_disabled_repository_is_not_used_nor_written_as_active(world: World, host: Host):
    prof = world.profile({"tool": None}, {"a": {}, "b": {"enabled": False}})
    host.apply(prof)
    assert world.installed(host) == {"tool": "2.0-1"}
    with pytest.raises(ResolveError):
        host.plan(world.profile({"extra": None}, {"a": {}, "b": {"enabled": False}}))
    if world.backend == "dnf":
        text = (host.root / "etc/yum.repos.d/b.repo").read_text()
        assert "enabled=0" in text and "enabled=1" not in text
    else:
        text = (host.root / "etc/apt/sources.list.d/b.list").read_text()
        assert str(world.dirs["b"]) in text
        active = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert active == []


# -- proxies --------------------------------------------------------------------------------------


@pytest.fixture
def http_repo(world: World) -> Iterator[str]:
    """Repository a, served over http on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(world.dirs["a"]))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield "http://127.0.0.1:%d/" % srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("level", ["component", "repository"])
def test_proxy_is_used_a_dead_proxy_is_exit5(world: World, host: Host, http_repo: str, level: str):
    repos = {"a": {"url": world.url("a", http_repo)}}
    host.apply(
        world.profile({"tool": None}, {"a": {"url": world.url("a", http_repo)}})
    )  # reachable directly
    assert world.installed(host) == {"tool": "2.0-1"}
    proxy = "http://127.0.0.1:%d" % closed_port()
    kw: Dict[str, Any] = {"proxy": proxy} if level == "component" else {}
    if level == "repository":
        repos["a"]["proxy"] = proxy
    with pytest.raises(RepoError):
        host.apply(world.profile({"tool": None, "other": None}, repos, **kw))
    assert world.installed(host) == {"tool": "2.0-1"}
    p = host.cli("plan", profile=world.profile({"tool": None, "other": None}, dict(a={"url": world.url("a", http_repo),
                 **({"proxy": proxy} if level == "repository" else {})}), **kw))  # fmt: skip
    assert p.returncode == 5, p.stderr


@pytest.mark.parametrize("value", ["ftp://proxy:21", "http://", "http://proxy:port", "http://proxy:3128/x\n",
                                   'http://pro"xy:1'])  # fmt: skip
def test_proxy_values_are_validated(world: World, host: Host, value: str):
    with pytest.raises(ProfileError) as e:
        host.plan(world.profile({"tool": None}, {"a": {"proxy": value}}))
    assert "/software/repositories/0/proxy" in e.value.message


def test_unsupported_field_is_refused_not_ignored(world: World, host: Host):
    prof = world.profile({"tool": None}, {"a": {"skip_if_unavailable": True}})
    if world.backend == "dnf":
        host.plan(prof)
        return
    with pytest.raises(ProfileError) as e:
        host.plan(prof)
    assert "/software/repositories/0/skip_if_unavailable" in e.value.message
