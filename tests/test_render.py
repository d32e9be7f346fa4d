"""The one renderer on synthetic documents (no package manager): plan table, totals, deferred
group, width, colour, status, history and the JSON error envelope."""

from __future__ import annotations

from typing import Any, Dict, List

from spma import render
from spma.errors import RepoError


def act(action: str, name: str, frm: Any = None, to: Any = None, reason: str = "declared", because: str = "declared",
        **kw: Any) -> Dict[str, Any]:  # fmt: skip
    return dict({"action": action, "name": name, "arch": "x86_64", "from": frm, "to": to, "reason": reason,
                 "because": because, "deferred": False, "defer_reason": None}, **kw)  # fmt: skip


def env(actions: List[Dict[str, Any]], mode: str = "live") -> Dict[str, Any]:
    summary = {k: sum(1 for a in actions if a["action"] == k) for k, _ in render.GROUPS}
    summary.update(total=len(actions), deferred=sum(1 for a in actions if a["deferred"]))
    return {"format": "spma-plan/1", "backend": "dnf", "root": "/srv/r", "mode": mode, "actions": actions,
            "summary": summary, "reboot_required": any(a["deferred"] for a in actions), "notes": []}  # fmt: skip


PLAN = env([
    act("install", "httpd", to="2.4.57-5.el9", because="declared", repository="appstream", size=48000,
        installsize=150000),
    act("install", "apr", to="1.7.0-12.el9", reason="dependency", because="required by httpd", repository="appstream",
        size=125000, installsize=300000),
    act("downgrade", "openssl", "1:3.0.7-28", "1:3.0.7-27", because="declared pin 1:3.0.7-27", repository="baseos",
        size=1200000, installsize=0),
    act("remove", "telnet", "0.17-85", None, reason="unmanaged", because="not declared", installsize=120000),
    act("upgrade", "glibc", "2.34-100", "2.34-101", reason="sync", because="repositories offer 2.34-101",
        deferred=True, defer_reason="boot-only glibc*", repository="baseos", size=2000000, installsize=1000),
])  # fmt: skip


DEFERRED = "Deferred to boot (applied by `spma boot` at the next boot):"


def test_header_groups_deferred_and_totals():
    text = render.plan_text(PLAN)
    lines = text.splitlines()
    assert lines[0] == "Dry-run plan for /srv/r (dnf backend, live mode)"
    assert lines[1].split() == ["Package", "Arch", "Version", "Action", "Repository", "Size", "Why"]
    groups = [ln for ln in lines if ln.endswith(":") and not ln.startswith(" ")]
    assert groups == ["Installing:", "Downgrading:", "Removing:", DEFERRED]
    deferred = lines[lines.index(DEFERRED) + 1]
    assert deferred.split()[:4] == ["glibc", "x86_64", "2.34-100", "->"] and "upgrade" in deferred
    assert "(boot-only glibc*)" in deferred
    assert (
        "Summary: 2 installs, 1 upgrade, 1 downgrade, 1 removal; 1 deferred to boot; reboot required"
        in lines
    )
    # 48000 + 125000 + 1200000 + 2000000 bytes
    assert "Total download size: 3.2 M" in lines
    assert "Installed size: 440.4 k" in lines  # 150000 + 300000 + 0 + 1000 bytes
    assert "Freed space: 117.2 k" in lines  # the removal's 120000 bytes
    assert [ln.split()[3] for ln in lines if ln.startswith(" httpd")] == ["appstream"]  # no Action cell


def test_no_repeated_words():
    text = render.plan_text(PLAN)
    httpd = [ln for ln in text.splitlines() if ln.startswith(" httpd")][0]
    assert httpd.rstrip().endswith("declared") and "declared  declared" not in httpd
    ossl = [ln for ln in text.splitlines() if ln.startswith(" openssl")][0]
    assert ossl.rstrip().endswith("declared pin 1:3.0.7-27") and "declared: declared" not in ossl
    assert "unmanaged: not declared" in text and "dependency: required by httpd" in text


