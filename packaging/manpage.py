"""Generate spma(8) from the click command line itself, so the man page cannot drift from
`--help`: every command, option, example and the exit-code table come from spma.cli.

    python3 packaging/manpage.py OUT.8
"""

from __future__ import annotations

import os
import sys
import time
from typing import List, Tuple

import click

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from spma import __version__  # noqa: E402
from spma.cli import EXIT_TABLE, main  # noqa: E402

SECTIONS_AFTER = r""".SH FILES
.TP
.I /var/lib/spma/state.json
the last run: time, result, inputs, summary (under \fB\-\-root\fR when given)
.TP
.I /var/lib/spma/history/
one JSON plan per applied run
.TP
.I /var/lib/spma/pending.json\fR, \fI/var/lib/spma/pending/
the changes deferred to boot and their prefetched packages
.TP
.I /var/lib/spma/boot.trigger
arms spma\-boot.service; removed by \fBspma boot\fR before it does anything else
.TP
.I /run/spma.lock
serialises runs (flock); \fBapply\fR waits \fB\-\-lock\-timeout\fR seconds
.TP
.I /run/reboot\-required
written while changes wait for boot
.SH ENVIRONMENT
.TP
.B NO_COLOR
any non\-empty value turns colour off; colour is only ever used on a terminal
.TP
.B COLUMNS
the width the plan table is fitted to on a terminal
.SH SEE ALSO
.BR dnf (8),
.BR apt (8),
.BR systemd.timer (5);
/usr/share/doc/spma/ (the user guide, the profile reference, docs/design.md: the contract)
"""


def esc(text: str) -> str:
    """troff-safe text: backslashes, leading dots and quotes, hyphens as minus signs."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln.startswith((".", "'")) else ln for ln in out.split("\n"))


def _epilog_parts(epilog: str) -> Tuple[List[str], List[str]]:
    """(example lines, exit-code lines) of a command's epilog."""
    examples: List[str] = []
    exits: List[str] = []
    target = None
    for line in epilog.splitlines():
        if line.strip() == "\b":
            continue
        if line.startswith("Examples:"):
            target = examples
        elif line.startswith("Exit codes:"):
            target = exits
        elif target is not None and line.strip():
            target.append(line.strip())
    return examples, exits


def _options(cmd: click.Command, ctx: click.Context) -> List[str]:
    out = []
    for param in cmd.get_params(ctx):
        if not isinstance(param, click.Option):
            continue
        rec = param.get_help_record(ctx)
        if rec is None:
            continue
        names, help_text = rec
        out += [".TP", ".B %s" % esc(names), esc(help_text) or "."]
    return out


def _commands() -> List[Tuple[str, click.Command]]:
    out: List[Tuple[str, click.Command]] = []
    ctx = click.Context(main)
    for name in ("plan", "apply", "boot", "status", "history", "errata", "inventory", "fleet"):
        cmd = main.get_command(ctx, name)  # errata, inventory and fleet load on first use
        assert cmd is not None, name
        out.append((name, cmd))
        if isinstance(cmd, click.Group):
            out += [("%s %s" % (name, sub), cmd.commands[sub]) for sub in sorted(cmd.commands)]
    return out


def render() -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None))
    lines = [
        '.TH SPMA 8 "%s" "spma %s" "System Administration"' % (when, __version__),
        ".SH NAME",
        "spma \\- make a host's packages exactly what its Quattor profile declares",
        ".SH SYNOPSIS",
    ]
    root = click.Context(main, info_name="spma")
    for name, cmd in _commands():
        if isinstance(cmd, click.Group):
            continue
        ctx = click.Context(cmd, info_name="spma " + name, parent=None)
        lines += [".B spma %s" % esc(name), esc(" ".join(cmd.collect_usage_pieces(ctx))), ".br"]
    lines += [
        ".SH DESCRIPTION",
        esc(main.help or ""),
        ".PP",
        "spma reads a compiled Quattor profile (JSON or panc XML, a path, \\- or an https URL), computes "
        "with the package manager's own solver (libdnf or python\\-apt) the one transaction that makes "
        "the installed packages what the profile declares, shows it with a reason for every change, "
        "and with \\fBapply\\fR runs exactly that transaction. Changes to the C library, the init "
        "system, D\\-Bus, udev, the kernel and firmware wait for the next boot (\\fBspma boot\\fR).",
        ".PP",
        "On a terminal \\fBapply\\fR shows the plan and asks \\fBIs this ok [y/N]\\fR; \\fB\\-y\\fR, "
        "\\fB\\-\\-agent\\fR and runs without a terminal never ask.",
        ".SH COMMANDS",
    ]
    all_examples: List[str] = []
    for name, cmd in _commands():
        ctx = click.Context(cmd, info_name="spma " + name, parent=root)
        lines += ['.SS "spma %s"' % esc(name), esc(cmd.help or "")]
        lines += _options(cmd, ctx)
        examples, _ = _epilog_parts(cmd.epilog or "")
        all_examples += [e for e in examples if e not in all_examples]
    _, exits = _epilog_parts(EXIT_TABLE)
    lines += [".SH EXIT STATUS"]
    for row in exits:
        code, _, meaning = row.partition("  ")
        if code.strip().isdigit():
            lines += [".TP", ".B %s" % code.strip(), esc(meaning.strip())]
        else:
            lines += [".PP", esc(row)]
    lines += [".SH EXAMPLES"]
    for ex in all_examples:
        lines += [".nf", ".B %s" % esc(ex.split("  ")[0].strip()), ".fi"]
        comment = ex.split("  ", 1)[1].strip() if "  " in ex.strip() else ""
        if comment:
            lines += [".RS", esc(comment), ".RE"]
    return "\n".join(lines) + "\n" + SECTIONS_AFTER


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
