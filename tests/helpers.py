"""Test helpers: write compiled-profile JSON/XML, run spma on sandbox roots, read rpm's view."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union
from xml.sax.saxutils import escape as xml_escape

from spma import pan
from spma.run import Options, Result
from tests.builders.rpmrepo import rpm_query_installed

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SPMA_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))
SPMA = [sys.executable, "-m", "spma.cli"]

PkgSpec = Union[None, str, Sequence[str], Mapping[str, Sequence[str]]]


def profile_tree(packages: Mapping[str, PkgSpec], repos: Mapping[str, str], **spma: Any) -> Dict[str, Any]:
    """A compiled profile as panc would emit it. packages: name -> None (any version),
    "1.0-1", ["1.0-1", "2.0-1"], or {"1.0-1": ["x86_64", "i686"]}."""
    pk: Dict[str, Any] = {}
    for name, spec in packages.items():
        entry: Dict[str, Any] = {}
        if spec is None:
            pass
        elif isinstance(spec, str):
            entry[pan.escape(spec)] = {"arch": {"noarch": ""}}
        elif isinstance(spec, Mapping):
            for v, arches in spec.items():
                entry[pan.escape(v) if v else "_"] = {"arch": {a: "" for a in arches}}
        else:
            for v in spec:
                entry[pan.escape(v)] = {"arch": {"noarch": ""}}
        pk[pan.escape(name)] = entry
    comp = {"packager": "dnf", "run": "yes", "userpkgs": "no"}
    comp.update(spma)
    repositories = [
        {"name": n, "enabled": True, "gpgcheck": False, "protocols": [{"name": "file", "url": _url(u)}]}
        for n, u in repos.items()
    ]
    return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": repositories}}


def _url(u: str) -> str:
    return u if "://" in u else "file://" + str(u)


def to_pan_xml(tree: Any) -> str:
    """Render a profile tree in panc's `pan` XML format."""

    def node(v: Any, name: Optional[str]) -> str:
        attr = ' name="%s"' % xml_escape(name, {'"': "&quot;"}) if name is not None else ""
        if isinstance(v, dict):
            return "<nlist%s>%s</nlist>" % (attr, "".join(node(x, k) for k, x in v.items()))
        if isinstance(v, list):
            return "<list%s>%s</list>" % (attr, "".join(node(x, None) for x in v))
        if isinstance(v, bool):
            return "<boolean%s>%s</boolean>" % (attr, "true" if v else "false")
        if isinstance(v, int):
            return "<long%s>%d</long>" % (attr, v)
        return "<string%s>%s</string>" % (attr, xml_escape(str(v)))

    body = "".join(node(v, k) for k, v in tree.items())
    return '<?xml version="1.0" encoding="utf-8"?>\n<nlist format="pan" name="profile">%s</nlist>\n' % body


class Host:
    """A sandbox root driven through spma's Python API and CLI."""

    def __init__(self, base: Path, running_kernel: str = "", boot: bool = False) -> None:
        self.base = base
        # boot=True: the whole plan at once (spma --boot), for tests about resolution itself
        self.boot = boot
        self.root = base / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.running_kernel = running_kernel
        self._n = 0

    def write(self, tree: Mapping[str, Any], fmt: str = "json") -> Path:
        self._n += 1
        path = self.base / ("profile-%d.%s" % (self._n, fmt))
        path.write_text(json.dumps(tree, indent=1) if fmt == "json" else to_pan_xml(tree))
        return path

    def opts(self, **kw: Any) -> Options:
        kw.setdefault("root", str(self.root))
        kw.setdefault("running_kernel", self.running_kernel)
        kw.setdefault("boot", self.boot)
        return Options(**kw)

    def plan(self, tree: Mapping[str, Any], **kw: Any) -> Result:
        from spma import run

        return run.plan(str(self.write(tree)), self.opts(**kw))

    def apply(self, tree: Mapping[str, Any], **kw: Any) -> Result:
        from spma import run

        return run.apply(str(self.write(tree)), self.opts(**kw))

    def installed(self) -> List[str]:
        return rpm_query_installed(self.root)

    def cli(self, *args: str, profile: Optional[Mapping[str, Any]] = None, fmt: str = "json",
            timeout: float = 300) -> subprocess.CompletedProcess:  # fmt: skip
        argv: List[str] = list(SPMA) + list(args)
        if profile is not None:
            argv.append(str(self.write(profile, fmt)))
        if "--root" not in args and args and args[0] in ("plan", "apply", "status", "history", "boot"):
            argv += ["--root", str(self.root)]
        if args and args[0] in ("plan", "apply"):
            argv += ["--running-kernel", self.running_kernel]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def actions(result: Result) -> List[tuple]:
    """(action, name, from, to, reason) tuples of a plan, in plan order."""
    return [(a["action"], a["name"], a["from"], a["to"], a["reason"]) for a in result.plan["actions"]]


def nevras(names: Iterable[str]) -> List[str]:
    return sorted(names)


def closure(declared: Iterable[str], needs: Mapping[str, Iterable[str]]) -> set:
    """Names reachable from `declared` through `needs` (name -> names it hard-requires), computed
    from fixture metadata, independently of any solver."""
    out: set = set()
    todo = list(declared)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo.extend(needs.get(n, ()))
    return out


_PROBE = """
import json, sys
sys.argv = ["spma"] + sys.argv[1:]
from spma import %s as entry
try:
    entry.main()
    code = 0
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "imported": sorted(m for m in %r if m in sys.modules)}))
"""


def import_probe(entry: str, modules: Sequence[str]) -> str:
    """Code for `python -c CODE ARGS...`: spma's `entry` module (cli, entry) runs with ARGS, then
    one JSON line says its exit code and which of `modules` the run imported."""
    return _PROBE % (entry, list(modules))
