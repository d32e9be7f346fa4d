"""After apply, spma compares the package database with the plan's final set; a difference is
reported and recorded in state and history, never ignored."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from spma import run, state
from spma.convergence import difference, planned_final
from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.dnf


def test_planned_final_follows_every_action() -> None:
    before = {("a", "x86_64", "1-1"), ("b", "noarch", "1-1"), ("k", "x86_64", "1-1"), ("o", "i686", "1-1")}
    acts = [
        {"action": "upgrade", "name": "a", "arch": "x86_64", "from": "1-1", "to": "2-1"},
        {"action": "remove", "name": "b", "arch": "noarch", "from": "1-1", "to": None},
        {"action": "install", "name": "k", "arch": "x86_64", "from": None, "to": "2-1"},  # install-only
        {"action": "obsolete", "name": "o", "arch": "i686", "from": "1-1", "to": None},
        {"action": "install", "name": "n", "arch": "noarch", "from": None, "to": "1-1"},
    ]
    assert planned_final(before, acts) == {("a", "x86_64", "2-1"), ("k", "x86_64", "1-1"),
                                           ("k", "x86_64", "2-1"), ("n", "noarch", "1-1")}  # fmt: skip
    assert difference({("a", "x86_64", "2-1")}, frozenset({("a", "x86_64", "2-1")})) is None
    assert difference({("a", "x86_64", "2-1")}, frozenset({("z", "noarch", "1-1")})) == {
        "missing": ["a-2-1.x86_64"],
        "unexpected": ["z-1-1.noarch"],
    }


def test_a_database_that_differs_from_the_plan_is_reported_and_recorded(
    tmp_path: Path, repos: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another tool installs a package (a real rpm into the real root) after spma planned and just
    before its transaction runs: the transaction succeeds, and the check names what spma did not
    plan."""
    from spma.backends.dnf import DnfSession

    host = Host(tmp_path)
    tree = profile_tree({"foo": None}, {"snap1": repos["snap1"]})
    intruder = os.path.join(repos["snap1"], "tool-1.0-1.noarch.rpm")
    real_execute = DnfSession.execute
    done = []

    def meddle(self: DnfSession, progress: object = None) -> None:
        done.append(1)
        subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-i", "--nodeps",
                        intruder], check=True, capture_output=True)  # fmt: skip
        real_execute(self, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(DnfSession, "execute", meddle)
    res = run.apply(str(host.write(tree)), host.opts())
    monkeypatch.undo()
    assert done
    assert res.applied
    name = "tool-1.0-1.noarch"
    assert res.plan["post_apply"]["unexpected"] == [name]
    assert res.plan["post_apply"]["missing"] == []
    assert any("differs from the plan" in n for n in res.plan["notes"])
    last = state.read_json(os.path.join(state.state_dir(str(host.root)), "state.json"))
    assert last["post_apply"]["unexpected"] == [name]
    hist = state.list_history(str(host.root))
    assert json.loads(Path(hist[-1]).read_text())["post_apply"]["unexpected"] == [name]
    # the status command says so too
    out = host.cli("status")
    assert "differs from the plan" in out.stdout, out
    # and the next run plans from the real state: the intruder goes
    again = host.plan(tree)
    assert [(a["action"], a["name"]) for a in again.plan["actions"]] == [("remove", "tool")]


def test_a_clean_apply_records_no_difference(tmp_path: Path, repos: Dict[str, str]) -> None:
    host = Host(tmp_path)
    res = host.apply(profile_tree({"bar": None}, {"snap1": repos["snap1"]}))
    assert res.applied and "post_apply" not in res.plan
    last = state.read_json(os.path.join(state.state_dir(str(host.root)), "state.json"))
    assert "post_apply" not in last
