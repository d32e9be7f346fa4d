"""OSV JSON advisories (AlmaLinux, Rocky Linux): a directory, single files, or a tarball."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tarfile
from typing import Any, Iterable, Iterator, List, Optional, Set, Tuple

from spma.errata.model import Advisory, AdvisoryPackage, normalize_severity
from spma.errata.problems import Problems
from spma.errata.updateinfo import advisory_package_problem

from spma import grammar, tarsafe
from spma.errors import AdvisoryInputError

log = logging.getLogger("spma.errata.osv")

_TYPE_BY_PREFIX = {"SA": "security", "BA": "bugfix", "EA": "enhancement"}
_SEVERITY_IN_SUMMARY = re.compile(r"^\s*(Critical|Important|Moderate|Low)\s*:", re.I)
MAX_FILE = 32 * 1024 * 1024
# a compressed tarball can expand without bound; all AlmaLinux advisories are ~100 MiB
MAX_TAR = 1024 * 1024 * 1024


def _documents(inputs: Iterable[str], problems: Problems) -> Iterator[Tuple[str, bytes]]:
    for inp in inputs:
        if os.path.isdir(inp):
            for dirpath, _dirs, files in os.walk(inp):
                for fn in sorted(files):
                    if fn.endswith(".json"):
                        path = os.path.join(dirpath, fn)
                        try:
                            with open(path, "rb") as f:
                                data = f.read(MAX_FILE + 1)
                        except OSError as e:
                            problems.add(path, "cannot read: %s" % e)
                            continue
                        if len(data) > MAX_FILE:
                            problems.add(path, "larger than %d bytes" % MAX_FILE)
                            continue
                        yield path, data
        elif tarfile.is_tarfile(inp) if os.path.isfile(inp) else False:
            total = 0
            try:
                for name, body in tarsafe.regular_members(inp, (".json",), MAX_FILE):
                    where = "%s:%s" % (inp, name)
                    if body is None:
                        problems.add(where, "larger than %d bytes" % MAX_FILE)
                        continue
                    total += len(body)
                    if total > MAX_TAR:
                        problems.add(
                            inp, "holds more than %d bytes of advisories; the rest is skipped" % MAX_TAR
                        )
                        break
                    yield where, body
            except tarsafe.DamagedArchive as e:
                raise AdvisoryInputError(
                    str(e), hint="fetch the archive again; no version set was written from it"
                ) from e
        elif os.path.isfile(inp):
            with open(inp, "rb") as f:
                data = f.read(MAX_FILE + 1)
            if len(data) > MAX_FILE:
                problems.add(inp, "larger than %d bytes" % MAX_FILE)
            else:
                yield inp, data
        elif os.path.exists(inp):
            problems.add(inp, "not a regular file or directory")
        else:
            problems.add(inp, "no such file or directory")


def _split_fixed(fixed: str) -> Tuple[int, str, str]:
    epoch = 0
    if ":" in fixed:
        e, fixed = fixed.split(":", 1)
        if not e.isascii() or not e.isdigit() or len(e) > 9:
            raise ValueError("fixed version %r has an invalid epoch" % fixed)
        epoch = int(e)
    if "-" not in fixed:
        raise ValueError("fixed version %r has no release" % fixed)
    ver, rel = fixed.rsplit("-", 1)
    return epoch, ver, rel


def _type(adv_id: str) -> str:
    m = re.match(r"^[A-Z]+?(SA|BA|EA)-", adv_id)
    return _TYPE_BY_PREFIX.get(m.group(1), "unknown") if m else "unknown"


def _issued(d: Any) -> Optional[dt.date]:
    if not isinstance(d, str) or len(d) < 10:
        return None
    return dt.date.fromisoformat(d[:10])


def parse_document(doc: Any, name: str, ecosystem: Optional[str]) -> Optional[Advisory]:
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("id"), str)
        or not isinstance(doc.get("affected"), list)
    ):
        raise ValueError("not an OSV advisory (needs id and affected)")
    bad = grammar.advisory(doc["id"])
    if bad:
        raise ValueError(bad)
    summary = doc.get("summary") or ""
    severity = None
    ds = doc.get("database_specific")
    if isinstance(ds, dict) and isinstance(ds.get("severity"), str):
        severity = normalize_severity(ds["severity"])
    if severity is None:
        m = _SEVERITY_IN_SUMMARY.match(summary)
        severity = normalize_severity(m.group(1)) if m else None
    pkgs: List[AdvisoryPackage] = []
    for aff in doc["affected"]:
        pkg = aff.get("package") or {}
        if ecosystem and pkg.get("ecosystem") != ecosystem:
            continue
        pname = pkg.get("name")
        if not isinstance(pname, str) or not pname:
            raise ValueError("affected package without a name")
        for rng in aff.get("ranges") or []:
            for ev in rng.get("events") or []:
                if "fixed" in ev:
                    epoch, ver, rel = _split_fixed(str(ev["fixed"]))
                    p = AdvisoryPackage(pname, epoch, ver, rel)
                    bad = advisory_package_problem(p, "rpm")
                    if bad:
                        raise ValueError("advisory %r: %s" % (doc["id"], bad))
                    pkgs.append(p)
    if not pkgs:
        return None
    refs = [x for k in ("aliases", "related") for x in (doc.get(k) or []) if isinstance(x, str)]
    return Advisory(
        id=doc["id"],
        type=_type(doc["id"]),
        severity=severity,
        issued=_issued(doc.get("published")),
        packages=tuple(pkgs),
        title=summary,
        source=name,
        cves=tuple(sorted({x for x in refs if x.startswith("CVE-")})),
    )


def ecosystems_of(doc: Any) -> Set[str]:
    """The ecosystems an OSV document names (for "which did you mean" and mixed inputs)."""
    out: Set[str] = set()
    affected = doc.get("affected") if isinstance(doc, dict) else None
    for aff in affected if isinstance(affected, list) else []:
        pkg = aff.get("package") if isinstance(aff, dict) else None
        if isinstance(pkg, dict) and isinstance(pkg.get("ecosystem"), str):
            out.add(pkg["ecosystem"])
    return out


def read(
    inputs: Iterable[str],
    *,
    ecosystem: Optional[str] = None,
    problems: Optional[Problems] = None,
    ecosystems: Optional[Set[str]] = None,
) -> List[Advisory]:
    """The advisories of `ecosystem` (all, when None); `ecosystems` collects every ecosystem seen."""
    problems = problems if problems is not None else Problems()
    out: List[Advisory] = []
    for name, data in _documents(inputs, problems):
        try:
            doc = json.loads(data.decode("utf-8"))
            if ecosystems is not None:
                ecosystems.update(ecosystems_of(doc))
            adv = parse_document(doc, name, ecosystem)
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError, RecursionError) as e:
            problems.add(name, str(e) or type(e).__name__)
            continue
        if adv is not None:
            out.append(adv)
    return out