def test_columns_only_for_what_the_backend_reported():
    text = render.plan_text(env([act("install", "foo", to="1.0-1")]))
    assert text.splitlines()[1].split() == ["Package", "Arch", "Version", "Why"]
    assert "Total download size" not in text


def test_width_is_respected_by_truncating_the_why_column():
    long = act(
        "install",
        "foo",
        to="1.0-1",
        reason="dependency",
        because="required by " + ", ".join(["pkg%d" % i for i in range(40)]),
    )
    for width in (60, 80, 120):
        lines = render.plan_text(env([long]), style=render.Style(width=width)).splitlines()
        assert all(len(ln) <= width for ln in lines[1:-1]), (width, lines)
        assert lines[3].endswith("...")
    assert not render.plan_text(env([long])).splitlines()[3].endswith("...")  # not a terminal: not cut


def test_colour_only_when_asked():
    plain = render.plan_text(PLAN, style=render.Style(colour=False))
    colour = render.plan_text(PLAN, style=render.Style(colour=True))
    assert "\x1b[" not in plain
    assert any(ln.startswith("\x1b[31m telnet") for ln in colour.splitlines())
    assert any(ln.startswith("\x1b[33m openssl") for ln in colour.splitlines())


def test_terminal_style_respects_no_color(monkeypatch):
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert render.terminal_style(Tty()).colour is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert render.terminal_style(Tty()).colour is False
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert render.terminal_style(Tty()).colour is False
    assert render.terminal_style(object()).colour is False


def test_fresh_root_hint():
    fresh = env([act("install", "glibc", to="2.34-1", deferred=True, defer_reason="boot-only glibc*"),
                 act("install", "bash", to="5.1-1", deferred=True, defer_reason="needs glibc 2.34-1"),
                 act("install", "tzdata", to="2024a-1")])  # fmt: skip
    assert (
        render.fresh_root_hint(fresh)
        == "most changes wait for boot; use --boot to install a new root at once"
    )
    assert render.fresh_root_hint(dict(fresh, mode="boot")) is None
    assert render.fresh_root_hint(PLAN) is None  # an installed host, not a fresh root
    assert render.fresh_root_hint(env([])) is None
    few = env([act("install", "kernel", to="5.14-1", deferred=True, defer_reason="boot-only kernel*")]
              + [act("install", "p%d" % i, to="1-1") for i in range(5)])  # fmt: skip
    assert (
        render.fresh_root_hint(few)
        == "1 of 6 changes wait for boot; use --boot to install a new root at once"
    )
    assert render.fresh_root_hint(env([act("install", "a", to="1-1")])) is None  # nothing deferred


def test_status_and_history():
    assert render.status_text({"root": "/r", "last_run": None}) == "No spma run recorded under /r\n"
    st = {"root": "/r", "reboot_required": True, "pending_boot": {"actions": 2, "status": "pending", "armed": True,
          "reasons": ["boot-only glibc*"]}, "last_run": {"time": "2026-01-01T00:00:00Z", "result": "applied",
          "backend": "dnf", "mode": "live", "summary": {"total": 3}}}  # fmt: skip
    text = render.status_text(st)
    assert (
        "Pending at boot: 2 changes, pending, armed (boot-only glibc*)" in text and "Reboot required" in text
    )
    assert render.history_text([], "/r") == "Nothing recorded: no plan has been applied under /r yet.\n"


def test_error_envelope():
    e = RepoError("repository os (http://x/): Could not resolve host")
    doc = render.error_envelope(e, 5)
    assert doc == {"format": "spma-error/1", "exit": 5, "phase": "repo", "error": e.message, "hint": e.hint}
    assert render.error_lines(doc) == ["spma: error: " + e.message, "spma: hint: " + e.hint]
    bug = render.error_envelope(KeyError("x"), 1)
    assert bug["phase"] == "internal" and render.error_lines(bug)[0].startswith("spma: internal error")
