"""The one renderer: plan text, status, history and the JSON error envelope.

Everything here takes plain JSON documents (the spma-plan/1 envelope, the spma-status/1
document, history entries), so what a user reads and what `--format json` prints come from the
same data.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

ERROR_FORMAT = "spma-error/1"
# the plan's action groups, in the order dnf shows them; deferred changes get their own group
GROUPS = (
    ("install", "Installing"),
    ("upgrade", "Upgrading"),
    ("downgrade", "Downgrading"),
    ("reinstall", "Reinstalling"),
    ("obsolete", "Replacing (obsoletes)"),
    ("remove", "Removing"),
)
_NOUNS = {"install": "install", "upgrade": "upgrade", "downgrade": "downgrade", "reinstall": "reinstall",
          "obsolete": "obsolete", "remove": "removal"}  # fmt: skip
_COLOURS = {"remove": "31", "downgrade": "33", "obsolete": "33"}  # red, yellow
MIN_WIDTH = 60


@dataclass(frozen=True)
class Style:
    """How the terminal shows text: its width and whether colour is wanted."""

    width: Optional[int] = None  # None: not a terminal, nothing is cut
    colour: bool = False

    def paint(self, text: str, code: Optional[str]) -> str:
        return "\x1b[%sm%s\x1b[0m" % (code, text) if self.colour and code else text


def terminal_style(stream: Any) -> Style:
    """Colour only on a terminal and never with NO_COLOR set (no-color.org: any non-empty
    value); the terminal's width, or no limit when the output goes to a file or a pipe."""
    tty = bool(getattr(stream, "isatty", lambda: False)())
    colour = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    width = None
    if tty:
        import shutil  # not at import: a run whose output is a pipe or a file never needs it

        width = max(MIN_WIDTH, shutil.get_terminal_size((100, 24)).columns)
    return Style(width=width, colour=colour)


def human_size(n: Optional[int]) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "k", "M", "G"):
        if size < 1024 or unit == "G":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024
    return "%d B" % n  # pragma: no cover - the loop always returns


def _version(a: Dict[str, Any]) -> str:
    frm, to = a.get("from") or "", a.get("to") or ""
    if frm and to and frm != to:
        return "%s -> %s" % (frm, to)
    return to or frm


def _why(a: Dict[str, Any]) -> str:
    """reason and because without saying the same word twice ("declared  declared")."""
    reason, because = a.get("reason") or "", a.get("because") or ""
    if not because or because == reason:
        return reason
    if because.split(" ", 1)[0] == reason:
        return because
    return "%s: %s" % (reason, because)


def _fit(cells: List[str], widths: List[int], last_width: Optional[int]) -> str:
    out = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths))
    tail = cells[-1]
    if last_width is not None and len(tail) > last_width:
        tail = tail[: max(0, last_width - 3)] + "..."
    return (" " + out + "  " + tail).rstrip()


def _columns(acts: Sequence[Dict[str, Any]]) -> Tuple[List[str], List[str]]:
    """The header and the keys of the columns this plan can fill: Repository and Size only when
    the backend reported them."""
    head = ["Package", "Arch", "Version"]
    keys = ["name", "arch", "version"]
    if any(a.get("repository") for a in acts):
        head.append("Repository")
        keys.append("repository")
    if any(a.get("size") is not None for a in acts):
        head.append("Size")
        keys.append("size")
    return head + ["Why"], keys + ["why"]


def _cell(a: Dict[str, Any], key: str) -> str:
    if key == "version":
        return _version(a)
    if key == "why":
        why = _why(a)
        return "%s (%s)" % (why, a["defer_reason"]) if a.get("deferred") and a.get("defer_reason") else why
    if key == "size":
        return human_size(a.get("size"))
    if key == "action":  # only the deferred group needs it: the other groups are named by it
        return str(a["action"]) if a.get("deferred") else ""
    return str(a.get(key) or "")


