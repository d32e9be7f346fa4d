"""Version-set writers: JSON, Pan templates (Quattor template-library-os style), a dnf
versionlock list and an apt preferences file, for sites with and without spma."""

from __future__ import annotations

import functools
import os
import re
from typing import Dict, List, Optional, Tuple

from spma.errata.model import Entry, VersionSet
from spma.errata.versionset import _json_line, dumps

from spma import grammar
from spma.errors import UsageError, VersionSetError
from spma.state import atomic_write, fsync_dir

FORMATS = ("json", "pan", "versionlock", "apt")


_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f]*')
_SET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


def check_set(vs: VersionSet) -> Tuple[List[str], List[str]]:
    """Refuse a set with any value a format would read as structure (a newline, a quote, a
    glob or a regex where an exact name belongs): every writer calls it first, so what a writer
    emits parses back to exactly the entries of the set. Readers drop such advisories earlier,
    naming the advisory and its file; this is the guard for sets from anywhere else.
    Returns the packages' JSON lines and Pan texts in name order, for the writers."""

    def refuse(where: str, problem: str) -> VersionSetError:
        return VersionSetError(
            "version set %s: %s: %s" % (_comment(vs.id), where, problem),
            hint="the advisory data behind this set holds a value no package manager would accept; "
            "fix or drop that advisory",
        )

    if not _SET_ID.fullmatch(vs.id):
        raise refuse("id", "%r is not a version-set id (letters, digits and . _ + -)" % vs.id)
    if vs.kernel is not None and grammar.version(vs.kernel):
        raise refuse("kernel", grammar.version(vs.kernel) or "")
    for a in vs.kernel_advisories:
        if grammar.cached_advisory(a):
            raise refuse("kernel advisories", grammar.cached_advisory(a) or "")
    json_lines = []
    pan_texts = []
    packages = vs.packages
    for pkg in sorted(packages):
        e = packages[pkg]
        c = _CHECKED.get(pkg)
        if c is None or c[0] is not e:
            problem = _entry_problem(pkg, e)
            if problem:
                raise refuse("package %r" % pkg, problem)
            c = _CHECKED[pkg] = (e, _json_line(pkg, e), "\n".join(_pan_lines(pkg, e)))
        json_lines.append(c[1])
        pan_texts.append(c[2])
    return json_lines, pan_texts


# name -> (entry, JSON line, Pan text): the last entry of each name that passed the check.
# Entries are frozen and shared by the sets of a series (the compiler makes a new one only for
# a name that changed), so each (name, entry) is checked and rendered once, and a set finds it
# by identity: hashing a frozen entry walks all its advisory ids, and that was most of the
# write step.
_CHECKED: Dict[str, Tuple[Entry, str, str]] = {}


def _entry_problem(pkg: str, e: Entry) -> Optional[str]:
    problem = grammar.cached_name(pkg) or grammar.version(e.evr)
    problem = problem or next((grammar.cached_arch(x) for x in e.arches if grammar.cached_arch(x)), None)
    return problem or next(
        (grammar.cached_advisory(x) for x in e.advisories if grammar.cached_advisory(x)), None
    )


def _comment(s: str) -> str:
    """Text for a comment line: printable ASCII only, everything else backslash-escaped, so an
    input file name never ends the comment and starts a statement."""
    if s.isascii() and s.isprintable():
        return s
    return s.encode("unicode_escape").decode("ascii")


def pan_string(s: str) -> str:
    """A Pan double-quoted string literal."""
    if _PLAIN.fullmatch(s):
        return '"%s"' % s
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or c == "\x7f":
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    return '"%s"' % "".join(out)


_pan_word = functools.lru_cache(maxsize=1 << 16)(pan_string)  # names and arches recur across a series


def _pan_lines(pkg: str, e: Entry) -> Tuple[str, ...]:
    # rendered once per (name, entry) of a series: check_set keeps the result
    comment = "  # %s" % _comment(" ".join(e.advisories[-3:])) if e.advisories else ""
    name, version = _pan_word(pkg), pan_string(e.evr)
    if e.arches:
        return tuple("'/software/packages' = pkg_ronly(%s, %s, %s);%s" % (name, version, _pan_word(a), comment)
                     for a in e.arches)  # fmt: skip
    return ("'/software/packages' = pkg_ronly(%s, %s);%s" % (name, version, comment),)


def _template_name(namespace: str, name: str) -> str:
    ns = namespace.strip("/")
    full = "%s/%s" % (ns, name) if ns else name
    for part in full.split("/"):
        if (
            not part
            or part in (".", "..")
            or not all(c.isascii() and (c.isalnum() or c in "_-.+") for c in part)
        ):
            raise UsageError("--pan-namespace: %r is not a valid Pan template name" % full)
    return full


