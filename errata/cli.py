"""`spma errata generate|show|diff|report`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import click

from spma.errors import AdvisoryInputError, UsageError

log = logging.getLogger("spma.errata")


def _os_id(source: str, ecosystem: Optional[str], release: Optional[str], given: Optional[str]) -> str:
    if given:
        if not re.match(r"^[A-Za-z0-9._+-]+$", given):
            raise UsageError("--os %r: use letters, digits and . _ + -" % given)
        return given
    if source == "osv" and ecosystem:
        return re.sub(r"[^a-z0-9.]+", "", ecosystem.lower())  # AlmaLinux:9 -> almalinux9
    if source == "debian" and release:
        return "debian-%s" % release
    return "el"


EXITS = """\b
Exit codes:
  0  success
  1  internal error (a bug in spma)
  3  invalid input: options, a missing or unreadable input, an empty result, mixed ecosystems"""


def _epilog(examples: str) -> str:
    return "\b\nExamples:\n" + examples + "\n\n" + EXITS


@click.group("errata", epilog=_epilog(
    "  spma errata generate --source osv almalinux.tar.xz --ecosystem AlmaLinux:9 --cutoff 2024-06-30 --out sets/\n"
    "  spma errata show sets/almalinux9-2024-06-30.json --package openssl\n"
    "  spma errata diff sets/almalinux9-2024-05-31.json sets/almalinux9-2024-06-30.json --by-advisory"))  # fmt: skip
def errata() -> None:
    """Generate and inspect errata version sets."""


def _check_inputs(inputs: Tuple[str, ...], allow_missing: bool) -> Tuple[str, ...]:
    """A missing input is an error by default: a set compiled without it would be silently
    incomplete."""
    missing = [i for i in inputs if "://" not in i and not os.path.exists(i)]
    if missing and not allow_missing:
        raise AdvisoryInputError(
            "%s: no such file or directory" % ", ".join(missing),
            hint="check the paths; --allow-missing skips missing inputs (with a warning)",
        )
    for m in missing:
        log.warning("%s: no such file or directory; skipped (--allow-missing)", m)
    return tuple(i for i in inputs if i not in missing)


@errata.command("generate", epilog=_epilog(
    "  spma errata generate --source osv almalinux.tar.xz --ecosystem AlmaLinux:9 --monthly 2024-01 2024-12 --out sets/\n"
    "  spma errata generate --source updateinfo https://mirror/el9/BaseOS/ --cutoff 2024-06-30 --format json,pan --out sets/\n"
    "  spma errata generate --source debian DSA/list --index Packages.xz --release bookworm --cutoff 2024-06-30 --out sets/"))  # fmt: skip
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
@click.option(
    "--allow-missing", is_flag=True, help="Skip a missing input with a warning instead of failing."
)
def generate(source: str, inputs: Tuple[str, ...], ecosystem: Optional[str], release: Optional[str],
             indexes: Tuple[str, ...], cutoff: Optional[str], monthly: Optional[Tuple[str, str]],
             types: Optional[str], min_severity: Optional[str], include: Tuple[str, ...],
             exclude: Tuple[str, ...], fmt: str, out: str, os_id: Optional[str], pan_namespace: str,
             strict: bool, allow_missing: bool) -> None:  # fmt: skip
    """Compile advisories into version sets."""
    from spma.errata import compile as comp
    from spma.errata import writers
    from spma.errata.problems import Problems

    if bool(cutoff) == bool(monthly):
        raise UsageError("give exactly one of --cutoff YYYY-MM-DD or --monthly YYYY-MM YYYY-MM")
    cutoffs = [comp.parse_cutoff(cutoff)] if cutoff else comp.month_ends(*monthly)  # type: ignore[misc]
    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    for f in formats:
        if f not in writers.FORMATS:
            raise UsageError("--format %s: use %s" % (f, ", ".join(writers.FORMATS)))
    filters = comp.Filters(
        types=[t.strip() for t in types.split(",")] if types else None,
        min_severity=min_severity,
        include=include,
        exclude=exclude,
    )
    problems = Problems(strict=strict)
    inputs = _check_inputs(inputs, allow_missing)
    indexes = _check_inputs(indexes, allow_missing)
    with _settling() as settle:
        t0 = time.monotonic()
        advs, family, found = _read(source, inputs, indexes, ecosystem, release, problems)
        settle()
        t1 = time.monotonic()
        sets = comp.compile_sets(advs, cutoffs, family=family, os_id=_os_id(source, ecosystem, release, os_id),
                                 sources=[os.path.basename(i.rstrip("/")) for i in inputs], filters=filters)  # fmt: skip
        settle()
        t2 = time.monotonic()
        comp.check_result(sets, len(advs), found=found, ecosystem=ecosystem,
                          filters_given=bool(types or min_severity or include or exclude))  # fmt: skip
        os.makedirs(out, exist_ok=True)
        n = 0
        for vs in sets:
            n += len(writers.write(vs, out, formats, namespace=pan_namespace))
        t3 = time.monotonic()
    click.echo("%d advisories read (%.2fs), %d sets compiled (%.2fs), %d files written to %s (%.2fs)%s"
               % (len(advs), t1 - t0, len(sets), t2 - t1, n, out, t3 - t2,
                  "; %d inputs skipped, see warnings" % len(problems.items) if problems.items else ""))  # fmt: skip


@contextlib.contextmanager
def _settling() -> Iterator[Callable[[], object]]:
    """Yields settle(): what exists when it is called is left out of the garbage collector's
    passes until the block ends. generate builds several hundred thousand long-lived objects
    that hold no cycles (advisories, entries, rendered lines), and the collector's full passes
    walked them again and again: 0.3-0.4 s of a 2.8 s AlmaLinux 8 + 9 run."""
    import gc

    if gc.get_freeze_count():  # the caller froze objects of its own (a pre-fork server): keep out
        yield lambda: None
        return
    try:
        gc.freeze()
        yield gc.freeze
    finally:
        gc.unfreeze()


def _read(source: str, inputs: Tuple[str, ...], indexes: Tuple[str, ...], ecosystem: Optional[str],
          release: Optional[str], problems: Any) -> Tuple[List[Any], str, List[str]]:  # fmt: skip
    """(advisories, version family, OSV ecosystems found in the inputs)."""
    from spma.errata import compile as comp
    from spma.errata import report as rep

    seen: Set[str] = set()
    advs, family = rep.read_advisories(source, inputs, ecosystem=ecosystem, release=release, indexes=indexes,
                                       problems=problems, ecosystems=seen)  # fmt: skip
    if source != "osv":
        return advs, family, []
    found = sorted(seen, key=lambda e: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", e)])
    comp.check_ecosystems(found, ecosystem)
    return advs, family, found


@errata.command("show", epilog=_epilog(
    "  spma errata show sets/almalinux9-2024-06-30.json\n"
    "  spma errata show sets/almalinux9-2024-06-30.json --package openssl --package 'kernel*'\n"
    "  spma errata show sets/almalinux9-2024-06-30.json --list --format json"))  # fmt: skip
@click.argument("set_path")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--package", "packages", multiple=True, metavar="GLOB", help="List these packages (globs).")
@click.option("--list", "list_all", is_flag=True, help="List every package of the set.")
def show(set_path: str, fmt: str, packages: Tuple[str, ...], list_all: bool) -> None:
    """Summarise a version set; list and filter its packages."""
    import fnmatch

    from spma.errata.versionset import load

    vs, digest = load(set_path)
    advs = sorted({a for e in vs.packages.values() for a in e.advisories} | set(vs.kernel_advisories))
    summary: Dict[str, Any] = {"id": vs.id, "os": vs.os, "family": vs.family, "cutoff": vs.cutoff.isoformat(),
               "sources": list(vs.sources), "kernel": vs.kernel, "packages": len(vs.packages),
               "advisories": len(advs), "sha256": digest}  # fmt: skip
    rows: List[Dict[str, Any]] = []
    if packages or list_all:
        for name, e in sorted(vs.packages.items()):
            if list_all or any(fnmatch.fnmatchcase(name, g) for g in packages):
                rows.append({"name": name, "evr": e.evr, "arch": list(e.arches), "advisories": list(e.advisories),
                             "severity": _worst(vs, e.advisories), "reboot_suggested": e.reboot_suggested})  # fmt: skip
        if vs.kernel and (list_all or any(fnmatch.fnmatchcase("kernel", g) for g in packages)):
            rows.append({"name": "kernel*", "evr": vs.kernel, "arch": [], "advisories": list(vs.kernel_advisories),
                         "severity": _worst(vs, vs.kernel_advisories), "reboot_suggested": True})  # fmt: skip
        if not rows:
            raise UsageError(
                "%s: no package of the set matches %s" % (set_path, ", ".join(packages)),
                hint="the set constrains only the packages its advisories fix; --list shows them all",
            )
        summary["matches"] = rows
    if fmt == "json":
        click.echo(json.dumps(summary, indent=1, sort_keys=True))
        return
    click.echo("%s: %s errata version set, cut-off %s" % (vs.id, vs.os, vs.cutoff))
    click.echo(
        "  %d packages, %d advisories, kernel %s" % (len(vs.packages), len(advs), vs.kernel or "none")
    )
    click.echo("  sources: %s" % ", ".join(vs.sources))
    if rows:
        _table(["Package", "Version", "Severity", "Advisories"],
               [[r["name"], r["evr"], r["severity"] or "-", _advs(r["advisories"])] for r in rows])  # fmt: skip
        return
    latest = sorted(advs)[-5:]
    if latest:
        click.echo("  latest advisories: %s" % ", ".join(latest))


def _worst(vs: Any, ids: Any) -> Optional[str]:
    from spma.errata.model import SEVERITIES

    sevs = [vs.advisories[a].severity for a in ids if a in vs.advisories and vs.advisories[a].severity]
    return max(sevs, key=SEVERITIES.index) if sevs else None


def _advs(ids: List[str]) -> str:
    shown = ", ".join(ids[-3:])
    return shown + (" (+%d)" % (len(ids) - 3) if len(ids) > 3 else "")


def _table(head: List[str], rows: List[List[str]]) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    for r in [head] + rows:
        click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@errata.command("diff", epilog=_epilog(
    "  spma errata diff sets/almalinux9-2024-05-31.json sets/almalinux9-2024-06-30.json\n"
    "  spma errata diff A.json B.json --by-advisory --format json"))  # fmt: skip
@click.argument("set_a")
@click.argument("set_b")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--by-advisory", is_flag=True, help="Group the changes by the advisory that moves them.")
def diff(set_a: str, set_b: str, fmt: str, by_advisory: bool) -> None:
    """What moves from SET_A to SET_B, with the advisories that move it and their severity."""
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
                     "to": eb.evr if eb else None, "advisories": new_advs,
                     "severity": _worst(b, new_advs)})  # fmt: skip
    if a.kernel != b.kernel:
        kadvs = sorted(set(b.kernel_advisories) - set(a.kernel_advisories))
        rows.append({"name": "(kernel)", "change": "kernel", "from": a.kernel, "to": b.kernel,
                     "advisories": kadvs, "severity": _worst(b, kadvs)})  # fmt: skip
    groups = _by_advisory(b, rows) if by_advisory else None
    if fmt == "json":
        doc: Dict[str, Any] = {"from": a.id, "to": b.id, "changes": rows}
        if groups is not None:
            doc["advisories"] = groups
        click.echo(json.dumps(doc, indent=1))
        return
    click.echo("%s -> %s: %d packages change" % (a.id, b.id, len(rows)))
    if groups is not None:
        for g in groups:
            click.echo("  %s  %s%s" % (g["advisory"], g["severity"] or "severity unknown",
                                       ", issued %s" % g["issued"] if g["issued"] else ""))  # fmt: skip
            for r in g["packages"]:
                click.echo(
                    "      %-7s %s  %s -> %s" % (r["change"], r["name"], r["from"] or "-", r["to"] or "-")
                )
        return
    w = max([len(r["name"]) for r in rows] + [4])
    for r in rows:
        click.echo("  %-7s %s  %s -> %s  %-9s %s" % (r["change"], r["name"].ljust(w), r["from"] or "-", r["to"] or "-",
                                                    r["severity"] or "-", " ".join(r["advisories"][-4:])))  # fmt: skip


def _by_advisory(vs: Any, rows: List[dict]) -> List[Dict[str, Any]]:
    """Each advisory new in the second set with the packages it moves, most severe first; the
    changes no new advisory explains (dropped packages) under "(none)"."""
    from spma.errata.model import SEVERITIES

    groups: Dict[str, List[dict]] = {}
    for r in rows:
        for adv in r["advisories"] or ["(none)"]:
            groups.setdefault(adv, []).append(r)
    out = []
    for adv, pkgs in groups.items():
        info = vs.advisories.get(adv)
        out.append({"advisory": adv, "severity": info.severity if info else None,
                    "issued": info.issued.isoformat() if info and info.issued else None,
                    "packages": [{k: r[k] for k in ("name", "change", "from", "to")} for r in pkgs]})  # fmt: skip
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    out.sort(key=lambda g: (-rank.get(g["severity"], -1), g["advisory"]))
    return out


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
        raise UsageError("give --inventory FILE or --root DIR, not both")
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
        raise UsageError("%s advisories cannot apply to %s, a %s host" % (source, inv.name, inv.family))
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


if __name__ == "__main__":  # pragma: no cover - `python -m spma.errata.cli ...` is `spma errata ...`
    from spma.cli import main

    main(["errata"] + sys.argv[1:])
