"""`spma inventory` and `spma fleet plan|report`: the site's side. Registered on the main
command group by spma.cli; every heavy import happens inside a command."""

from __future__ import annotations

import os
from typing import Optional

import click

from spma.errors import ProfileError


@click.command("inventory")
@click.option("--root", default="/", show_default=True, help="The root to record (sandbox or image).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Write it here (gzip JSON).")
@click.option("--running-kernel", hidden=True, help="uname -r to record (tests; default: this host's).")
def inventory_cmd(root: str, out: str, running_kernel: Optional[str]) -> None:
    """Record this host's package state for the site's reports and what-if plans."""
    from spma import inventory

    doc = inventory.write(root, out, running_kernel=running_kernel)
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