def pan_templates(vs: VersionSet, namespace: str = "") -> List[tuple]:
    """[(template name, text)]: the set itself and its -init template (the kernel variable)."""
    return _pan_templates(vs, namespace, check_set(vs)[1])


def _pan_templates(vs: VersionSet, namespace: str, package_texts: List[str]) -> List[tuple]:
    name = _template_name(namespace, vs.id)
    lines = [
        "# Errata version set %s (cut-off %s), generated by spma from: %s"
        % (vs.id, vs.cutoff, _comment(", ".join(vs.sources))),
        "# pkg_ronly only constrains packages already in the profile; it never adds one.",
        "unique template %s;" % name,
        "",
    ]
    lines.extend(package_texts)
    init = [
        "# Kernel of errata version set %s (cut-off %s), generated by spma." % (vs.id, vs.cutoff),
        "unique template %s-init;" % name,
        "",
    ]
    if vs.kernel:
        init.append("variable KERNEL_VERSION_NUM ?= %s;" % pan_string(vs.kernel))
    else:
        init.append("# this set has no kernel version")
    lines.append("")  # the final newline, without copying the text once more
    init.append("")
    return [(name, "\n".join(lines)), (name + "-init", "\n".join(init))]


def versionlock(vs: VersionSet) -> str:
    check_set(vs)
    if vs.family != "rpm":
        raise UsageError(
            "the versionlock format is for RPM version sets; %s is a %s set" % (vs.id, vs.family)
        )
    lines = [
        "# dnf versionlock list for errata version set %s (cut-off %s), generated by spma"
        % (vs.id, vs.cutoff)
    ]
    for pkg, e in sorted(vs.packages.items()):
        evr = e.evr if ":" in e.evr else "0:" + e.evr
        _check_nevra(vs, pkg, evr, e.arches)
        for arch in e.arches or ("*",):
            lines.append("%s-%s.%s" % (pkg, evr, arch))
    if vs.kernel:
        kevr = vs.kernel if ":" in vs.kernel else "0:" + vs.kernel
        _check_nevra(vs, "kernel", kevr, ())
        lines.append("kernel-%s.*" % kevr)
    return "\n".join(lines) + "\n"


_RPM_EVR = re.compile(r"^[0-9]+:[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+$")


def _check_nevra(vs: VersionSet, pkg: str, evr: str, arches: Tuple[str, ...]) -> None:
    # name-E:V-R.arch reads back only if V and R hold no '-' and the arch no '.'
    if not _RPM_EVR.fullmatch(evr) or any("." in a for a in arches):
        raise VersionSetError(
            "version set %s: package %r: %r is not an rpm E:V-R that a versionlock line can hold"
            % (_comment(vs.id), pkg, evr)
        )


def apt_preferences(vs: VersionSet) -> str:
    check_set(vs)
    if vs.family != "deb":
        raise UsageError("the apt format is for Debian version sets; %s is an %s set" % (vs.id, vs.family))
    stanzas = [
        "# apt preferences for errata version set %s (cut-off %s), generated by spma" % (vs.id, vs.cutoff)
    ]
    for pkg, e in sorted(vs.packages.items()):
        names = ["%s:%s" % (pkg, a) for a in e.arches if a not in ("all",)] or [pkg]
        stanzas.append("Explanation: %s\nPackage: %s\nPin: version %s\nPin-Priority: 1001"
                       % (" ".join(e.advisories[-5:]), " ".join(names), e.evr))  # fmt: skip
    return "\n\n".join(stanzas) + "\n"


def write(vs: VersionSet, out: str, formats: List[str], *, namespace: str = "") -> List[str]:
    written = []
    json_lines, pan_texts = check_set(vs)  # once for every format
    for fmt in formats:
        if fmt == "json":
            path = os.path.join(out, vs.id + ".json")
            atomic_write(path, dumps(vs, json_lines).encode(), durable=False)
            written.append(path)
        elif fmt == "pan":
            for name, text in _pan_templates(vs, namespace, pan_texts):
                path = os.path.join(out, name + ".pan")
                atomic_write(path, text.encode(), durable=False)
                written.append(path)
        elif fmt == "versionlock":
            path = os.path.join(out, vs.id + ".versionlock.list")
            atomic_write(path, versionlock(vs).encode(), durable=False)
            written.append(path)
        elif fmt == "apt":
            path = os.path.join(out, vs.id + ".pref")
            atomic_write(path, apt_preferences(vs).encode(), durable=False)
            written.append(path)
        else:
            raise UsageError("--format %s: use %s" % (fmt, ", ".join(FORMATS)))
    # generated files are renamed into place whole; one sync per set makes them durable
    for d in sorted({os.path.dirname(p) for p in written}):
        fsync_dir(d)
    return written
