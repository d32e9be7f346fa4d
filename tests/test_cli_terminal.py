"""Interactive use feels like dnf, unattended use stays quiet: behaviour on a real pseudo-terminal
(the confirmation prompt, colour and NO_COLOR, terminal width, progress with names and bytes),
and the same commands without one. Real dnf/rpm on sandbox roots."""

from __future__ import annotations

import functools
import http.server
import json
import os
import pty
import re
import select
import signal
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest

from spma.state import run_lock
from tests.helpers import REPO_ROOT, SPMA, Host, profile_tree

pytestmark = pytest.mark.dnf
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def pty_run(argv: list, *, reply: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            timeout: float = 300) -> Tuple[int, str]:  # fmt: skip
    """Run argv with stdin, stdout and stderr on a new pseudo-terminal; answer the first
    "Is this ok" prompt with `reply`. Returns (exit code, everything the terminal showed)."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COLUMNS="100", TERM="xterm")
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(argv[0], argv, full_env)
    out = b""
    replied = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("timed out; the terminal showed:\n" + out.decode("utf-8", "replace"))
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if reply is not None and not replied and b"Is this ok [y/N]" in out:
                os.write(fd, reply.encode() + b"\n")
                replied = True
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace").replace("\r\n", "\n")


def spma_argv(host: Host, *args: str, profile: Optional[dict] = None) -> list:
    argv = list(SPMA) + list(args)
    if profile is not None:
        argv.append(str(host.write(profile)))
    return argv + ["--root", str(host.root), "--running-kernel", ""]


def test_apply_on_a_terminal_shows_the_plan_and_asks(host: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    code, screen = pty_run(spma_argv(host, "apply", profile=prof), reply="n")
    assert code == 130, screen
    assert screen.index("Installing:") < screen.index("Is this ok [y/N]")
    assert "Operation aborted: nothing was changed." in screen
    assert host.installed() == []
    # Enter alone is "no" too
    code, screen = pty_run(spma_argv(host, "apply", profile=prof), reply="")
    assert code == 130 and host.installed() == []
    code, screen = pty_run(spma_argv(host, "apply", profile=prof), reply="y")
    assert code == 0, screen
    assert "Summary: 2 installs" in screen and "Complete." in screen
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    # nothing to do: no question
    code, screen = pty_run(spma_argv(host, "apply", profile=prof))
    assert code == 0 and "Nothing to do" in screen and "Is this ok" not in screen


def test_assume_yes_agent_and_no_terminal_never_ask(host: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    code, screen = pty_run(spma_argv(host, "apply", "-y", profile=prof))
    assert code == 0 and "Is this ok" not in screen, screen
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    prof2 = profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
    code, screen = pty_run(spma_argv(host, "apply", "--agent", profile=prof2))
    assert code == 0 and "Is this ok" not in screen, screen
    assert "app-1.0-1.noarch" in host.installed()
    # no terminal (cron, CI, ssh without -t): no question, stdin is never read
    p = host.cli("apply", profile=profile_tree({"bar": None}, {"os": repos["snap2"]}))
    assert p.returncode == 0 and "Is this ok" not in p.stdout + p.stderr
    assert "app-1.0-1.noarch" not in host.installed()


def test_confirmed_apply_runs_exactly_the_plan_shown(host: Host, repos):
    """If the repositories move while the question is open, the shown plan is refused (exit 8),
    never replaced by one the user did not see."""
    import shutil

    mirror = host.base / "mirror"
    shutil.copytree(repos["snap1"], mirror)
    prof = profile_tree({"bar": None}, {"os": str(mirror)})
    argv = spma_argv(host, "apply", profile=prof)
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COLUMNS="100")
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover
        os.execvpe(argv[0], argv, full_env)
    out = b""
    while b"Is this ok [y/N]" not in out:
        out += os.read(fd, 65536)
    shutil.rmtree(mirror)
    shutil.copytree(repos["snap2"], mirror)  # the snapshot moves under the prompt
    os.write(fd, b"y\n")
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 8, out.decode()
    assert b"stale" in out
    assert host.installed() == []


def _seed_for_removal(host: Host, repos) -> dict:  # type: ignore[no-untyped-def]
    assert (
        host.cli(
            "apply", profile=profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
        ).returncode
        == 0
    )
    return profile_tree({"bar": None, "foo": "1.1-1"}, {"os": repos["snap2"]})


def test_colour_on_a_terminal_and_never_with_no_color(host: Host, repos):
    prof = _seed_for_removal(host, repos)
    code, screen = pty_run(spma_argv(host, "plan", profile=prof))
    assert code == 0, screen
    removal = [
        ln for ln in screen.splitlines() if " lib " in ln or ln.lstrip("\x1b[31m").startswith(" lib ")
    ]
    assert removal and "\x1b[31m" in removal[0], screen  # removals in red
    downgrade = [ln for ln in screen.splitlines() if "2.0-1 -> 1.1-1" in ln]
    assert downgrade and "\x1b[33m" in downgrade[0]  # downgrades in yellow
    code, plain = pty_run(spma_argv(host, "plan", profile=prof), env={"NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in plain
    assert ANSI.sub("", screen) == plain  # the same text, colour only
    p = host.cli("plan", profile=prof)  # not a terminal: no colour either
    assert "\x1b[" not in p.stdout


def test_plan_fits_the_terminal_width(host: Host, repos):
    prof = _seed_for_removal(host, repos)
    for cols in (60, 80, 132):
        code, screen = pty_run(
            spma_argv(host, "plan", profile=prof), env={"COLUMNS": str(cols), "NO_COLOR": "1"}
        )
        assert code == 0, screen
        lines = screen.splitlines()
        assert max(len(ln) for ln in lines if not ln.startswith(("Dry-run", "note:", "hint:"))) <= cols, (
            screen
        )
        # Repository and Size make way for Why on a narrow terminal, never the other way round
        want = ["Package", "Arch", "Version", "Why"] if cols == 60 else ["Package", "Arch", "Version",
                                                                        "Repository", "Size", "Why"]  # fmt: skip
        assert lines[1].split() == want, screen


def test_quiet(host: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    p = host.cli("plan", "-q", "--detailed-exitcode", profile=prof)
    assert p.returncode == 2 and p.stdout == "" and p.stderr == ""
    code, screen = pty_run(spma_argv(host, "apply", "-q", "-y", profile=prof))
    assert code == 0 and screen.strip() == "", screen  # no table, no progress
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    p = host.cli("plan", "-q", profile=profile_tree({"nosuch": None}, {"os": repos["snap2"]}))
    assert p.returncode == 4 and "spma: error: " in p.stderr  # errors still shown


@pytest.fixture
def http_repo(repos) -> Iterator[str]:  # type: ignore[no-untyped-def]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=repos["snap2"])
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_progress_names_packages_and_bytes(host: Host, http_repo):
    prof = profile_tree({"bar": None, "app": None}, {"os": http_repo})
    code, screen = pty_run(spma_argv(host, "apply", "-y", profile=prof))
    assert code == 0, screen
    downloads = [ln for ln in re.split(r"[\r\n]", ANSI.sub("", screen)) if ln.startswith("download")]
    assert any("bar-2.0-1.noarch" in ln for ln in downloads), screen
    assert any(re.search(r"\d+(\.\d)? [Bk] \(\d+(\.\d)? [Bk] so far\)", ln) for ln in downloads), downloads
    steps = [ln for ln in re.split(r"[\r\n]", ANSI.sub("", screen)) if ln.startswith("transaction")]
    assert any("4/4" in ln for ln in steps) and any("app" in ln for ln in steps), steps


def test_lock_wait_says_whose_lock_and_how_long(host: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    with run_lock(str(host.root), timeout=1):
        p = host.cli("apply", "--lock-timeout", "0.5", profile=prof)
    assert p.returncode == 6
    lock = str(host.root / "run/spma.lock")
    assert "spma: waiting up to 0.5s for the lock %s, held by pid %d (" % (lock, os.getpid()) in p.stderr
    # agent runs log their own steps and say nothing extra
    with run_lock(str(host.root), timeout=1):
        p = host.cli("apply", "--agent", "--lock-timeout", "0.2", profile=prof)
    assert p.returncode == 6 and "waiting up to" not in p.stderr
    # nobody holds it: no message
    p = host.cli("apply", profile=prof)
    assert p.returncode == 0 and "waiting" not in p.stderr


def test_history_table_and_nothing_recorded(host: Host, repos):
    p = host.cli("history")
    assert (
        p.returncode == 0
        and p.stdout == "Nothing recorded: no plan has been applied under %s yet.\n" % host.root
    )
    assert json.loads(host.cli("history", "--format", "json").stdout)["entries"] == []
    host.cli("apply", profile=profile_tree({"bar": None}, {"os": repos["snap2"]}))
    host.cli("apply", profile=profile_tree({"tool": None}, {"os": repos["snap2"]}))
    lines = host.cli("history").stdout.splitlines()
    assert lines[0].split() == ["ID", "Time", "(UTC)", "Mode", "Result", "Changes"]
    assert lines[1].endswith("2 install") and lines[2].endswith("1 install, 2 remove"), lines
    (host.root / "var/lib/spma/history" / "20990101T000000.000000Z-1.json").write_text("{broken")
    p = host.cli("history")
    assert p.returncode == 0 and "unreadable" in p.stdout.splitlines()[-1]
    assert (host.root / "var/lib/spma/history" / "20990101T000000.000000Z-1.json").exists()  # left alone
    rows = json.loads(host.cli("history", "--format", "json").stdout)["entries"]
    assert [r["result"] for r in rows] == ["applied", "applied", "unreadable"]


def test_fresh_root_hint_in_live_mode(fresh_root, tmp_path: Path):
    """A fresh root in live mode defers the C library and all that needs it: say --boot."""
    from tests.builders.rpmrepo import make_repo, parse

    repo = str(make_repo(tmp_path / "distro", [parse("glibc-2.34-1"), parse("bash-5.1-1", requires=["glibc"]),
                                                parse("coreutils-9.0-1", requires=["glibc"])]))  # fmt: skip
    host = fresh_root()
    prof = profile_tree({"glibc": None, "bash": None, "coreutils": None}, {"os": repo})
    p = host.cli("plan", profile=prof)
    assert p.returncode == 0, p.stderr
    assert "Deferred to boot" in p.stdout
    assert "hint: most changes wait for boot; use --boot to install a new root at once" in p.stdout
    p = host.cli("plan", "--boot", profile=prof)
    assert "hint:" not in p.stdout and "Deferred to boot" not in p.stdout
