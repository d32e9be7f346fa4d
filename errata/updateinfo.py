"""updateinfo.xml readers: a file (plain, .gz, .xz, .bz2, .zst), a repository directory or a
repository URL (found through repodata/repomd.xml). XML from outside is parsed with defusedxml.

Packages listed with arch `src` (or none) are joined with the repository's primary.xml, when
there is one, to the binary packages built from that source rpm.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
import logging
import lzma
import os
import re
import urllib.parse
import zlib
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from spma.errata.model import Advisory, AdvisoryPackage, normalize_severity, normalize_type
from spma.errata.problems import Problems

from spma import grammar

log = logging.getLogger("spma.errata.updateinfo")

MAX_BYTES = 1024 * 1024 * 1024
# Decompressed advisory data (updateinfo.xml, primary.xml, a Packages index) of a whole
# distribution is tens of MiB; a compression bomb stops here with a clear error.
MAX_DECOMPRESSED = 256 * 1024 * 1024
_REPO_NS = "{http://linux.duke.edu/metadata/repo}"
_COMMON_NS = "{http://linux.duke.edu/metadata/common}"
_RPM_NS = "{http://linux.duke.edu/metadata/rpm}"


def _open_url_or_path(loc: str) -> bytes:
    if "://" in loc:
        scheme = urllib.parse.urlsplit(loc).scheme
        if scheme not in ("http", "https", "file"):
            raise ValueError("unsupported URL scheme %r" % scheme)
        # here: 18 ms of imports (http.client, email) that an OSV or a local read never needs
        from urllib.request import urlopen

        with urlopen(loc, timeout=120) as resp:  # noqa: S310 (scheme checked)
            data = bytes(resp.read(MAX_DECOMPRESSED + 1))
    else:
        with open(loc, "rb") as f:
            data = f.read(MAX_DECOMPRESSED + 1)
    if len(data) > MAX_DECOMPRESSED:
        raise ValueError("%s is larger than %d bytes" % (loc, MAX_DECOMPRESSED))
    return data


def decompress(data: bytes, name: str = "", limit: int = MAX_DECOMPRESSED) -> bytes:
    """`data` decompressed (gzip, xz, bzip2, zstd or plain); ValueError above `limit` bytes."""
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            out = _bounded(gz, limit, name)
    elif data[:6] == b"\xfd7zXZ\x00":
        with lzma.LZMAFile(io.BytesIO(data)) as xz:
            out = _bounded(xz, limit, name)
    elif data[:3] == b"BZh":
        with bz2.BZ2File(io.BytesIO(data)) as bz:
            out = _bounded(bz, limit, name)
    elif data[:4] == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError as e:
            raise ValueError("%s is zstd-compressed; install python3-zstandard to read it" % name) from e
        out = _bounded(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)), limit, name)
    else:
        out = data
    if len(out) > limit:
        raise ValueError("%s is larger than %d bytes" % (name or "the input", limit))
    return out


def _bounded(stream: Any, limit: int, name: str) -> bytes:
    # read one byte past the limit: enough to tell a bomb from a big file, never more
    try:
        out = bytes(stream.read(limit + 1))
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise ValueError("%s: corrupt compressed data: %s" % (name or "input", e)) from e
    if len(out) > limit:
        raise ValueError(
            "%s decompresses to more than %d bytes (a compression bomb?)" % (name or "the input", limit)
        )
    return out


_RPM_PART = re.compile(r"^[A-Za-z0-9._+~^]+$")


def advisory_package_problem(p: AdvisoryPackage, family: str) -> Optional[str]:
    """What makes a package of an advisory unusable in a version set, or None: its name,
    version, release and arch must each be one exact value of its grammar."""
    bad = grammar.cached_name(p.name) or (grammar.arch(p.arch) if p.arch else None)
    if bad:
        return bad
    if family == "rpm":
        for what, part in (("version", p.version), ("release", p.release)):
            if not _RPM_PART.fullmatch(part):
                return "package %r: %s %r is not an rpm %s" % (p.name, what, part, what)
        return None
    return grammar.version(p.evr)


def drop_invalid(advs: List[Advisory], family: str, problems: Problems) -> List[Advisory]:
    """The advisories whose every id and package is valid; each other one is reported by
    advisory id and file, and skipped (an error with --strict)."""
    out = []
    for a in advs:
        bad = grammar.advisory(a.id) or next(
            (x for x in (advisory_package_problem(p, family) for p in a.packages) if x), None
        )
        if bad:
            problems.add(a.source or "?", "advisory %r: %s" % (a.id[:80], bad))
        else:
            out.append(a)
    return out


def _parse_date(s: Optional[str]) -> Optional[dt.date]:
    if not s:
        return None
    s = s.strip()
    if s.isdigit():  # seconds since the epoch (createrepo_c writes these)
        return dt.datetime.fromtimestamp(int(s), tz=dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        return None


def _parse_bool(s: Optional[str]) -> Optional[bool]:
    # Present (even empty, as createrepo_c reads it) and not explicitly false: True; otherwise
    # unknown, since createrepo_c cannot tell an explicit false from an absent element.
    if s is not None and s.strip().lower() not in ("0", "false", "no"):
        return True
    return None


def parse_updateinfo(data: bytes, source: str, problems: Problems) -> List[Advisory]:
    import defusedxml.ElementTree as ET  # noqa: N817

    out: List[Advisory] = []
    try:
        it = ET.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True)
        for _event, el in it:
            if el.tag != "update":
                continue
            try:
                adv = _update(el, source)
            except ValueError as e:
                problems.add(
                    source,
                    "advisory %r: %s" % ((el.findtext("id") or "?").strip()[:80], e),
                )
                adv = None
            if adv is not None:
                out.append(adv)
            el.clear()
    except ET.ParseError as e:
        problems.add(source, "not well-formed XML: %s" % e)
    except Exception as e:  # noqa: BLE001 - defusedxml raises several unrelated types for hostile XML
        if type(e).__module__.startswith("defusedxml"):
            problems.add(source, "XML uses a forbidden construct (%s)" % type(e).__name__)
        else:
            raise
    return out


def _update(el: Any, source: str) -> Optional[Advisory]:
    adv_id = (el.findtext("id") or "").strip()
    if not adv_id:
        raise ValueError("no <id>")
    bad = grammar.advisory(adv_id)
    if bad:
        raise ValueError(bad)
    issued_el = el.find("issued")
    raw_date = issued_el.get("date") if issued_el is not None else None
    issued = _parse_date(raw_date)
    if raw_date and issued is None:
        log.warning(
            "%s: advisory %s has an unreadable issued date %r; it joins no dated set",
            source,
            adv_id,
            raw_date,
        )
    pkgs: List[AdvisoryPackage] = []
    for p in el.iter("package"):
        name = p.get("name")
        if not name:
            raise ValueError("package without a name")
        epoch = p.get("epoch") or "0"
        pkgs.append(
            AdvisoryPackage(
                name=name,
                epoch=int(epoch) if epoch.isdigit() else 0,
                version=p.get("version") or "",
                release=p.get("release") or "",
                arch=p.get("arch") or None,
                reboot_suggested=_parse_bool(p.findtext("reboot_suggested")),
            )
        )
    for p in pkgs:
        if not p.version:
            raise ValueError("package %r has no version" % p.name)
        bad = advisory_package_problem(p, "rpm")
        if bad:
            raise ValueError(bad)
    cves = set()
    for ref in el.iter("reference"):
        if (ref.get("type") or "").lower() == "cve":
            rid = ref.get("id") or ""
            title = ref.get("title") or ""
            cves.add(rid if rid.startswith("CVE-") or not title.startswith("CVE-") else title)
    return Advisory(
        id=adv_id,
        type=normalize_type(el.get("type")),
        severity=normalize_severity(el.findtext("severity")),
        issued=issued,
        packages=tuple(pkgs),
        title=(el.findtext("title") or "").strip(),
        source=source,
        cves=tuple(sorted(c for c in cves if c)),
    )


def _repomd_locations(base: str) -> Dict[str, str]:
    import defusedxml.ElementTree as ET  # noqa: N817

    repomd = _open_url_or_path(_join(base, "repodata/repomd.xml"))
    root = ET.fromstring(repomd, forbid_dtd=True)
    out = {}
    for data in root.findall(_REPO_NS + "data"):
        loc = data.find(_REPO_NS + "location")
        if loc is not None and data.get("type"):
            out[data.get("type")] = _join(base, loc.get("href"))
    return out


def _join(base: str, rel: str) -> str:
    if "://" in base:
        return base.rstrip("/") + "/" + rel
    return os.path.join(base, rel)


def _primary_by_source(loc: str) -> Dict[str, Set[Tuple[str, str]]]:
    """source rpm file name -> {(binary name, arch)} from primary.xml."""
    import defusedxml.ElementTree as ET  # noqa: N817

    data = decompress(_open_url_or_path(loc), loc)
    out: Dict[str, Set[Tuple[str, str]]] = {}
    for _ev, el in ET.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
        if el.tag == _COMMON_NS + "package":
            name = el.findtext(_COMMON_NS + "name")
            arch = el.findtext(_COMMON_NS + "arch")
            fmt = el.find(_COMMON_NS + "format")
            srpm = fmt.findtext(_RPM_NS + "sourcerpm") if fmt is not None else None
            if name and arch and srpm:
                out.setdefault(srpm, set()).add((name, arch))
            el.clear()
    return out


def _join_sources(advs: List[Advisory], by_source: Dict[str, Set[Tuple[str, str]]]) -> List[Advisory]:
    out = []
    for a in advs:
        pkgs: List[AdvisoryPackage] = []
        for p in a.packages:
            if p.arch in (None, "src"):
                srpm = "%s-%s-%s.src.rpm" % (p.name, p.version, p.release)
                binaries = sorted(by_source.get(srpm, ()))
                if binaries:
                    pkgs.extend(AdvisoryPackage(n, p.epoch, p.version, p.release, arch, p.reboot_suggested)
                                for n, arch in binaries)  # fmt: skip
                    continue
            pkgs.append(p)
        out.append(
            Advisory(
                a.id, a.type, a.severity, a.issued, tuple(dict.fromkeys(pkgs)), a.title, a.source, a.cves
            )
        )
    return out


def read(inputs: Iterable[str], *, problems: Optional[Problems] = None) -> List[Advisory]:
    problems = problems if problems is not None else Problems()
    out: List[Advisory] = []
    for inp in inputs:
        is_repo = (os.path.isdir(inp) and os.path.exists(os.path.join(inp, "repodata/repomd.xml"))) or (
            "://" in inp and not inp.rstrip("/").endswith((".xml", ".gz", ".xz", ".bz2", ".zst"))
        )
        try:
            if is_repo:
                locs = _repomd_locations(inp)
                if "updateinfo" not in locs:
                    problems.add(inp, "the repository has no updateinfo metadata")
                    continue
                advs = parse_updateinfo(
                    decompress(_open_url_or_path(locs["updateinfo"])), locs["updateinfo"], problems
                )
                if "primary" in locs and any(p.arch in (None, "src") for a in advs for p in a.packages):
                    # binary names and arches come from primary.xml: checked again below
                    advs = drop_invalid(
                        _join_sources(advs, _primary_by_source(locs["primary"])), "rpm", problems
                    )
            else:
                advs = parse_updateinfo(decompress(_open_url_or_path(inp), inp), inp, problems)
        except (OSError, ValueError, EOFError, lzma.LZMAError) as e:
            problems.add(inp, "cannot read: %s" % e)
            continue
        out.extend(advs)
    return out
