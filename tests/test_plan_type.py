"""The pure tier: the Plan type and its spma-plan/1 envelope, the stale check between two
Plans, and the format versions of state.json and pending.json (checked on read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spma import deferral, state
from spma.errors import PlanFileError, StalePlanError, StateFormatError
from spma.model import Action
from spma.plan import PLAN_FORMAT, Inputs, Plan, check_stale, load_plan

INPUTS = Inputs("sha256:p", "sha256:i", (("b", "sha256:2"), ("a", "sha256:1")), "sha256:o", None)
ACTIONS = (
    Action("upgrade", "glibc", "x86_64", "2.34-1", "2.34-2", "sync", "repositories offer 2.34-2",
           deferred=True, defer_reason="boot-only glibc*", reboot=True),
    Action("install", "app", "noarch", None, "1.0-1", "declared", "declared"),
    Action("remove", "old", "noarch", "1-1", None, "unmanaged", "not declared"),
)  # fmt: skip
PLAN = Plan("dnf", "/r", "live", INPUTS, ACTIONS, ("a note",))


def test_round_trip_through_the_envelope() -> None:
    doc = PLAN.to_json()
    assert doc["format"] == PLAN_FORMAT
    assert [a["name"] for a in doc["actions"]] == ["app", "glibc", "old"]  # plan order
    assert doc["summary"] == {"install": 1, "upgrade": 1, "downgrade": 0, "reinstall": 0, "obsolete": 0,
                              "remove": 1, "total": 3, "deferred": 1}  # fmt: skip
    assert doc["reboot_required"] is True and doc["inputs"]["repositories"] == {
        "a": "sha256:1",
        "b": "sha256:2",
    }
    back = Plan.from_json(json.loads(json.dumps(doc)))
    assert back == PLAN and back.to_json() == doc
    assert back.deferred == (ACTIONS[0],) and [a.name for a in back.live] == ["app", "old"]


def test_envelope_keys_are_the_contract() -> None:
    doc = PLAN.to_json()
    assert sorted(doc) == ["actions", "backend", "format", "inputs", "mode", "notes", "reboot_required",
                           "root", "summary"]  # fmt: skip
    assert sorted(doc["actions"][0]) == ["action", "arch", "because", "defer_reason", "deferred", "from",
                                         "installsize", "name", "reason", "reboot", "repository", "size",
                                         "to"]  # fmt: skip


@pytest.mark.parametrize(
    "current,changed",
    [
        (Plan("dnf", "/r", "live", INPUTS, ACTIONS, ("other note",)), None),
        (Plan("dnf", "/r", "boot", INPUTS, ACTIONS), "mode (live -> boot)"),
        (Plan("dnf", "/r", "live", Inputs("sha256:X", "sha256:i", INPUTS.repositories, "sha256:o"), ACTIONS),
         "the profile"),
        (Plan("dnf", "/r", "live", Inputs("sha256:p", "sha256:i", (("a", "sha256:9"),), "sha256:o"), ACTIONS),
         "repository a metadata, repository b metadata"),
        (Plan("dnf", "/r", "live", Inputs("sha256:p", "sha256:i", INPUTS.repositories, "sha256:o", "e"), ACTIONS),
         "the errata version set"),
        (Plan("dnf", "/r", "live", INPUTS, ACTIONS[1:]), "the computed actions"),
    ],
)  # fmt: skip
def test_stale_check_compares_two_plans(current: Plan, changed: str) -> None:
    if changed is None:
        check_stale(PLAN, current, "p.json")
        return
    with pytest.raises(StalePlanError) as ei:
        check_stale(PLAN, current, "p.json")
    assert "p.json is stale: %s changed" % changed in str(ei.value)


def test_load_plan_refuses_what_is_not_a_plan(tmp_path: Path) -> None:
    good = tmp_path / "p.json"
    good.write_text(json.dumps(PLAN.to_json()))
    assert load_plan(str(good)) == PLAN
    for text in ("{", json.dumps({"format": "x"}), json.dumps(dict(PLAN.to_json(), actions=[{"name": 1}]))):
        good.write_text(text)
        with pytest.raises(PlanFileError):
            load_plan(str(good))


def test_state_file_of_another_format_is_refused_with_a_hint(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert state.read_state(root) is None
    state.record_state(root, {"result": "applied"})
    assert state.read_state(root)["format"] == state.STATE_FORMAT  # type: ignore[index]
    state.write_json(
        str(tmp_path / "var/lib/spma/state.json"), {"format": "spma-state/0", "result": "applied"}
    )
    with pytest.raises(StateFormatError) as ei:
        state.read_state(root)
    assert "spma-state/0" in str(ei.value) and "another spma version" in ei.value.hint


def test_pending_file_of_another_format_is_refused_at_boot(tmp_path: Path) -> None:
    root = str(tmp_path)
    pjson = tmp_path / "var/lib/spma/pending.json"
    state.write_json(
        str(pjson), {"format": "spma-pending/1", "status": "pending", "changes": [{"install": "x.rpm"}]}
    )
    with pytest.raises(StateFormatError) as ei:
        deferral.boot(root)
    assert "spma-pending/1" in str(ei.value) and ei.value.exit_code == 8
    with pytest.raises(StateFormatError):
        deferral.status(root)
    assert json.loads(pjson.read_text())["format"] == "spma-pending/1"  # not half-used, not rewritten
    pjson.unlink()
    assert deferral.boot(root) == {"result": "nothing-pending"} and deferral.status(root) is None
