"""The agent's no-op check on dnf: with local (file://) repositories it reads repomd.xml in
place and never imports dnf, and it still notices every input that moved (the repository
republished, the rpmdb, the profile)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.rpmrepo import make_repo, parse
from tests.conftest import SNAP1
from tests.helpers import REPO_ROOT, Host, import_probe, profile_tree

pytestmark = pytest.mark.dnf
pytest.importorskip("dnf")

_PROBE = """
import json, sys
import spma
r = spma.reconcile(sys.argv[1], root=sys.argv[2], agent=True, running_kernel="")
print(json.dumps({"noop": r.noop, "dnf": "dnf" in sys.modules, "hawkey": "hawkey" in sys.modules}))
"""


def _agent(host: Host, profile: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", _PROBE, str(profile), str(host.root)], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), HOME=str(host.base)))  # fmt: skip
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout.splitlines()[-1]))


def test_noop_reads_local_repositories_in_place_and_notices_a_republished_one(tmp_path: Path):
    repo = make_repo(tmp_path / "os", SNAP1)
    host = Host(tmp_path / "h")
    prof = host.write(profile_tree({"bar": None}, {"os": str(repo)}))
    first = _agent(host, prof)
    assert first == {"noop": False, "dnf": True, "hawkey": True}
    # nothing moved: the fast path answers without dnf or hawkey
    assert _agent(host, prof) == {"noop": True, "dnf": False, "hawkey": False}
    # the snapshot is republished with one more package: no longer a no-op
    make_repo(repo, SNAP1 + [parse("extra-1.0-1.noarch")])
    assert _agent(host, prof)["noop"] is False
    assert _agent(host, prof)["noop"] is True


def test_noop_with_a_remote_or_templated_url_still_asks_dnf(tmp_path: Path):
    repo = make_repo(tmp_path / "os", SNAP1)
    # a dnf variable in the URL: only dnf knows what it expands to
    tmpl = tmp_path / "os-$basearch"
    shutil.copytree(repo, tmp_path / "os-x86_64")
    host = Host(tmp_path / "h")
    prof = host.write(profile_tree({"bar": None}, {"os": str(tmpl)}))
    assert _agent(host, prof)["noop"] is False
    again = _agent(host, prof)
    assert again["noop"] is True and again["dnf"] is True


# -- the `spma` command's own no-op run (spma.entry, spma.quick) -------------------------------
_ENTRY = import_probe(
    "entry", ["click", "spma.run", "spma.profile", "spma.model", "dnf", "hawkey", "apt", "apt_pkg"]
)
_MASK = re.compile(r"seconds=\S+")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO_ROOT))


def _state(root: Path) -> dict:
    doc = json.loads((root / "var/lib/spma/state.json").read_text())
    return {k: v for k, v in doc.items() if k not in ("time", "duration")}


def _both(root: Path, profile: Path, *extra: str) -> tuple:
    """The same agent run through spma.cli and through the `spma` command's entry point: each
    one's (exit code, log lines with the timings masked, state entry), and what the entry
    point imported."""
    args = ["apply", str(profile), "--root", str(root), "--agent", "--running-kernel", ""] + list(extra)
    cli = subprocess.run(
        [sys.executable, "-m", "spma.cli"] + args, capture_output=True, text=True, env=_env()
    )
    seen_cli = (cli.returncode, _MASK.sub("seconds=S", cli.stderr), _state(root))
    ent = subprocess.run([sys.executable, "-c", _ENTRY] + args, capture_output=True, text=True, env=_env())
    probe = json.loads(ent.stdout.splitlines()[-1])
    seen_entry = (probe["code"], _MASK.sub("seconds=S", ent.stderr), _state(root))
    return seen_cli, seen_entry, probe["imported"]


def _entry(root: Path, profile: Path, *extra: str) -> tuple:
    """An agent run through the `spma` command's entry point: its log and what it imported."""
    args = ["apply", str(profile), "--root", str(root), "--agent", "--running-kernel", ""] + list(extra)
    ent = subprocess.run([sys.executable, "-c", _ENTRY] + args, capture_output=True, text=True, env=_env())
    probe = json.loads(ent.stdout.splitlines()[-1])
    assert probe["code"] == 0, ent.stderr
    return ent.stderr, probe["imported"]


