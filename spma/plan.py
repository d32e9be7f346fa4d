"""The plan: one frozen `Plan` from solve to render, one JSON envelope (spma-plan/1) with
`to_json`/`from_json`, the stale check between two Plans, and the text renderer (which reads
the envelope, so every renderer sees the same document)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from spma.errors import PlanFileError, StalePlanError
from spma.model import ACTIONS, Action

PLAN_FORMAT = "spma-plan/1"


def options_fingerprint(options: Dict[str, Any]) -> str:
    blob = json.dumps(options, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Inputs:
    """What a plan was computed from; a saved plan is stale once any of it moved."""

    profile: str
    installed: str
    repositories: Tuple[Tuple[str, str], ...]
    options: str
    errata: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "repositories", tuple(sorted(self.repositories)))

    def to_json(self) -> Dict[str, Any]:
        return {
            "profile": self.profile,
            "installed": self.installed,
            "repositories": dict(self.repositories),
            "options": self.options,
            "errata": self.errata,
        }

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> Inputs:
        return cls(
            profile=d["profile"],
            installed=d["installed"],
            repositories=tuple(sorted(dict(d.get("repositories") or {}).items())),
            options=d["options"],
            errata=d.get("errata"),
        )

    def changed_since(self, saved: Inputs) -> List[str]:
        out = [text for key, text in (("profile", "the profile"), ("installed", "the installed packages"),
                                      ("options", "the command-line options"), ("errata", "the errata version set"))
               if getattr(saved, key) != getattr(self, key)]  # fmt: skip
        mine, theirs = dict(self.repositories), dict(saved.repositories)
        out += [
            "repository %s metadata" % n
            for n in sorted(set(mine) | set(theirs))
            if mine.get(n) != theirs.get(n)
        ]
        return out


def summarize(actions: Tuple[Action, ...]) -> Dict[str, int]:
    out = {a: 0 for a in ACTIONS}
    for act in actions:
        out[act.action] += 1
    out["total"] = len(actions)
    out["deferred"] = sum(1 for a in actions if a.deferred)
    return out


@dataclass(frozen=True)
class Plan:
    """The result of one solve: inputs, the actions (live and deferred), notes."""

    backend: str
    root: str
    mode: str
    inputs: Inputs
    actions: Tuple[Action, ...]
    notes: Tuple[str, ...] = ()
    # the root's own settings that contradict the profile (spma.preflight records), if any
    host_settings: Tuple[Dict[str, Any], ...] = field(default=(), compare=False)
    # after apply: what the package database holds that the plan did not say (spma.convergence)
    post_apply: Optional[Dict[str, Any]] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(sorted(self.actions, key=Action.sort_key)))

    @property
    def live(self) -> Tuple[Action, ...]:
        return tuple(a for a in self.actions if not a.deferred)

    @property
    def deferred(self) -> Tuple[Action, ...]:
        return tuple(a for a in self.actions if a.deferred)

    @property
    def summary(self) -> Dict[str, int]:
        return summarize(self.actions)

    @property
    def reboot_required(self) -> bool:
        return any(a.reboot or a.deferred for a in self.actions)

    def to_json(self) -> Dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "backend": self.backend,
            "root": self.root,
            "mode": self.mode,
            "inputs": self.inputs.to_json(),
            "actions": [a.to_json() for a in self.actions],
            "summary": self.summary,
            "reboot_required": self.reboot_required,
            "notes": list(self.notes),
            **({"host_settings": list(self.host_settings)} if self.host_settings else {}),
            **({"post_apply": self.post_apply} if self.post_apply else {}),
        }

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> Plan:
        return cls(
            backend=d["backend"],
            root=d["root"],
            mode=d.get("mode", "live"),
            inputs=Inputs.from_json(d["inputs"]),
            actions=tuple(Action.from_json(a) for a in d["actions"]),
            notes=tuple(d.get("notes", ())),
            host_settings=tuple(d.get("host_settings", ())),
            post_apply=d.get("post_apply"),
        )


def load_plan(path: str) -> Plan:
    from spma.rootfs import read_bounded
    from spma.state import MAX_STATE_BYTES

    try:
        with open(path, "rb") as f:
            # bounded: /dev/zero or a huge file given as a plan is an error, not a memory error
            data = json.loads(read_bounded(f.fileno(), MAX_STATE_BYTES, path).decode("utf-8"))
    except OSError as e:
        raise PlanFileError("%s: cannot read plan: %s" % (path, e.strerror or e)) from e
    except (ValueError, RecursionError) as e:
        raise PlanFileError("%s: not a JSON plan: %s" % (path, e)) from e
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError("%s: not an %s document" % (path, PLAN_FORMAT))
    for key in ("inputs", "actions", "root", "backend"):
        if key not in data:
            raise PlanFileError("%s: plan has no %r" % (path, key))
    try:
        return Plan.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise PlanFileError("%s: not a valid %s document: %s" % (path, PLAN_FORMAT, e)) from e


def check_stale(saved: Plan, current: Plan, path: str) -> None:
    """Refuse a saved plan whose inputs or actions no longer match what was just computed."""
    changed = ["%s (%s -> %s)" % (k, getattr(saved, k), getattr(current, k))
               for k in ("backend", "root", "mode") if getattr(saved, k) != getattr(current, k)]  # fmt: skip
    changed += current.inputs.changed_since(saved.inputs)
    if not changed and saved.actions != current.actions:
        changed.append("the computed actions")
    if changed:
        raise StalePlanError(
            "%s is stale: %s changed since it was made" % (path, ", ".join(changed)),
            hint="run `spma plan --out` again, review it, and apply the new plan",
        )