def plan_text(env: Dict[str, Any], *, applied: Optional[bool] = None, style: Optional[Style] = None,
              hints: Sequence[str] = ()) -> str:  # fmt: skip
    """A plan as a dnf user expects it: a header row, one group per action, the changes that
    wait for boot in their own group, and totals."""
    style = style or Style()
    acts: List[Dict[str, Any]] = list(env.get("actions", []))
    title = "Applied" if applied else "Dry-run" if applied is None else "Recorded"
    lines = ["%s plan for %s (%s backend, %s mode)" % (title, env["root"], env["backend"], env["mode"])]
    if not acts:
        lines.append("Nothing to do: the installed packages match the profile.")
    else:
        head, keys = _columns(acts)
        deferred = [a for a in acts if a.get("deferred")]
        if deferred:  # the deferred group also says what each change is
            head.insert(3, "Action")
            keys.insert(3, "action")
        rows = [[_cell(a, k) for k in keys] for a in acts]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]
        # a narrow terminal keeps the Why column readable: Repository, then Size, go first
        for optional in ("repository", "size"):
            if style.width is None or sum(widths) + 2 * len(widths) + 21 <= style.width:
                break
            if optional in keys:
                i = keys.index(optional)
                del head[i], keys[i], widths[i]
                rows = [r[:i] + r[i + 1 :] for r in rows]
        last = None if style.width is None else max(20, style.width - sum(widths) - 2 * len(widths) - 1)
        lines.append(style.paint(_fit(head, widths, last), "1"))
        for kind, label in GROUPS:
            group = [(a, r) for a, r in zip(acts, rows) if a["action"] == kind and not a.get("deferred")]
            if group:
                lines.append("%s:" % label)
                lines.extend(style.paint(_fit(r, widths, last), _COLOURS.get(kind)) for _a, r in group)
        if deferred:
            lines.append("Deferred to boot (applied by `spma boot` at the next boot):")
            for a, r in zip(acts, rows):
                if a.get("deferred"):
                    lines.append(style.paint(_fit(r, widths, last), _COLOURS.get(a["action"])))
    for note in env.get("notes", []):
        lines.append("note: %s" % note)
    lines.extend(_totals(env, acts))
    for hint in hints:
        lines.append("hint: %s" % hint)
    return "\n".join(lines) + "\n"


def _totals(env: Dict[str, Any], acts: Sequence[Dict[str, Any]]) -> List[str]:
    s = env.get("summary", {})
    parts = []
    for kind, _label in GROUPS:
        n = s.get(kind, 0)
        if n:
            noun = _NOUNS[kind]
            parts.append("%d %s%s" % (n, noun, "" if n == 1 else "s"))
    summary = ", ".join(parts) if parts else "no changes"
    if s.get("deferred"):
        summary += "; %d deferred to boot" % s["deferred"]
    if env.get("reboot_required"):
        summary += "; reboot required"
    out = ["Summary: " + summary]
    sized = [a for a in acts if a.get("size") is not None and a["action"] != "remove"]
    if sized:
        dl = sum(int(a["size"]) for a in sized)
        unknown = len([a for a in acts if a["action"] != "remove"]) - len(sized)
        out.append(
            "Total download size: %s%s" % (human_size(dl), " (%d unknown)" % unknown if unknown else "")
        )
    # as dnf words it: what the new packages take on disk, and what the removals free
    added = [
        int(a["installsize"]) for a in acts if a.get("installsize") is not None and a["action"] != "remove"
    ]
    freed = [
        int(a["installsize"]) for a in acts if a.get("installsize") is not None and a["action"] == "remove"
    ]
    if added:
        out.append("Installed size: %s" % human_size(sum(added)))
    if freed:
        out.append("Freed space: %s" % human_size(sum(freed)))
    return out


def fresh_root_hint(env: Dict[str, Any]) -> Optional[str]:
    """On a root with nothing installed yet, a live run defers most of a distribution (the C
    library, systemd, ...) to boot; an image builder almost always wants --boot."""
    if env.get("mode") != "live":
        return None
    acts = env.get("actions", [])
    deferred = [a for a in acts if a.get("deferred")]
    fresh = acts and all(a["action"] == "install" for a in acts)
    if not fresh or not deferred:
        return None
    if len(deferred) * 2 >= len(acts):
        return "most changes wait for boot; use --boot to install a new root at once"
    return "%d of %d changes wait for boot; use --boot to install a new root at once" % (
        len(deferred), len(acts))  # fmt: skip