def test_the_command_answers_a_dnf_no_op_without_click_or_the_model(tmp_path: Path):
    repo = make_repo(tmp_path / "os", SNAP1)
    host = Host(tmp_path / "h")
    prof = host.write(profile_tree({"bar": None}, {"os": str(repo)}))
    log, imported = _entry(host.root, prof)  # the first run solves and installs
    assert "step=transaction" in log and "click" in imported
    cli, entry, imported = _both(host.root, prof)
    assert "step=fast-path unchanged=True" in cli[1] and cli[2]["result"] == "unchanged"
    assert entry == cli  # the same exit, log lines and state entry
    assert imported == []
    # the snapshot republished: not a no-op, and the entry point leaves the run to spma.cli
    make_repo(repo, SNAP1 + [parse("extra-1.0-1.noarch")])
    log, imported = _entry(host.root, prof)
    assert "click" in imported and "step=fast-path unchanged=False" in log and "step=solve" in log, log
    assert _entry(host.root, prof)[1] == []
    # the rpmdb changed behind spma's back
    subprocess.run(
        ["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-e", "--nodeps", "bar"],
        check=True,
        capture_output=True,
    )
    log, imported = _entry(host.root, prof)
    assert "step=fast-path unchanged=False" in log and "step=transaction" in log and "click" in imported, log
    # the profile changed
    prof2 = host.write(profile_tree({"bar": None, "foo": None}, {"os": str(repo)}))
    log, imported = _entry(host.root, prof2)
    assert "step=fast-path" not in log or "unchanged=False" in log
    assert "step=done result=applied" in log and "click" in imported, log
    assert _both(host.root, prof2)[2] == []


@pytest.mark.parametrize(
    "argv, recognised",
    [
        (["apply", "p.json", "--agent"], True),
        (["apply", "--agent", "--root=/srv/r", "--lock-timeout", "600", "p.json", "-q", "--boot"], True),
        (["apply", "--agent", "p.json", "--splay", "0", "--format", "text", "--running-kernel", ""], True),
        (["apply", "p.json"], False),  # not an agent run
        (["plan", "p.json", "--agent"], False),
        (["--debug", "apply", "p.json", "--agent"], False),
        (["apply", "p.json", "--agent", "--splay", "300"], False),  # sleeps before the lock
        (["apply", "p.json", "--agent", "--no-fast-path"], False),
        (["apply", "p.json", "--agent", "--plan", "x.json"], False),
        (["apply", "p.json", "--agent", "--errata", "set.json"], False),
        (["apply", "p.json", "--agent", "--format", "json"], False),
        (["apply", "p.json", "--agent", "--root", "/a", "--root", "/b"], False),  # repeated
        (["apply", "p.json", "--agent", "--root"], False),  # no value
        (["apply", "p.json", "--agent", "--lock-timeout", "soon"], False),  # click's error
        (["apply", "p.json", "--agent", "--backend", "zypper"], False),
        (["apply", "p.json", "q.json", "--agent"], False),
        (["apply", "-", "--agent"], False),  # the profile on stdin
        (["apply", "p.json", "--agent", "-vq"], False),
        (["apply", "p.json", "--agent", "--help"], False),
    ],
)
def test_the_command_recognises_only_a_plain_agent_line(argv, recognised):
    from spma.entry import agent_noop_args

    assert (agent_noop_args(argv) is not None) is recognised


def test_what_spma_quick_restates_is_what_the_modules_say():
    from backends.apt import dpkgstate
    from backends.dnf import base, duplicates
    from spma import faults, model, profile, quick, state

    assert quick.ACTIONS == model.ACTIONS and quick.STATE_FORMAT == state.STATE_FORMAT
    assert quick.MAX_STATE_BYTES == state.MAX_STATE_BYTES and quick.MAX_STATUS == dpkgstate.MAX_STATUS
    assert quick.MAX_PROFILE_BYTES == profile.MAX_PROFILE_BYTES
    assert set(faults.DPKG_UNFINISHED) == quick.DPKG_UNFINISHED
    assert quick.INSTALLONLY == duplicates.INSTALLONLY and quick._DBPATHS == base._DBPATHS
    assert quick.SPMA_KEYS | {"errata"} == profile._SPMA_KEYS | profile._COMPONENT_GENERIC
    assert not quick.SPMA_KEYS & set(profile._SPMA_LEGACY)


@pytest.mark.parametrize("rdir", ["/srv/mirror/dists/bookworm/", "/tmp/a_b/c-d+e/./", "/x/y.z/dists/s_1/"])
def test_list_file_names_are_apts(rdir: str):
    apt_pkg = pytest.importorskip("apt_pkg")
    from spma.quick import list_prefix

    assert list_prefix(rdir) == apt_pkg.uri_to_filename("file:" + rdir)


_API = """
import json, sys
import spma
r = spma.reconcile(sys.argv[1], root=sys.argv[2], agent=True, running_kernel="", mode="boot")
print(json.dumps({"noop": r.noop, "apt_pkg": "apt_pkg" in sys.modules}))
"""


