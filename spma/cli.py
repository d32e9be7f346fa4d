"""Command line: `spma plan|apply|boot|status|history|errata`.

Every failure reaches the user through `_exit_code` (the one place exceptions become exit
codes, DESIGN §7); usage errors are exit 3, never click's 2, which belongs to
`plan --detailed-exitcode`."""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional

import click

from spma import __version__, jsontext, render
from spma.errors import EXIT_CHANGES, EXIT_INTERNAL, SpmaError, UsageError
from spma.logsetup import log_error
from spma.logsetup import setup_logging as _setup_logging
from spma.run import Options, Result
from spma.state import atomic_write, list_history, lock_path

log = logging.getLogger("spma")


EXIT_INTERRUPTED = 130  # Ctrl-C, or "no" at the confirmation prompt: nothing was changed

EXIT_TABLE = """\b
Exit codes:
  0  success (plan: no changes, or changes without --detailed-exitcode)
  1  internal error (a bug in spma)
  2  plan --detailed-exitcode: changes pending
  3  invalid input: profile, version set, options, usage
  4  unsolvable: every unknown package, missing version and conflict named
  5  repository unreachable, metadata invalid or checksum mismatch
  6  another run holds the lock past --lock-timeout
  7  refused by a safety rule (empty package set, max_removals, protected)
  8  apply --plan: the inputs changed since the plan was made
  9  the transaction itself failed (state recorded; rerun converges)
  130  interrupted, or declined at the prompt: nothing was changed
Nothing on the host changes unless the exit code is 0 or 9."""


def _freeze_imports() -> None:
    """Modules, classes and functions imported so far live as long as the process: moved out of
    the collector's generations, every full collection during the run (dnf runs some
    explicitly) no longer walks them (272-name plan: gc time 27-54 -> 13-19 ms)."""
    gc.freeze()


def _epilog(examples: str) -> str:
    return "\b\nExamples:\n" + examples + "\n\n" + EXIT_TABLE


class _Declined(click.Abort):
    """The user answered no at the confirmation prompt."""


def _exit_code(e: BaseException, *, debug: bool, fmt: str = "text") -> int:
    """The one mapping from an exception to what the user sees and the exit code."""
    if isinstance(e, click.exceptions.Exit):
        return int(e.exit_code)
    if isinstance(e, _Declined):
        click.echo("Operation aborted: nothing was changed.", err=True)
        return EXIT_INTERRUPTED
    if isinstance(e, (click.Abort, KeyboardInterrupt)):
        click.echo("spma: interrupted; nothing more is changed", err=True)
        return EXIT_INTERRUPTED
    if isinstance(e, click.ClickException):  # UsageError, BadParameter, NoSuchOption, ...
        e = UsageError(e.format_message())
        if fmt != "json":
            click.echo("spma: error: %s" % e.message, err=True)
            click.echo("spma: hint: %s" % e.hint, err=True)
            return e.exit_code
    code = e.exit_code if isinstance(e, SpmaError) else EXIT_INTERNAL
    if debug:
        traceback.print_exception(type(e), e, e.__traceback__)
    env = render.error_envelope(e, code)
    if fmt == "json":
        click.echo(jsontext.dumps(env))
    for line in render.error_lines(env):
        click.echo(line, err=True)
    return code


