"""`spma inventory` and `spma fleet plan|report`: the site's side. Registered on the main
command group by spma.cli; every heavy import happens inside a command."""

from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

import click

from spma import jsontext
from spma.errors import ProfileError, UsageError


@click.command("inventory")
@click.option("--root", default="/", show_default=True, help="The root to record (sandbox or image).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Write it here (gzip JSON).")
@click.option(
    "--full-filelists", is_flag=True, help="RPM: keep every file path, not only those a dependency can name."
)
@click.option("--running-kernel", hidden=True, help="uname -r to record (tests; default: this host's).")
def inventory_cmd(root: str, out: str, full_filelists: bool, running_kernel: Optional[str]) -> None:
    """Record this host's package state for the site's reports and what-if plans."""
    from spma import inventory

    doc = inventory.write(root, out, running_kernel=running_kernel, full_filelists=full_filelists)
    size = os.path.getsize(out)
    click.echo("%s: %d packages (%s), %d bytes" % (out, len(doc["packages"]), doc["os"]["family"], size))


def write_after_run(root: str, out: Optional[str], running_kernel: Optional[str] = None) -> None:
    """The agent's `--inventory PATH`: record the host after a run, whatever the run's outcome.
    A failure to write it is a warning, never the run's result."""
    if not out:
        return
    from spma import inventory

    try:
        inventory.write(root, out, running_kernel=running_kernel)
    except (OSError, ProfileError) as e:
        import logging

        logging.getLogger("spma").warning("could not write the inventory %s: %s", out, e)


@click.group("fleet")
def fleet() -> None:
    """The site's view over many hosts' inventories."""


@fleet.command("report")
@click.option("--inventories", required=True, help="A directory or tarball of inventories.")
@click.option("--source", type=click.Choice(["osv", "updateinfo", "debian"]), required=True)
@click.argument("inputs", nargs=-1, required=True)
@click.option("--ecosystem", help="OSV ecosystem to keep (default: from each host's os-release).")
@click.option("--release", help="Debian release, e.g. bookworm.")
@click.option(
    "--index", "indexes", multiple=True, help="Debian Packages index (also: INPUTs named *Packages*)."
)
@click.option(
    "--repo", "repos", multiple=True, help="Repository the hosts are configured with (offered fixes)."
)
@click.option("--min-severity", type=click.Choice(["low", "moderate", "important", "critical"]))
@click.option("--type", "types", help="Comma list of security, bugfix, enhancement.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write the HTML page here.")
def fleet_report(inventories: str, source: str, inputs: Tuple[str, ...], ecosystem: Optional[str],
                 release: Optional[str], indexes: Tuple[str, ...], repos: Tuple[str, ...],
                 min_severity: Optional[str], types: Optional[str], json_out: Optional[str],
                 html_out: Optional[str]) -> None:  # fmt: skip
    """Exposure of every host: per advisory, per host, and hosts that moved since their last run."""
    from spma import fleet as fl
    from spma.state import atomic_write

    rep = fl.report(inventories, source=source, inputs=list(inputs), ecosystem=ecosystem, release=release,
                    indexes=list(indexes), repos=list(repos), min_severity=min_severity,
                    types=[t.strip() for t in types.split(",")] if types else None)  # fmt: skip
    if json_out:
        atomic_write(json_out, (jsontext.dumps(rep) + "\n").encode())
    if html_out:
        from spma.fleet_html import render

        atomic_write(html_out, render(rep).encode("utf-8"))
    click.echo(fl.report_text(rep), nl=False)


@fleet.command("plan")
@click.option("--inventories", required=True, help="A directory or tarball of inventories.")
@click.option("--profile", "profile", type=click.Path(dir_okay=False), help="One profile for every host.")
@click.option("--profile-dir", type=click.Path(file_okay=False), help="NAME.json / NAME.xml per host.")
@click.option("--errata", metavar="SET", help="Errata version set (path or URL) for every host.")
@click.option("--boot", is_flag=True, help="The whole plan, nothing deferred (as spma plan --boot).")
@click.option("--workers", type=int, default=0, help="Local worker processes (default: CPU count).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this Dask distributed cluster.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the spma-fleet-plan/1 JSON here.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def fleet_plan(inventories: str, profile: Optional[str], profile_dir: Optional[str], errata: Optional[str],
               boot: bool, workers: int, scheduler: Optional[str], out: Optional[str], fmt: str) -> None:  # fmt: skip
    """Plan every host against its recorded state, without touching it."""
    from spma import fleet as fl
    from spma.state import atomic_write

    if bool(profile) == bool(profile_dir):
        raise UsageError("give exactly one of --profile FILE or --profile-dir DIR")
    doc = fl.plan_fleet(inventories, profile=profile, profile_dir=profile_dir, errata=errata, boot=boot,
                        workers=workers or None, scheduler=scheduler)  # fmt: skip
    blob = jsontext.dumps(doc) + "\n"
    if out:
        atomic_write(out, blob.encode())
    if fmt == "json":
        sys.stdout.write(blob)
    else:
        click.echo(fl.plan_text(doc), nl=False)