@pytest.mark.apt
def test_the_command_answers_an_apt_no_op_from_the_lists_in_place(tmp_path: Path):
    pytest.importorskip("apt_pkg")
    from tests.builders.debrepo import deb, dpkg_installed
    from tests.builders.debrepo import make_repo as make_deb_repo

    old = [deb("bar=1.0-1"), deb("foo=1.0-1")]
    flat = make_deb_repo(tmp_path / "flat_repo", old)  # an _ in the path: apt quotes it in its lists
    suite = make_deb_repo(tmp_path / "suite", old, suite="snap")
    host = Host(tmp_path / "h", boot=True)
    tree = profile_tree(
        {"bar": None}, {"flat": str(flat), "suite": "file://%s snap main" % suite}, packager="apt"
    )
    prof = host.write(tree)
    log, imported = _entry(host.root, prof, "--boot")
    assert "step=transaction" in log and "apt_pkg" in imported, log
    cli, entry, imported = _both(host.root, prof, "--boot")
    assert (
        "step=fast-path unchanged=True" in cli[1]
        and cli[2]["result"] == "unchanged"
        and cli[2]["mode"] == "boot"
    )
    assert entry == cli and imported == []
    # the Python API's no-op reads the same lists in place: no python-apt
    api = subprocess.run([sys.executable, "-c", _API, str(prof), str(host.root)], capture_output=True, text=True,
                         env=_env())  # fmt: skip
    assert json.loads(api.stdout.splitlines()[-1]) == {"noop": True, "apt_pkg": False}, api.stderr
    # a source republished with a newer bar: apt's copy of its Release differs, apt updates
    make_deb_repo(suite, old + [deb("bar=2.0-1")], suite="snap")
    log, imported = _entry(host.root, prof, "--boot")
    assert "step=fast-path unchanged=False" in log and "apt_pkg" in imported, log
    assert dpkg_installed(host.root)["bar"] == "2.0-1"
    assert _entry(host.root, prof, "--boot")[1] == []
    # dpkg left a package unfinished: the full run repairs it
    status = host.root / "var/lib/dpkg/status"
    status.write_text(status.read_text().replace("install ok installed", "install ok half-configured", 1))
    log, imported = _entry(host.root, prof, "--boot")
    assert "step=fast-path unchanged=False unfinished=1" in log and "apt_pkg" in imported, log
    # a source that signs its Release is verified by apt update on every run, never read in place
    assert _both(host.root, prof, "--boot")[2] == []
    from spma.quick import local_apt_fingerprints

    lists = str(host.root / "var/lib/spma/cache/apt/lists")
    urls = [("flat", ("file://%s" % flat,)), ("suite", ("file://%s snap main" % suite,))]
    assert local_apt_fingerprints(urls, lists, []) is not None
    assert local_apt_fingerprints(urls, lists, ["suite"]) is None


def test_a_failure_while_recording_the_no_op_is_reported_as_the_cli_reports_it(monkeypatch, capsys):
    from spma import entry, quick
    from spma.errors import SafetyError

    def fail(_noop: object) -> None:
        raise SafetyError("the state file spma.json is a link out of the root", hint="remove the link")

    import logging

    monkeypatch.setattr(quick, "check", lambda *a: object())
    monkeypatch.setattr(quick, "record", fail)
    # the entry point sets up the agent's logging: put it back after
    saved = [
        (lg, list(lg.handlers), lg.propagate, lg.level) for lg in map(logging.getLogger, ("spma", "dnf"))
    ]
    try:
        with pytest.raises(SystemExit) as ei:
            entry._noop(["apply", "p.json", "--agent"])
    finally:
        for lg, handlers, propagate, level in saved:
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.setLevel(level)
    assert ei.value.code == 7
    err = capsys.readouterr().err
    assert "step=error exit=7" in err and "remove the link" in err and "Traceback" not in err


def test_choosing_the_backend_of_a_profile_without_packager_imports_nothing_heavy(tmp_path: Path):
    """The agent's no-op decides the backend (os-release or package database of the root) with the
    leaf module spma.family: a profile without a packager must not pull in spma.backend/model."""
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("")
    probe = (
        "import json, sys\nfrom spma import quick\nfrom spma.family import resolve_backend_name\n"
        "print(json.dumps([resolve_backend_name('', 'auto', sys.argv[1])[0],"
        " sorted(m for m in ('spma.backend', 'spma.model', 'dataclasses') if m in sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, env=_env()
    )
    assert json.loads(out.stdout) == ["apt", []], out.stderr
