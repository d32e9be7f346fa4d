"""Command line: `spma plan|apply|status|history`. Exit codes are mapped here, once."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import traceback
from typing import Any, Callable, Optional

import click

from spma import __version__
from spma.errors import EXIT_CHANGES, EXIT_INTERNAL, SpmaError
from spma.plan import render_text
from spma.run import Options, Result
from spma.state import atomic_write, list_history

log = logging.getLogger("spma")


class _LogfmtFormatter(logging.Formatter):
    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\n", " | ")
        if msg.startswith("step="):  # already key=value
            return "%slevel=%s %s" % (self.prefix, record.levelname.lower(), msg)
        msg = msg.replace('"', "'")
        return '%slevel=%s logger=%s msg="%s"' % (self.prefix, record.levelname.lower(), record.name, msg)


def _agent_handler() -> logging.Handler:
    """journald when its bindings are there, else syslog, else stderr: one line per step."""
    try:
        from systemd.journal import JournalHandler  # type: ignore[import-not-found]

        h: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="spma")
        h.setFormatter(logging.Formatter("%(message)s"))
        return h
    except ImportError:
        pass
    if os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler  # only agents log to syslog: not on every run

        h = SysLogHandler(address="/dev/log", facility=SysLogHandler.LOG_DAEMON)
        h.setFormatter(_LogfmtFormatter(prefix="spma[%d]: " % os.getpid()))
        return h
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(_LogfmtFormatter())
    return h


def _setup_logging(debug: bool, verbose: bool, agent: bool = False) -> None:
    if agent:
        handler = _agent_handler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        if sys.stderr.isatty():
            handler.setFormatter(logging.Formatter("spma: %(levelname)s: %(message)s"))
        else:
            handler.setFormatter(_LogfmtFormatter())
    root = logging.getLogger("spma")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO if (verbose or agent) else logging.WARNING)
    root.propagate = False
    # dnf logs the same failures spma reports with a hint; show its words only with --debug.
    dnf_log = logging.getLogger("dnf")
    dnf_log.handlers[:] = [handler]
    dnf_log.setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)
    dnf_log.propagate = False


def _progress() -> Optional[Callable[[str, int, int], None]]:
    if not sys.stderr.isatty():
        return None

    def show(stage: str, done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        sys.stderr.write("\r%-12s %d/%d" % (stage, done, total) + end)
        sys.stderr.flush()

    return show


def _freeze_imports() -> None:
    """Modules, classes and functions imported so far live as long as the process: moved out of
    the collector's generations, every full collection during the run (dnf runs some
    explicitly) no longer walks them (272-name plan: gc time 27-54 -> 13-19 ms)."""
    gc.freeze()


def _fail(e: BaseException, debug: bool) -> int:
    if isinstance(e, SpmaError):
        if debug:
            traceback.print_exc()
        click.echo("spma: error: %s" % e.message, err=True)
        if e.hint:
            click.echo("spma: hint: %s" % e.hint, err=True)
        return e.exit_code
    if debug:
        traceback.print_exc()
    click.echo("spma: internal error (this is a bug in spma): %s: %s" % (type(e).__name__, e), err=True)
    click.echo("spma: hint: rerun with --debug for a traceback and report it", err=True)
    return EXIT_INTERNAL


def _emit(result: Result, fmt: str, text: Optional[str] = None) -> None:
    if fmt == "json" and text is not None:  # the plan's JSON, already built for --out
        click.echo(text)
    elif fmt == "json":
        doc = dict(result.plan)
        if result.command == "apply":
            doc["applied"] = result.applied
        click.echo(json.dumps(doc, indent=1, sort_keys=True))
    else:
        applied = None if result.command == "plan" else result.applied
        click.echo(render_text(result.plan, applied=applied), nl=False)


_common = [
    click.argument("profile"),
    click.option("--root", default="/", show_default=True, help="Operate on this root (sandbox or image)."),
    click.option("--backend", type=click.Choice(["auto", "dnf", "apt"]), default="auto", show_default=True),
    click.option("--boot", is_flag=True, help="Compute and apply everything, deferring nothing."),
    click.option("--errata", metavar="SET", help="Errata version set (path or URL)."),
    click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True),
    click.option("--running-kernel", hidden=True, help="uname -r to protect (tests)."),
    click.option("--debug", is_flag=True, help="Show tracebacks."),
    click.option("-v", "--verbose", is_flag=True, help="Log each step."),
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


class _Group(click.Group):
    """Maps an SpmaError from any subcommand to its exit code (plan/apply map their own)."""

    # the errata package is imported only when its command runs or help lists it
    def list_commands(self, ctx: click.Context) -> Any:
        return sorted(set(super().list_commands(ctx)) | {"errata"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name == "errata" and cmd_name not in self.commands:
            _register_errata()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpmaError as e:
            sys.exit(_fail(e, debug="--debug" in sys.argv))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spma")
def main() -> None:
    """Make a host's packages exactly what its profile declares."""
    _setup_logging(debug=False, verbose=False)


def _register_errata() -> None:
    from spma.errata.cli import errata

    main.add_command(errata)


