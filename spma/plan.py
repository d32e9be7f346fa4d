"""The plan: one result object, one JSON envelope (spma-plan/1), one text renderer."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spma.errors import ProfileError, StalePlanError
from spma.model import ACTIONS, Action
from spma.policy import needs_reboot

PLAN_FORMAT = "spma-plan/1"


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


def envelope(*, backend: str, root: str, mode: str, profile_sha256: str, actions: Sequence[Action],
             installed: str, repositories: Sequence[Tuple[str, str]], notes: Sequence[str],
             options: Dict[str, Any]) -> Dict[str, Any]:  # fmt: skip
    actions = sorted(actions, key=Action.sort_key)
    return {
        "format": PLAN_FORMAT,
        "backend": backend,
        "root": root,
        "mode": mode,
        "inputs": {
            "profile": "sha256:" + profile_sha256,
            "installed": installed,
            "repositories": dict(repositories),
            "options": options_fingerprint(options),
        },
        "actions": [dict(a.to_json(), reboot=needs_reboot(a)) for a in actions],
        "summary": summarize(actions),
        "reboot_required": any(needs_reboot(a) or a.deferred for a in actions),
        "notes": list(notes),
    }


def load_plan(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ProfileError("%s: cannot read plan: %s" % (path, e.strerror or e)) from e
    except ValueError as e:
        raise ProfileError("%s: not a JSON plan: %s" % (path, e)) from e
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ProfileError("%s: not an %s document" % (path, PLAN_FORMAT))
    for key in ("inputs", "actions", "root", "backend"):
        if key not in data:
            raise ProfileError("%s: plan has no %r" % (path, key))
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


def _row(a: Dict[str, Any]) -> Tuple[str, ...]:
    frm, to = a.get("from") or "", a.get("to") or ""
    change = "%s -> %s" % (frm, to) if frm and to and frm != to else (to or frm)
    because = a["because"] + (" [deferred: %s]" % a["defer_reason"] if a.get("deferred") else "")
    return (a["name"], a["arch"], change, a["reason"], because)


def render_text(env: Dict[str, Any], *, applied: Optional[bool] = None) -> str:
    acts = env["actions"]
    lines = []
    head = "%s plan for %s (%s, %s)" % ("Applied" if applied else "Dry-run" if applied is None else "Recorded",
                                        env["root"], env["backend"], env["mode"])  # fmt: skip
    lines.append(head)
    if not acts:
        lines.append("Nothing to do: the installed packages match the profile.")
    rows = [_row(a) for a in acts]
    widths = [max([len(r[i]) for r in rows] + [0]) for i in range(4)]
    for kind in ACTIONS:
        group = [(a, r) for a, r in zip(acts, rows) if a["action"] == kind]
        if not group:
            continue
        lines.append("%s (%d):" % (kind.capitalize(), len(group)))
        for _a, r in group:
            lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    for note in env.get("notes", []):
        lines.append("note: %s" % note)
    s = env["summary"]
    parts = ["%d %s" % (s[k], k) for k in ACTIONS if s.get(k)]
    summary = ", ".join(parts) if parts else "no changes"
    if s.get("deferred"):
        summary += "; %d deferred to boot" % s["deferred"]
    if env.get("reboot_required"):
        summary += "; reboot required"
    lines.append("Summary: " + summary)
    return "\n".join(lines) + "\n"
