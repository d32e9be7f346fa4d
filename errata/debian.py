"""Debian: the security tracker's DSA/DLA/DTSA lists joined with apt Packages indexes.

A list entry fixes a *source* package in a release (`[bullseye] - openssl 1.1.1n-0+deb11u4`);
the index tells which binary packages (and arches) that source builds, through the `Source:`
field (a binary without one is its own source). Each binary gets the fixed source version,
unless its index entry shows a binary-only version scheme (`Source: foo (1.2-3)` beside
`Version: 1.2-3+b1`), in which case the binary suffix is kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

from spma.errata.model import Advisory, AdvisoryPackage
from spma.errata.problems import Problems
from spma.errata.updateinfo import MAX_DECOMPRESSED, decompress, drop_invalid

from spma import grammar
from spma.deb822 import stanzas

log = logging.getLogger("spma.errata.debian")

_HEAD = re.compile(r"^\[(\d{1,2} \w{3} \d{4})\] ((?:DSA|DLA|DTSA)-[\w-]+) (.*)$")
_FIX = re.compile(r"^\s+\[(\w+)\] - (\S+) (\S+)")
_SOURCE = re.compile(r"^(\S+)(?: \((\S+)\))?$")


class Binary:
    __slots__ = ("name", "version", "arch", "source", "source_version")

    def __init__(self, name: str, version: str, arch: str, source: str, source_version: str) -> None:
        self.name, self.version, self.arch = name, version, arch
        self.source, self.source_version = source, source_version


def read_index(path: str, problems: Optional[Problems] = None) -> List[Binary]:
    with open(path, "rb") as f:
        data = f.read(MAX_DECOMPRESSED + 1)
    if len(data) > MAX_DECOMPRESSED:
        raise ValueError("%s is larger than %d bytes" % (path, MAX_DECOMPRESSED))
    text = decompress(data, path).decode("utf-8", "replace")
    out = []
    for fields in stanzas(text):
        if "Package" not in fields or "Version" not in fields:
            continue
        # an entry named like a glob or a regex would pin everything in an apt preferences file
        bad = (grammar.name(fields["Package"]) or grammar.version(fields["Version"])
               or (grammar.arch(fields["Architecture"]) if fields.get("Architecture") else None))  # fmt: skip
        if bad:
            if problems is not None:
                problems.add(path, "index entry %r: %s" % (fields["Package"][:80], bad))
            continue
        src, src_ver = fields["Package"], fields["Version"]
        if "Source" in fields:
            m = _SOURCE.match(fields["Source"])
            if m:
                src = m.group(1)
                src_ver = m.group(2) or fields["Version"]
        out.append(
            Binary(fields["Package"], fields["Version"], fields.get("Architecture", ""), src, src_ver)
        )
    return out


def _strip_epoch(v: str) -> str:
    return v.split(":", 1)[1] if ":" in v else v


def _binary_version(fixed: str, b: Binary) -> Optional[str]:
    """The binary's version when built from source version `fixed`, or None if its version
    scheme cannot be related to the source's."""
    if b.version == b.source_version:
        return fixed
    if b.version.startswith(b.source_version):
        return fixed + b.version[len(b.source_version) :]  # a binNMU suffix such as +b1
    src_plain = _strip_epoch(b.source_version)
    bin_plain = _strip_epoch(b.version)
    if bin_plain.endswith(src_plain):
        # its own upstream version around the source's (0.9+LibO7.0.4-4+deb11u13)
        prefix = b.version[: len(b.version) - len(src_plain)]
        return prefix + _strip_epoch(fixed)
    return None


