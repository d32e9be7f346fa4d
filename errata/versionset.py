"""spma-versionset/1: the JSON form of a version set, written by `errata generate` and read by
`errata show|diff` and by plan/apply (`--errata SET` or the profile's `errata`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from json.encoder import encode_basestring_ascii
from typing import Any, Dict, List, Optional, Tuple

from spma.errata.model import VERSIONSET_FORMAT, AdvisoryInfo, Entry, VersionSet

from spma import grammar
from spma.errors import VersionSetError

_q = encode_basestring_ascii  # what json.dumps writes for a str (ensure_ascii)


def _json_line(name: str, e: Entry) -> str:
    """`  "name": {...}`, the bytes json.dumps(sort_keys=True) gives the entry, written directly
    (a third of the time: this is once per entry of a series)."""
    try:
        return '  %s: {"advisories": [%s], "arch": [%s], "evr": %s%s}' % (
            _q(name), ", ".join(map(_q, e.advisories)), ", ".join(map(_q, e.arches)), _q(e.evr),
            ', "reboot_suggested": true' if e.reboot_suggested else "")  # fmt: skip
    except TypeError:  # a value that is not a string: json's own rules
        doc: Dict[str, Any] = {"advisories": list(e.advisories), "arch": list(e.arches), "evr": e.evr}
        if e.reboot_suggested:
            doc["reboot_suggested"] = True
        return "  %s: %s" % (json.dumps(name), json.dumps(doc, sort_keys=True))


def to_json(vs: VersionSet, with_packages: bool = True, with_advisories: bool = True) -> Dict[str, Any]:
    doc = {
        "format": VERSIONSET_FORMAT,
        "id": vs.id,
        "os": vs.os,
        "family": vs.family,
        "cutoff": vs.cutoff.isoformat(),
        "sources": list(vs.sources),
        "kernel": {"version": vs.kernel, "advisories": list(vs.kernel_advisories)} if vs.kernel else None,
    }
    if vs.advisories and with_advisories:
        doc["advisories"] = {a: _advisory_doc(i) for a, i in sorted(vs.advisories.items())}
    if with_packages:
        doc["packages"] = {
            n: json.loads(_json_line(n, e).split(": ", 1)[1]) for n, e in sorted(vs.packages.items())
        }
    return doc


def _advisory_doc(i: AdvisoryInfo) -> Dict[str, Any]:
    return {"severity": i.severity, "type": i.type, "issued": i.issued.isoformat() if i.issued else None}


def _advisory_block(a: str, i: AdvisoryInfo) -> str:
    doc = _advisory_doc(i)
    return "  %s: %s" % (json.dumps(a), json.dumps(doc, indent=1, sort_keys=True).replace("\n", "\n  "))


# advisory id -> (record, block): the advisories of a series' sets are the same few thousand
# records, encoded once each (indented, they go through json's pure-Python encoder) and found
# by identity, as hashing a frozen dataclass per advisory and set cost more than the rest.
_BLOCKS: Dict[str, Tuple[AdvisoryInfo, str]] = {}


def _advisory_blocks(advisories: Dict[str, AdvisoryInfo]) -> str:
    out = []
    for a in sorted(advisories):
        i = advisories[a]
        c = _BLOCKS.get(a)
        if c is None or c[0] is not i:
            c = _BLOCKS[a] = (i, _advisory_block(a, i))
        out.append(c[1])
    return ",\n".join(out)


_SPLICE = "\x00advisories\x00"


def dumps(vs: VersionSet, package_lines: Optional[List[str]] = None) -> str:
    """Indented at the top, one line per package: readable, diff-friendly, and written with the
    C encoder (indent= switches json to its pure-Python encoder, 10x slower on large sets).
    `package_lines`: the `_json_line`s of the packages in name order, when the caller has them."""
    doc = to_json(vs, with_packages=False, with_advisories=False)
    if vs.advisories:
        # the same bytes json.dumps(indent=1) gives the nested object, one cached block each
        doc["advisories"] = _SPLICE
    head = json.dumps(doc, indent=1, sort_keys=True)[:-2]
    # one join: the text is megabytes, and each concatenation copied all of it
    parts = [head]
    if vs.advisories:
        before, after = head.split(json.dumps(_SPLICE), 1)
        parts = [before, "{\n", _advisory_blocks(vs.advisories), "\n }", after]
    lines = (
        package_lines
        if package_lines is not None
        else [_json_line(n, e) for n, e in sorted(vs.packages.items())]
    )
    parts.append(',\n "packages": ')
    parts.extend(("{\n", ",\n".join(lines), "\n }") if lines else ("{}",))
    parts.append("\n}\n")
    return "".join(parts)


def loads(data: bytes, source: str) -> Tuple[VersionSet, str]:
    """(version set, "sha256:..." of the bytes). Invalid input is exit 3 naming the field."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise VersionSetError("%s: not a JSON version set: %s" % (source, e)) from e

    def fail(path: str, what: str) -> VersionSetError:
        return VersionSetError("%s: %s: %s" % (source, path, what))

    if not isinstance(doc, dict) or doc.get("format") != VERSIONSET_FORMAT:
        raise fail("/format", "expected %r" % VERSIONSET_FORMAT)
    for key in ("id", "os", "cutoff"):
        if not isinstance(doc.get(key), str):
            raise fail("/" + key, "expected a string")
        if not doc[key].isascii() or not doc[key].isprintable():
            raise fail("/" + key, "expected printable ASCII")
    try:
        cutoff = dt.date.fromisoformat(doc["cutoff"])
    except ValueError as e:
        raise fail("/cutoff", "not a YYYY-MM-DD date") from e
    family = doc.get("family", "rpm")
    if family not in ("rpm", "deb"):
        raise fail("/family", "expected rpm or deb")
    kernel: Optional[str] = None
    kadv: Tuple[str, ...] = ()
    k = doc.get("kernel")
    if k is not None:
        if not isinstance(k, dict) or not isinstance(k.get("version"), str):
            raise fail("/kernel", "expected null or {version}")
        kernel = k["version"]
        if grammar.version(kernel):
            raise fail("/kernel/version", grammar.version(kernel) or "")
        kadv = tuple(str(x) for x in k.get("advisories", []))
    pk = doc.get("packages")
    if not isinstance(pk, dict):
        raise fail("/packages", "expected a dict")
    packages: Dict[str, Entry] = {}
    for name, ent in pk.items():
        # a set is untrusted input too: only values a package manager reads as one exact value
        bad = grammar.name(name)
        if bad:
            raise fail("/packages/%s" % name.encode("unicode_escape").decode("ascii"), bad)
        if not isinstance(ent, dict) or not isinstance(ent.get("evr"), str) or not ent["evr"]:
            raise fail("/packages/%s/evr" % name, "expected a version string")
        arches = ent.get("arch", [])
        advs = ent.get("advisories", [])
        if not isinstance(arches, list) or not all(isinstance(a, str) for a in arches):
            raise fail("/packages/%s/arch" % name, "expected a list of strings")
        if not isinstance(advs, list) or not all(isinstance(a, str) for a in advs):
            raise fail("/packages/%s/advisories" % name, "expected a list of strings")
        for what, check, items in (("evr", grammar.version, [ent["evr"]]), ("arch", grammar.arch, arches),
                                   ("advisories", grammar.advisory, advs)):  # fmt: skip
            for x in items:
                bad = check(x)
                if bad:
                    raise fail("/packages/%s/%s" % (name, what), bad)
        packages[name] = Entry(
            ent["evr"], tuple(arches), tuple(advs), bool(ent.get("reboot_suggested", False))
        )
    sources = doc.get("sources", [])
    vs = VersionSet(
        advisories=_advisory_info(doc.get("advisories"), fail),
        id=doc["id"],
        os=doc["os"],
        family=family,
        cutoff=cutoff,
        sources=tuple(str(s) for s in sources) if isinstance(sources, list) else (),
        kernel=kernel,
        kernel_advisories=kadv,
        packages=packages,
    )
    return vs, digest


def _advisory_info(doc: Any, fail: Any) -> Dict[str, AdvisoryInfo]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise fail("/advisories", "expected a dict")
    out = {}
    for aid, d in doc.items():
        if not isinstance(d, dict):
            raise fail("/advisories/%s" % aid, "expected a dict")
        issued = None
        if isinstance(d.get("issued"), str):
            try:
                issued = dt.date.fromisoformat(d["issued"])
            except ValueError as e:
                raise fail("/advisories/%s/issued" % aid, "not a YYYY-MM-DD date") from e
        sev = d.get("severity")
        out[str(aid)] = AdvisoryInfo(
            sev if isinstance(sev, str) else None, str(d.get("type") or "unknown"), issued
        )
    return out


def load(source: str) -> Tuple[VersionSet, str]:
    from spma.profile import read_source

    return loads(read_source(source, what="errata version set"), source)