@main.command("plan")
@_with_common
@click.option("--out", type=click.Path(dir_okay=False), help="Also save the JSON plan here.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@_tls_options
def plan_cmd(profile: str, root: str, backend: str, boot: bool, errata: Optional[str], fmt: str,
             running_kernel: Optional[str], debug: bool, verbose: bool, out: Optional[str],
             detailed_exitcode: bool, ca_bundle: Optional[str], client_cert: Optional[str],
             client_key: Optional[str]) -> None:  # fmt: skip
    """Show what apply would change, with reasons. Changes nothing."""
    from spma import run

    _freeze_imports()

    _setup_logging(debug, verbose)
    opts = Options(root=root, backend=backend, boot=boot, errata=errata, running_kernel=running_kernel,
                   ca_bundle=ca_bundle, client_cert=client_cert, client_key=client_key)  # fmt: skip
    text = None
    try:
        result = run.plan(profile, opts)
        if out or fmt == "json":  # built once, for the file and the output alike
            text = json.dumps(result.plan, indent=1, sort_keys=True)
        if out and text is not None:
            atomic_write(out, (text + "\n").encode())
    except BaseException as e:  # noqa: BLE001 - mapped to an exit code below
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        sys.exit(_fail(e, debug))
    _emit(result, fmt, text)
    if result.refusal is not None:  # what apply would refuse: shown, then stated, exit 7 as apply
        sys.exit(_fail(result.refusal, debug))
    sys.exit(EXIT_CHANGES if detailed_exitcode and result.changes else 0)


@main.command("apply")
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
@click.option("--splay", type=float, default=0.0, metavar="S", help="Sleep a random 0..S seconds first.")
@click.option("--no-fast-path", is_flag=True, help="Solve even when nothing changed since the last apply.")
@click.option("--history-keep", type=int, default=50, show_default=True, help="Applied plans to keep.")
@_tls_options
def apply_cmd(profile: str, root: str, backend: str, boot: bool, errata: Optional[str], fmt: str,
              running_kernel: Optional[str], debug: bool, verbose: bool, plan_file: Optional[str],
              lock_timeout: float, agent: bool, splay: float, no_fast_path: bool, history_keep: int,
              ca_bundle: Optional[str], client_cert: Optional[str], client_key: Optional[str]) -> None:  # fmt: skip
    """Make the root match the profile, in one transaction."""
    from spma import run

    _freeze_imports()

    _setup_logging(debug, verbose, agent)
    opts = Options(root=root, backend=backend, boot=boot, errata=errata, plan_file=plan_file,
                   lock_timeout=lock_timeout, running_kernel=running_kernel, agent=agent, splay=splay,
                   fast=False if no_fast_path else None, history_keep=history_keep, ca_bundle=ca_bundle,
                   client_cert=client_cert, client_key=client_key)  # fmt: skip
    try:
        result = run.apply(profile, opts, progress=_progress() if fmt == "text" and not agent else None)
    except BaseException as e:  # noqa: BLE001 - mapped to an exit code below
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        if agent and isinstance(e, SpmaError):
            log.error(
                'step=error exit=%d phase=%s msg="%s"', e.exit_code, e.phase, e.message.replace('"', "'")
            )
        sys.exit(_fail(e, debug))
    if not agent:
        _emit(result, fmt)


@main.command("boot")
@click.option("--root", default="/", show_default=True)
@click.option(
    "--max-attempts", type=int, default=3, show_default=True, help="Give up after this many boots."
)
@click.option("--debug", is_flag=True)
def boot_cmd(root: str, max_attempts: int, debug: bool) -> None:
    """Apply the changes deferred to boot, from the local cache (spma-boot.service)."""
    from spma import run

    _setup_logging(debug, verbose=False, agent=True)
    try:
        run.boot(root, max_attempts=max_attempts)
    except BaseException as e:  # noqa: BLE001 - mapped to an exit code below
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(e, SpmaError):
            log.error(
                'step=error exit=%d phase=%s msg="%s"', e.exit_code, e.phase, e.message.replace('"', "'")
            )
        sys.exit(_fail(e, debug))


@main.command("status")
@click.option("--root", default="/", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status_cmd(root: str, fmt: str) -> None:
    """Show the last run recorded under the root."""
    from spma import run

    st = run.status(root)
    if fmt == "json":
        click.echo(json.dumps(st, indent=1, sort_keys=True))
        return
    last = st["last_run"]
    if not last:
        click.echo("No spma run recorded under %s" % st["root"])
        return
    s = last.get("summary", {})
    click.echo("Last run: %s, %s (%s backend, %s mode), %s changes%s" % (
        last.get("time"), last.get("result"), last.get("backend"), last.get("mode"), s.get("total", 0),
        "; reboot required" if last.get("reboot_required") else ""))  # fmt: skip
    if last.get("error"):
        click.echo("Error: %s" % last["error"])
    pend = st.get("pending_boot")
    if pend:
        click.echo("Pending at boot: %d changes, %s%s (%s)" % (
            pend["actions"], pend["status"], ", armed" if pend["armed"] else "", "; ".join(pend["reasons"])))  # fmt: skip
    if st.get("reboot_required"):
        click.echo("Reboot required")


@main.command("history")
@click.option("--root", default="/", show_default=True)
def history_cmd(root: str) -> None:
    """List the applied plans kept under the root."""
    for p in list_history(os.path.abspath(root)):
        click.echo(p)


if __name__ == "__main__":
    main()