# --debug and --format of the current invocation, set by click's option callbacks and reset by
# _Group.main: the error mapping needs them even when a failure happens before a command runs.
_FLAGS: Dict[str, Any] = {"debug": False, "format": None}


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def cb(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value or key == "format":
            _FLAGS[key] = value
        return value

    return cb


# commands whose modules are imported only when they run or help lists them: a plan, an apply
# or the agent's no-op run never pays for the errata readers or the site side
_LAZY = {"errata": ("spma.errata.cli", "errata"), "fleet": ("spma.site_cli", "fleet"),
         "inventory": ("spma.site_cli", "inventory_cmd")}  # fmt: skip


class _Group(click.Group):
    """Runs click without its own exit handling, so every exit goes through `_exit_code`."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name in _LAZY and cmd_name not in self.commands:
            import importlib

            module, attr = _LAZY[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr))
        return super().get_command(ctx, cmd_name)

    def main(self, args: Any = None, prog_name: Optional[str] = None, complete_var: Optional[str] = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        argv: List[str] = list(sys.argv[1:] if args is None else args)
        _FLAGS.update(debug=False, format=None)
        try:
            if not argv:
                raise click.UsageError("no command given; try `spma --help`")
            rv = super().main(argv, prog_name or "spma", complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001 - this is the one place that maps errors
            fmt = _FLAGS["format"]
            if fmt is None:  # parsing stopped before --format's callback ran, or no --format option
                fmt = "json" if _asked_for_json(argv) else "text"
            code = _exit_code(e, debug=bool(_FLAGS["debug"]), fmt=fmt)
        if standalone_mode:
            sys.exit(code)
        return code


def _asked_for_json(argv: List[str]) -> bool:
    return any(
        a == "--format=json" or (a == "--format" and nxt == "json") for a, nxt in zip(argv, argv[1:] + [""])
    )


_debug = click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"),
                      is_eager=True, help="Show tracebacks and the package manager's own log.")  # fmt: skip
_format = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True, callback=_remember("format"), is_eager=True,
                       help="json: the spma-plan/1 envelope, or an spma-error/1 envelope on failure.")  # fmt: skip
_common = [
    click.argument("profile"),
    click.option(
        "--root",
        default="/",
        show_default=True,
        metavar="DIR",
        help="Operate on this root (sandbox or image).",
    ),
    click.option(
        "--backend",
        type=click.Choice(["auto", "dnf", "apt"]),
        default="auto",
        show_default=True,
        help="Package manager; auto: the profile's packager, else the root's os-release.",
    ),
    click.option("--boot", is_flag=True, help="Compute and apply everything, deferring nothing."),
    click.option("--errata", metavar="SET", help="Errata version set (path or URL)."),
    _format,
    click.option("--running-kernel", hidden=True, help="uname -r to protect (tests)."),
    _debug,
    click.option("-v", "--verbose", is_flag=True, help="Log each step."),
    click.option(
        "-q", "--quiet", is_flag=True, help="Print nothing but errors (the exit code says the rest)."
    ),
    click.option(
        "--host-settings",
        type=click.Choice(["note", "error"]),
        default=None,
        help="The root's own package settings that contradict the profile: notes (default) "
        "or errors (exit 4).",
    ),  # fmt: skip
]


def _with_common(f: Callable[..., Any]) -> Callable[..., Any]:
    for deco in reversed(_common):
        f = deco(f)
    return f


def _tls_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for deco in reversed([
        click.option("--ca-bundle", type=click.Path(dir_okay=False), help="CA bundle for an https profile URL."),
        click.option("--client-cert", type=click.Path(dir_okay=False), help="Client certificate for the URL."),
        click.option("--client-key", type=click.Path(dir_okay=False), help="Its private key."),
    ]):  # fmt: skip
        f = deco(f)
    return f


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=_epilog("  spma plan host.json --root /srv/sandbox\n"
                            "  spma apply host.json\n"
                            "  spma apply --agent https://quattor.example.org/profiles/web01.json\n"
                            "  spma status"))  # fmt: skip
@click.version_option(__version__, "-V", "--version", prog_name="spma")
@_debug
def main() -> None:
    """Make a host's packages exactly what its Quattor profile declares."""
    _setup_logging(debug=False, verbose=False)


def _style() -> render.Style:
    return render.terminal_style(sys.stdout)


def _progress(quiet: bool) -> Optional[Callable[..., None]]:
    """Download and transaction progress on a terminal: the package, its size and the running
    byte count when the backend reports them, else the counts."""
    if quiet or not sys.stderr.isatty():
        return None
    width = render.terminal_style(sys.stderr).width or 100
    state = {"bytes": 0}

    def show(stage: str, done: int, total: int, name: str = "", nbytes: Optional[int] = None) -> None:
        if nbytes:
            state["bytes"] += int(nbytes)
        line = "%-11s %d/%d" % (stage, done, total)
        if name:
            line += "  %s" % name
        if nbytes:
            line += "  %s (%s so far)" % (render.human_size(nbytes), render.human_size(state["bytes"]))
        line = line[: width - 1]
        end = "\n" if done >= total else ""
        sys.stderr.write("\r\x1b[K" + line + end if sys.stderr.isatty() else line + "\n")
        sys.stderr.flush()
        if end:
            state["bytes"] = 0

    return show


def _hints(result: Result) -> List[str]:
    hint = render.fresh_root_hint(result.plan)
    return [hint] if hint else []


def _emit(result: Result, fmt: str, quiet: bool, refusal: Optional[SpmaError] = None,
          plan_json: Optional[str] = None) -> None:  # fmt: skip
    if fmt == "json":
        doc = dict(result.plan)
        if result.command == "apply":
            doc["applied"] = result.applied
        if refusal is not None:
            doc["refusal"] = render.error_envelope(refusal, refusal.exit_code)
        # the plan command's envelope, when nothing is added to it, is the --out file's: encoded
        # once (indented JSON is json's pure-Python encoder, ~10 ms for an 800-package plan)
        same = plan_json is not None and result.command != "apply" and refusal is None
        click.echo(plan_json if same else jsontext.dumps(doc))
    elif not quiet:
        applied = None if result.command == "plan" else result.applied
        text = render.plan_text(result.plan, applied=applied, style=_style(), hints=_hints(result))
        click.echo(text, nl=False)


def _read_stdin_once(profile: str) -> Any:
    """A profile on stdin is read once, so the confirmed plan and the apply read the same bytes."""
    return io.BytesIO(sys.stdin.buffer.read()) if profile == "-" else None


@main.command("plan", epilog=_epilog(
    "  spma plan host.json --root /srv/sandbox       what would change, and why\n"
    "  spma plan host.json --out plan.json           also save the spma-plan/1 envelope\n"
    "  spma plan host.json --format json | jq .summary\n"
    "  spma plan -q --detailed-exitcode host.json    exit 2 when changes are pending"))  # fmt: skip
@_with_common
@click.option("--out", type=click.Path(dir_okay=False), help="Also save the JSON plan here.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@_tls_options
def plan_cmd(profile: str, root: str, backend: str, boot: bool, errata: Optional[str], fmt: str,
             running_kernel: Optional[str], verbose: bool, quiet: bool, host_settings: Optional[str], out: Optional[str],
             detailed_exitcode: bool, ca_bundle: Optional[str], client_cert: Optional[str],
             client_key: Optional[str]) -> int:  # fmt: skip
    """Show what apply would change, with reasons. Changes nothing."""
    from spma import run

    _freeze_imports()

    _setup_logging(_FLAGS["debug"], verbose, quiet=quiet)
    opts = Options(root=root, backend=backend, boot=boot, errata=errata, running_kernel=running_kernel,
                   ca_bundle=ca_bundle, client_cert=client_cert, client_key=client_key,
                   host_settings=host_settings)  # fmt: skip
    result = run.plan(profile, opts)
    plan_json = jsontext.dumps(result.plan) if out or fmt == "json" else None
    if out and plan_json is not None:
        atomic_write(out, (plan_json + "\n").encode())
    # a refusal apply would make (a safety rule): the plan is shown, then the refusal, exit 7
    refusal: Optional[SpmaError] = getattr(result, "refusal", None)
    _emit(result, fmt, quiet, refusal, plan_json)
    if refusal is not None:
        _FLAGS["format"] = "text"  # the JSON plan above already carries it as "refusal"
        raise refusal
    return EXIT_CHANGES if detailed_exitcode and result.changes else 0


def _lock_notice(root: str, timeout: float) -> None:
    """Before waiting for the lock, say whose it is and how long spma will wait. A probe with a
    shared, non-blocking lock on a read-only descriptor: it never creates the file and, being
    informational, tolerates the race with the real lock taken right after."""
    import errno
    import fcntl

    path = lock_path(os.path.abspath(root))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                return
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    who = "pid %s" % holder if holder.isdigit() else "another process"
    if holder.isdigit():
        try:
            with open("/proc/%s/cmdline" % holder, "rb") as f:
                cmd = f.read(300).replace(b"\0", b" ").decode("utf-8", "replace").strip()
            if cmd:
                who += " (%s)" % cmd
        except OSError:
            pass
    click.echo("spma: waiting up to %gs for the lock %s, held by %s" % (timeout, path, who), err=True)


def _confirm(profile: str, opts: Options, stdin: Any, fmt: str) -> Optional[Options]:
    """dnf's interactive flow: show the plan, ask, then apply exactly that plan (through a saved
    plan, so anything that moves in between is refused with exit 8, never applied unseen).
    None: nothing to do."""
    from spma import run

    shown = run.plan(profile, opts, stdin=stdin)
    if stdin is not None:
        stdin.seek(0)
    click.echo(render.plan_text(shown.plan, style=_style(), hints=_hints(shown)), nl=False)
    if not shown.changes:
        return None
    if not click.confirm("Is this ok", default=False):
        raise _Declined()
    if opts.plan_file:
        return opts
    import tempfile

    fd, path = tempfile.mkstemp(prefix="spma-confirmed-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(shown.plan, f)
    import dataclasses

    return dataclasses.replace(opts, plan_file=path)


@main.command("apply", epilog=_epilog(
    "  spma apply host.json                          show the plan, ask, apply\n"
    "  spma apply -y host.json --root /srv/sandbox   no question\n"
    "  spma apply host.json --plan plan.json         exactly a reviewed plan, if still valid\n"
    "  spma apply --agent https://quattor.example.org/profiles/web01.json"))  # fmt: skip
@_with_common
@click.option(
    "--plan", "plan_file", type=click.Path(dir_okay=False), help="Apply this saved plan, if still valid."
)
@click.option(
    "--lock-timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the lock."
)
@click.option(
    "--agent", is_flag=True, help="Unattended: one log line per step (journald/syslog), no output."
)
@click.option("-y", "--assume-yes", is_flag=True, help="Do not ask before applying (on a terminal).")
@click.option("--splay", type=float, default=0.0, metavar="S", help="Sleep a random 0..S seconds first.")
@click.option("--no-fast-path", is_flag=True, help="Solve even when nothing changed since the last apply.")
@click.option("--history-keep", type=int, default=50, show_default=True, help="Applied plans to keep.")
@click.option("--inventory", "inventory_out", type=click.Path(dir_okay=False),
              help="After the run, record the host's package state here (spma inventory).")  # fmt: skip
@_tls_options
def apply_cmd(profile: str, root: str, backend: str, boot: bool, errata: Optional[str], fmt: str,
              running_kernel: Optional[str], verbose: bool, quiet: bool, host_settings: Optional[str], plan_file: Optional[str],
              lock_timeout: float, agent: bool, assume_yes: bool, splay: float, no_fast_path: bool,
              history_keep: int, ca_bundle: Optional[str], client_cert: Optional[str],
              client_key: Optional[str], inventory_out: Optional[str] = None) -> int:  # fmt: skip
    """Make the root match the profile, in one transaction.

    On a terminal, the plan is shown first and applied only after "y"; -y, --agent and runs
    without a terminal never ask."""
    from spma import run
    from spma.site_cli import write_after_run

    _freeze_imports()

    _setup_logging(_FLAGS["debug"], verbose, agent, quiet=quiet)
    opts = Options(root=root, backend=backend, boot=boot, errata=errata, plan_file=plan_file,
                   lock_timeout=lock_timeout, running_kernel=running_kernel, agent=agent, splay=splay,
                   fast=False if no_fast_path else None, history_keep=history_keep, ca_bundle=ca_bundle,
                   client_cert=client_cert, client_key=client_key, host_settings=host_settings)  # fmt: skip
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and fmt == "text"
    ask = interactive and not (assume_yes or agent)
    stdin = _read_stdin_once(profile)
    confirmed: Optional[str] = None
    if ask:
        asked = _confirm(profile, opts, stdin, fmt)
        if asked is None:
            return 0
        confirmed = asked.plan_file if asked.plan_file != plan_file else None
        opts = asked
    try:
        if not agent and not quiet:
            _lock_notice(root, lock_timeout)
        result = run.apply(profile, opts, stdin=stdin, progress=_progress(quiet or agent or fmt != "text"))
    except BaseException as e:
        if not isinstance(e, (KeyboardInterrupt, SystemExit, _Declined)):
            write_after_run(root, inventory_out, running_kernel)
        if not isinstance(e, SpmaError):
            raise
        if agent:
            log_error(e.exit_code, e.phase, e.message)
        raise
    finally:
        if confirmed:
            os.unlink(confirmed)
    write_after_run(root, inventory_out, running_kernel)
    if agent:
        return 0
    if ask and fmt == "text":
        if not quiet:
            text = render.plan_text(result.plan, applied=result.applied)
            click.echo("\n".join(ln for ln in text.splitlines() if ln.startswith("Summary: ")))
            click.echo("Complete." if result.applied else "Nothing was changed (run is 'no').")
        return 0
    _emit(result, fmt, quiet)
    return 0


@main.command("boot", epilog=_epilog("  spma boot                  what spma-boot.service runs"))
@click.option("--root", default="/", show_default=True, metavar="DIR", help="The root to look at.")
@click.option(
    "--max-attempts", type=int, default=3, show_default=True, help="Give up after this many boots."
)
@_debug
def boot_cmd(root: str, max_attempts: int) -> int:
    """Apply the changes deferred to boot, from the local cache (spma-boot.service)."""
    from spma import run

    _setup_logging(_FLAGS["debug"], verbose=False, agent=True)
    try:
        run.boot(root, max_attempts=max_attempts)
    except SpmaError as e:
        log_error(e.exit_code, e.phase, e.message)
        raise
    return 0


@main.command("status", epilog=_epilog("  spma status\n  spma status --root /srv/sandbox --format json"))
@click.option("--root", default="/", show_default=True, metavar="DIR", help="The root to look at.")
@_format
@_debug
def status_cmd(root: str, fmt: str) -> int:
    """Show the last run recorded under the root, and what waits for boot."""
    from spma import run

    st = run.status(root)
    if fmt == "json":
        click.echo(jsontext.dumps(st))
    else:
        click.echo(render.status_text(st), nl=False)
    return 0


@main.command("history", epilog=_epilog("  spma history\n  spma history --root /srv/sandbox --format json"))
@click.option("--root", default="/", show_default=True, metavar="DIR", help="The root to look at.")
@_format
@_debug
def history_cmd(root: str, fmt: str) -> int:
    """List the applied plans kept under the root, oldest first."""
    root = os.path.abspath(root)
    rows = render.history_rows(list_history(root), _read_quietly)
    if fmt == "json":
        click.echo(json.dumps({"format": "spma-history/1", "root": root, "entries": rows}, indent=1))
    else:
        click.echo(render.history_text(rows, root), nl=False)
    return 0


def _read_quietly(path: str) -> Any:
    """A history entry, or None when it cannot be read; a read-only command never moves it."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read(64 * 1024 * 1024).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


if __name__ == "__main__":
    main()