def parse_list(text: str, source: str, problems: Problems) -> List[Tuple[str, str, dt.date, str, str, str]]:
    """(advisory id, title, date, release, source package, fixed version) for each fix line."""
    out = []
    head: Optional[Tuple[str, dt.date, str]] = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _HEAD.match(line)
        if m:
            try:
                date = dt.datetime.strptime(m.group(1), "%d %b %Y").date()
            except ValueError:
                problems.add("%s:%d" % (source, n), "unreadable date %r" % m.group(1))
                head = None
                continue
            head = (m.group(2), date, m.group(3))
            continue
        if line[0] in " \t":
            fm = _FIX.match(line)
            if fm and head is not None:
                ver = fm.group(3)
                if ver.startswith("<"):  # <not-affected>, <unfixed>, <end-of-life>, <no-dsa>
                    continue
                bad = grammar.advisory(head[0]) or grammar.name(fm.group(2)) or grammar.version(ver)
                if bad:
                    problems.add("%s:%d" % (source, n), "advisory %r: %s" % (head[0][:80], bad))
                    continue
                out.append((head[0], head[2], head[1], fm.group(1), fm.group(2), ver))
            continue
        if line.startswith("["):
            problems.add("%s:%d" % (source, n), "unreadable advisory line %r" % line[:80])
            head = None
    return out


_CVES = re.compile(r"^\s+\{([^}]*)\}")


def parse_cves(text: str) -> Dict[str, Tuple[str, ...]]:
    """advisory id -> the CVE ids on its `{CVE-... CVE-...}` line."""
    out: Dict[str, Tuple[str, ...]] = {}
    adv = None
    for line in text.splitlines():
        m = _HEAD.match(line)
        if m:
            adv = m.group(2)
            continue
        c = _CVES.match(line)
        if c and adv is not None:
            out[adv] = tuple(sorted(x for x in c.group(1).split() if x.startswith("CVE-")))
    return out


def read(lists: Iterable[str], indexes: Iterable[str], *, release: str,
         problems: Optional[Problems] = None) -> List[Advisory]:  # fmt: skip
    problems = problems if problems is not None else Problems()
    by_source: Dict[str, List[Binary]] = {}
    for idx in indexes:
        try:
            for b in read_index(idx, problems):
                by_source.setdefault(b.source, []).append(b)
        except (OSError, ValueError) as e:
            problems.add(idx, "cannot read index: %s" % e)
    fixes: Dict[str, Tuple[str, dt.date, List[AdvisoryPackage]]] = {}
    unknown: Set[str] = set()
    unrelated: Set[str] = set()
    cves: Dict[str, Tuple[str, ...]] = {}
    for lst in lists:
        try:
            with open(lst, "rb") as f:
                raw = f.read(MAX_DECOMPRESSED + 1)
        except OSError as e:
            problems.add(lst, "cannot read: %s" % e)
            continue
        if len(raw) > MAX_DECOMPRESSED:
            problems.add(lst, "larger than %d bytes" % MAX_DECOMPRESSED)
            continue
        text = raw.decode("utf-8", "replace")
        cves.update(parse_cves(text))
        for adv_id, title, date, rel, src, ver in parse_list(text, lst, problems):
            if rel != release:
                continue
            bins = by_source.get(src)
            if not bins:
                unknown.add(src)
                continue
            entry = fixes.setdefault(adv_id, (title, date, []))
            seen = set()
            for b in bins:
                key = (b.name, b.arch)
                if key in seen:
                    continue
                seen.add(key)
                bver = _binary_version(ver, b)
                if bver is None:
                    unrelated.add(b.name)
                    continue
                entry[2].append(AdvisoryPackage(b.name, 0, bver, "", b.arch or None))
    if unknown:
        log.info("%d fixed source packages are not in the given indexes (e.g. %s)", len(unknown),
                 ", ".join(sorted(unknown)[:5]))  # fmt: skip
    if unrelated:
        log.info("%d binaries have a version scheme unrelated to their source's and are left out (e.g. %s)",
                 len(unrelated), ", ".join(sorted(unrelated)[:5]))  # fmt: skip
    out = []
    for adv_id, (title, date, pkgs) in fixes.items():
        out.append(Advisory(adv_id, "security", None, date, tuple(dict.fromkeys(pkgs)), title, "debian",
                            cves.get(adv_id, ())))  # fmt: skip
    # a binary's version is built from the list's fixed version and the index's suffix
    out = drop_invalid(out, "deb", problems)
    return sorted(out, key=lambda a: (a.issued or dt.date.min, a.id))
