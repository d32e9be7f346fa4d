"""`spma errata generate|show|diff|report`."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import List, Optional, Tuple

import click

from spma.errors import ProfileError

log = logging.getLogger("spma.errata")


def _os_id(source: str, ecosystem: Optional[str], release: Optional[str], given: Optional[str]) -> str:
    if given:
        if not re.match(r"^[A-Za-z0-9._+-]+$", given):
            raise ProfileError("--os %r: use letters, digits and . _ + -" % given)
        return given
    if source == "osv" and ecosystem:
        return re.sub(r"[^a-z0-9.]+", "", ecosystem.lower())  # AlmaLinux:9 -> almalinux9
    if source == "debian" and release:
        return "debian-%s" % release
    return "el"


@click.group("errata")
def errata() -> None:
    """Generate and inspect errata version sets."""


@errata.command("generate")
@click.option("--source", type=click.Choice(["updateinfo", "osv", "debian"]), required=True)
@click.argument("inputs", nargs=-1, required=True)
@click.option("--ecosystem", help="OSV ecosystem to keep, e.g. AlmaLinux:9.")
@click.option("--release", help="Debian release, e.g. bullseye.")
@click.option(
    "--index", "indexes", multiple=True, help="Debian Packages index (also: INPUTs named *Packages*)."
)
@click.option("--cutoff", help="One set: advisories issued on or before YYYY-MM-DD.")
@click.option("--monthly", nargs=2, metavar="FROM TO", help="One set per month end, YYYY-MM YYYY-MM.")
@click.option("--type", "types", help="Comma list of security, bugfix, enhancement.")
@click.option("--min-severity", type=click.Choice(["low", "moderate", "important", "critical"]))
@click.option("--include", multiple=True, help="Only package names matching this glob.")
@click.option("--exclude", multiple=True, help="Leave out package names matching this glob.")
@click.option(
    "--format", "fmt", default="json", show_default=True, help="Comma list: json, pan, versionlock, apt."
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--os", "os_id", help="Set id prefix (default from the ecosystem or release).")
@click.option("--pan-namespace", default="", help="Template namespace, e.g. config/os/errata.")
@click.option("--strict", is_flag=True, help="A malformed input is an error (exit 3), not a warning.")
def generate(source: str, inputs: Tuple[str, ...], ecosystem: Optional[str], release: Optional[str],
             indexes: Tuple[str, ...], cutoff: Optional[str], monthly: Optional[Tuple[str, str]],
             types: Optional[str], min_severity: Optional[str], include: Tuple[str, ...],
             exclude: Tuple[str, ...], fmt: str, out: str, os_id: Optional[str], pan_namespace: str,
             strict: bool) -> None:  # fmt: skip
    """Compile advisories into version sets."""
    from spma.errata import compile as comp
    from spma.errata import writers
    from spma.errata.problems import Problems

    if bool(cutoff) == bool(monthly):
        raise ProfileError("give exactly one of --cutoff YYYY-MM-DD or --monthly YYYY-MM YYYY-MM")
    cutoffs = [comp.parse_cutoff(cutoff)] if cutoff else comp.month_ends(*monthly)  # type: ignore[misc]
    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    for f in formats:
        if f not in writers.FORMATS:
            raise ProfileError("--format %s: use %s" % (f, ", ".join(writers.FORMATS)))
    filters = comp.Filters(
        types=[t.strip() for t in types.split(",")] if types else None,
        min_severity=min_severity,
        include=include,
        exclude=exclude,
    )
    problems = Problems(strict=strict)
    t0 = time.monotonic()
    family = "rpm"
    if source == "osv":
        from spma.errata import osv

        advs = osv.read(inputs, ecosystem=ecosystem, problems=problems)
    elif source == "updateinfo":
        from spma.errata import updateinfo

        advs = updateinfo.read(inputs, problems=problems)
    else:
        from spma.errata import debian

        if not release:
            raise ProfileError("--source debian needs --release (e.g. bullseye)")
        idx = list(indexes) + [i for i in inputs if "Packages" in os.path.basename(i)]
        lists = [i for i in inputs if "Packages" not in os.path.basename(i)]
        if not idx:
            raise ProfileError("--source debian needs Packages indexes (--index or INPUTs named *Packages*)")
        advs = debian.read(lists, idx, release=release, problems=problems)
        family = "deb"
    t1 = time.monotonic()
    sets = comp.compile_sets(advs, cutoffs, family=family, os_id=_os_id(source, ecosystem, release, os_id),
                             sources=[os.path.basename(i.rstrip("/")) for i in inputs], filters=filters)  # fmt: skip
    t2 = time.monotonic()
    os.makedirs(out, exist_ok=True)
    n = 0
    for vs in sets:
        n += len(writers.write(vs, out, formats, namespace=pan_namespace))
    t3 = time.monotonic()
    click.echo("%d advisories read (%.2fs), %d sets compiled (%.2fs), %d files written to %s (%.2fs)%s"
               % (len(advs), t1 - t0, len(sets), t2 - t1, n, out, t3 - t2,
                  "; %d inputs skipped, see warnings" % len(problems.items) if problems.items else ""))  # fmt: skip


@errata.command("show")
@click.argument("set_path")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def show(set_path: str, fmt: str) -> None:
    """Summarise a version set."""
    from spma.errata.versionset import load

    vs, digest = load(set_path)
    advs = sorted({a for e in vs.packages.values() for a in e.advisories} | set(vs.kernel_advisories))
    summary = {"id": vs.id, "os": vs.os, "family": vs.family, "cutoff": vs.cutoff.isoformat(),
               "sources": list(vs.sources), "kernel": vs.kernel, "packages": len(vs.packages),
               "advisories": len(advs), "sha256": digest}  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(summary, indent=1, sort_keys=True))
        return
    click.echo("%s: %s errata version set, cut-off %s" % (vs.id, vs.os, vs.cutoff))
    click.echo(
        "  %d packages, %d advisories, kernel %s" % (len(vs.packages), len(advs), vs.kernel or "none")
    )
    click.echo("  sources: %s" % ", ".join(vs.sources))
    latest = sorted(advs)[-5:]
    if latest:
        click.echo("  latest advisories: %s" % ", ".join(latest))


@errata.command("diff")
@click.argument("set_a")
@click.argument("set_b")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def diff(set_a: str, set_b: str, fmt: str) -> None:
    """What moves from SET_A to SET_B, with the advisories that move it."""
    from spma.errata.vercmp import comparator
    from spma.errata.versionset import load

    a, _ = load(set_a)
    b, _ = load(set_b)
    cmp = comparator(b.family)
    rows: List[dict] = []
    for name in sorted(set(a.packages) | set(b.packages)):
        ea, eb = a.packages.get(name), b.packages.get(name)
        if ea and eb and ea.evr == eb.evr:
            continue
        if ea is None and eb is not None:
            change = "added"
        elif eb is None and ea is not None:
            change = "dropped"
        else:
            assert ea is not None and eb is not None
            change = "up" if cmp(eb.evr, ea.evr) > 0 else "down"
        new_advs = sorted(set(eb.advisories if eb else ()) - set(ea.advisories if ea else ()))
        rows.append({"name": name, "change": change, "from": ea.evr if ea else None,
                     "to": eb.evr if eb else None, "advisories": new_advs})  # fmt: skip
    if a.kernel != b.kernel:
        rows.append({"name": "(kernel)", "change": "kernel", "from": a.kernel, "to": b.kernel,
                     "advisories": sorted(set(b.kernel_advisories) - set(a.kernel_advisories))})  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps({"from": a.id, "to": b.id, "changes": rows}, indent=1))
        return
    click.echo("%s -> %s: %d packages change" % (a.id, b.id, len(rows)))
    w = max([len(r["name"]) for r in rows] + [4])
    for r in rows:
        click.echo("  %-7s %s  %s -> %s  %s" % (r["change"], r["name"].ljust(w), r["from"] or "-", r["to"] or "-",
                                               " ".join(r["advisories"][-4:])))  # fmt: skip


@errata.command("report")
@click.option("--inventory", "inventory_path", type=click.Path(dir_okay=False), help="A host's inventory.")
@click.option("--root", help="Or the root of a live host (default: this host, /).")
@click.option("--source", type=click.Choice(["updateinfo", "osv", "debian"]), required=True)
@click.argument("inputs", nargs=-1, required=True)
@click.option("--ecosystem", help="OSV ecosystem, e.g. AlmaLinux:9 (default: from the host's os-release).")
@click.option("--release", help="Debian release, e.g. bookworm.")
@click.option(
    "--index", "indexes", multiple=True, help="Debian Packages index (also: INPUTs named *Packages*)."
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    help="A repository the host is configured with (rpm-md dir/URL, or a Debian Packages index).",
)
@click.option("--type", "types", help="Comma list of security, bugfix, enhancement.")
@click.option("--min-severity", type=click.Choice(["low", "moderate", "important", "critical"]))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def report(inventory_path: Optional[str], root: Optional[str], source: str, inputs: Tuple[str, ...],
           ecosystem: Optional[str], release: Optional[str], indexes: Tuple[str, ...], repos: Tuple[str, ...],
           types: Optional[str], min_severity: Optional[str], fmt: str) -> None:  # fmt: skip
    """Which advisories apply to a host; exits 10 when at least one does."""
    from spma.errata import report as rep
    from spma.errata.problems import Problems

    from spma import inventory

    if inventory_path and root:
        raise ProfileError("give --inventory FILE or --root DIR, not both")
    if inventory_path:
        inv = inventory.load(inventory_path)
    else:
        doc = inventory.collect(root or "/")
        inv = inventory.Inventory(doc["hostname"], doc)
    osd = inv.doc["os"]
    if source == "osv" and not ecosystem:
        ecosystem = rep.default_ecosystem(osd.get("id", ""), osd.get("version_id", ""))
    problems = Problems()
    advs, family = rep.read_advisories(source, inputs, ecosystem=ecosystem, release=release, indexes=indexes,
                                       problems=problems)  # fmt: skip
    if family != inv.family:
        raise ProfileError("%s advisories cannot apply to %s, a %s host" % (source, inv.name, inv.family))
    matcher = rep.Matcher(advs, family, min_severity=min_severity,
                          types=[t.strip() for t in types.split(",")] if types else None)  # fmt: skip
    offered = rep.Offered(family, repos) if repos else None
    info = {k: osd.get(k) for k in ("family", "id", "version_id")}
    info["running_kernel"] = inv.running_kernel
    doc = rep.exposure(inv.name, [(p.name, p.arch, p.evr) for p in inv.packages], matcher, offered, info)
    doc["source"] = {"kind": source, "advisories": len(matcher.advisories), "ecosystem": ecosystem}
    if fmt == "json":
        click.echo(json.dumps(doc, indent=1, sort_keys=True))
    else:
        click.echo(rep.render_text(doc), nl=False)
    sys.exit(rep.EXIT_EXPOSED if doc["exposed"] else 0)


def run_errata_cli(args: List[str]) -> int:  # pragma: no cover - convenience for python -m
    try:
        errata.main(args=args, standalone_mode=False)
    except ProfileError as e:
        click.echo("spma: error: %s" % e.message, err=True)
        return e.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_errata_cli(sys.argv[1:]))