def status_text(st: Dict[str, Any]) -> str:
    last = st.get("last_run")
    if not last:
        return "No spma run recorded under %s\n" % st["root"]
    s = last.get("summary", {})
    rows = [
        ("Last run", str(last.get("time"))),
        ("Result", "%s (%s backend, %s mode), %s changes" % (
            last.get("result"), last.get("backend"), last.get("mode"), s.get("total", 0))),
    ]  # fmt: skip
    if last.get("error"):
        rows.append(("Error", str(last["error"])))
    if last.get("post_apply"):
        from spma.convergence import describe

        rows.append(("Warning", describe(last["post_apply"])))
    pend = st.get("pending_boot")
    if pend:
        rows.append(("Pending at boot", "%d changes, %s%s (%s)" % (
            pend["actions"], pend["status"], ", armed" if pend["armed"] else "", "; ".join(pend["reasons"]))))  # fmt: skip
    lines = ["%-16s %s" % (k + ":", v) for k, v in rows]
    lines.append("Reboot required" if st.get("reboot_required") else "No reboot required")
    return "\n".join(lines) + "\n"


def history_rows(paths: Sequence[str], read: Any) -> List[Dict[str, Any]]:
    """One row per kept history entry (`read` loads one JSON file, None when unreadable)."""
    rows = []
    for path in paths:
        stem = os.path.basename(path)[: -len(".json")]
        doc = read(path)
        when = _stamp_time(stem)
        if not isinstance(doc, dict):
            rows.append({"id": stem, "time": when, "mode": "?", "result": "unreadable", "changes": ""})
            continue
        acts = doc.get("actions") or []
        counts: Dict[str, int] = {}
        for a in acts if isinstance(acts, list) else []:
            if isinstance(a, dict):
                counts[str(a.get("action"))] = counts.get(str(a.get("action")), 0) + 1
        changes = ", ".join("%d %s" % (counts[k], k) for k, _ in GROUPS if counts.get(k)) or "none"
        rows.append({"id": stem, "time": when, "mode": str(doc.get("mode", "?")),
                     "result": str(doc.get("result", "?")), "changes": changes})  # fmt: skip
    return rows


def _stamp_time(stem: str) -> str:
    try:
        t = time.strptime(stem.split(".")[0], "%Y%m%dT%H%M%S")
    except ValueError:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", t)


def history_text(rows: Sequence[Dict[str, Any]], root: str) -> str:
    if not rows:
        return "Nothing recorded: no plan has been applied under %s yet.\n" % root
    head = ["ID", "Time (UTC)", "Mode", "Result", "Changes"]
    keys = ["id", "time", "mode", "result", "changes"]
    table = [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines.extend("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in table)
    return "\n".join(lines) + "\n"


def error_envelope(error: BaseException, exit_code: int) -> Dict[str, Any]:
    """What `--format json` prints (on stdout) when a command fails: a scheduler or an agent
    reads one document either way."""
    from spma.errors import SpmaError

    if isinstance(error, SpmaError):
        env = {"format": ERROR_FORMAT, "exit": exit_code, "phase": error.phase,
               "error": error.message, "hint": error.hint}  # fmt: skip
        if error.problems:  # structured records of an unsolvable request (spma.explain)
            env["problems"] = list(error.problems)
        return env
    return {"format": ERROR_FORMAT, "exit": exit_code, "phase": "internal",
            "error": "%s: %s" % (type(error).__name__, error),
            "hint": "this is a bug in spma: rerun with --debug for a traceback and report it"}  # fmt: skip


def error_lines(env: Dict[str, Any]) -> List[str]:
    lead = (
        "spma: internal error (this is a bug in spma): " if env["phase"] == "internal" else "spma: error: "
    )
    out = [lead + env["error"]]
    if env.get("hint"):
        out.append("spma: hint: %s" % env["hint"])
    return out
