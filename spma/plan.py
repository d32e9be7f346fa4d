"""The plan: one result object, one JSON envelope (spma-plan/1), one text renderer."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from typing import Any, Dict, List, Sequence

from spma.errors import PlanFileError, StalePlanError
from spma.model import ACTIONS, Action, Solution

PLAN_FORMAT = "spma-plan/1"
# Changing these on a running host only takes effect at the next boot.
REBOOT_PATTERNS = ("kernel", "kernel-core", "kernel-rt*", "glibc", "glibc-common", "systemd", "systemd-libs",
                   "dbus", "dbus-broker", "dbus-daemon", "linux-firmware", "microcode_ctl", "libc6",
                   "linux-image-*", "udev")  # fmt: skip


def needs_reboot(action: Action) -> bool:
    if action.reboot_suggested:
        return True
    if action.action == "remove":
        return False
    return any(fnmatch.fnmatchcase(action.name, p) for p in REBOOT_PATTERNS)


def summarize(actions: Sequence[Action]) -> Dict[str, int]:
    out = {a: 0 for a in ACTIONS}
    for act in actions:
        out[act.action] += 1
    out["total"] = len(actions)
    out["deferred"] = sum(1 for a in actions if a.deferred)
    return out


def options_fingerprint(options: Dict[str, Any]) -> str:
    blob = json.dumps(options, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def envelope(*, backend: str, root: str, mode: str, profile_sha256: str, solution: Solution,
             options: Dict[str, Any]) -> Dict[str, Any]:  # fmt: skip
    actions = sorted(solution.actions, key=Action.sort_key)
    return {
        "format": PLAN_FORMAT,
        "backend": backend,
        "root": root,
        "mode": mode,
        "inputs": {
            "profile": "sha256:" + profile_sha256,
            "installed": solution.installed_fingerprint,
            "repositories": dict(solution.repo_fingerprints),
            "options": options_fingerprint(options),
        },
        "actions": [dict(a.to_json(), reboot=needs_reboot(a)) for a in actions],
        "summary": summarize(actions),
        "reboot_required": any(needs_reboot(a) or a.deferred for a in actions),
        "notes": list(solution.notes),
    }


def load_plan(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise PlanFileError("%s: cannot read plan: %s" % (path, e.strerror or e)) from e
    except ValueError as e:
        raise PlanFileError("%s: not a JSON plan: %s" % (path, e)) from e
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError("%s: not an %s document" % (path, PLAN_FORMAT))
    for key in ("inputs", "actions", "root", "backend"):
        if key not in data:
            raise PlanFileError("%s: plan has no %r" % (path, key))
    return data


def check_stale(saved: Dict[str, Any], current: Dict[str, Any], path: str) -> None:
    """Refuse a saved plan whose inputs or actions no longer match what was just computed."""
    changed: List[str] = []
    for key in ("backend", "root", "mode"):
        if saved.get(key) != current.get(key):
            changed.append("%s (%s -> %s)" % (key, saved.get(key), current.get(key)))
    si, ci = saved.get("inputs", {}), current["inputs"]
    for key in ("profile", "installed", "options", "errata"):
        if si.get(key) != ci.get(key):
            changed.append({"profile": "the profile", "installed": "the installed packages",
                            "options": "the command-line options", "errata": "the errata version set"}[key])  # fmt: skip
    srepos, crepos = si.get("repositories", {}), ci.get("repositories", {})
    for name in sorted(set(srepos) | set(crepos)):
        if srepos.get(name) != crepos.get(name):
            changed.append("repository %s metadata" % name)
    if not changed and saved.get("actions") != current["actions"]:
        changed.append("the computed actions")
    if changed:
        raise StalePlanError(
            "%s is stale: %s changed since it was made" % (path, ", ".join(changed)),
            hint="run `spma plan --out` again, review it, and apply the new plan",
        )
