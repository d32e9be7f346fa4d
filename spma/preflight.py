"""Pre-flight: the root's own package-manager settings that contradict the profile.

spma's runs never read these files (its configuration is private), but an administrator's
manual `dnf upgrade` or `apt-get` on that host does: a versionlock, an exclude, a hold or a pin
would make it undo what spma did, or refuse. Each contradiction becomes a plan note naming the
profile path and the host file and line; a protected package the plan removes is a refusal.

Everything under the root is untrusted: files are read with a size bound, symlinks are resolved
as a chroot would (they can never lead out of the root), and parsing never raises on bad input.
The parsers and checks are pure functions of the file texts, so they are tested without a root.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from spma.model import PackageDecl, Profile, is_glob
from spma.pan import escape

MAX_BYTES = 1 << 20  # per file: a package-manager setting file is a few KiB
MAX_FILES = 256  # per directory (preferences.d, protected.d, ...)
MAX_LINKS = 40

MODES = ("note", "error")
SPMA = "/software/components/spma"


@dataclass(frozen=True)
class Contradiction:
    """One host setting that disagrees with one profile value."""

    kind: str  # exclude, includepkgs, versionlock, protected, installonly_limit, hold, pin, ...
    profile_path: str
    host_file: str  # as the root sees it: /etc/dnf/dnf.conf
    line: int
    setting: str  # the setting as written, shortened
    effect: str
    refuse: bool = False  # spma's own result would be unsafe: exit 7

    @property
    def where(self) -> str:
        return "%s:%d" % (self.host_file, self.line) if self.line else self.host_file

    def note(self) -> str:
        return "host setting %s (%s) contradicts %s: %s" % (self.where, self.setting, self.profile_path,
                                                             self.effect)  # fmt: skip

    def to_json(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "profile_path": self.profile_path,
            "host_file": self.host_file,
            "line": self.line,
            "setting": self.setting,
            "effect": self.effect,
            "refuse": self.refuse,
        }


# -- reading files from an untrusted root ---------------------------------------------------
def resolve_in_root(root: str, rel: str) -> Optional[str]:
    """The host path of `rel` inside `root`, following symlinks as a chroot would: an absolute
    target starts again at the root and `..` stops at it, so the result never leaves the root.
    None when a component is missing or the links loop."""
    root = os.path.realpath(root)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    done: List[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        path = os.path.join(root, *done, part)
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                return None
            try:
                target = os.readlink(path)
            except OSError:
                return None
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def read_root_file(root: str, rel: str) -> Optional[str]:
    """Text of a regular file inside the root, at most MAX_BYTES (the rest is ignored)."""
    path = resolve_in_root(root, rel)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # missing, unreadable, or swapped for a symlink since it was resolved
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def list_root_dir(root: str, rel: str, keep: Callable[[str], bool]) -> List[str]:
    """Root-relative paths of the entries of a directory inside the root that `keep` accepts,
    sorted as the package managers read them, at most MAX_FILES."""
    path = resolve_in_root(root, rel)
    if path is None:
        return []
    try:
        names = sorted(n for n in os.listdir(path) if keep(n))
    except OSError:
        return []
    return ["%s/%s" % (rel.rstrip("/"), n) for n in names[:MAX_FILES]]


# -- pure parsers ------------------------------------------------------------------------------
Entry = Tuple[str, str, str, int]  # section, key, value, line


def parse_ini(text: str) -> List[Entry]:
    """dnf.conf / .repo syntax: [section], key=value, continuation lines indented, # ; comments."""
    out: List[List[Any]] = []
    section = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if raw[:1] in (" ", "\t") and out and out[-1][0] == section:
            out[-1][2] += " " + line.strip()
            continue
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1].strip()
            continue
        if "=" in s:
            k, v = s.split("=", 1)
            out.append([section, k.strip().lower(), v.strip(), n])
    return [(e[0], e[1], e[2], e[3]) for e in out]


def split_list(value: str) -> List[str]:
    """dnf's list values: separated by commas and/or whitespace."""
    return [x for x in re.split(r"[,\s]+", value) if x]


_ARCHES = {"noarch", "x86_64", "i686", "i386", "aarch64", "ppc64le", "s390x", "armv7hl", "src", "*"}


def split_nevra(spec: str) -> Tuple[str, Optional[str]]:
    """`openssl-1:3.0.7-24.el9.*` -> ("openssl", "1:3.0.7-24.el9"); a bare name -> (name, None)."""
    head = spec
    last = head.rsplit(".", 1)
    if len(last) == 2 and last[1] in _ARCHES:
        head = last[0]
    parts = head.rsplit("-", 2)
    if len(parts) == 3 and parts[0] and any(c.isdigit() for c in parts[1]):
        return parts[0], "%s-%s" % (parts[1], parts[2])
    return spec, None


def parse_versionlock_list(text: str) -> List[Tuple[str, Optional[str], bool, int]]:
    """dnf4's versionlock.list: (name, evr or None, is-exclude, line)."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        exclude = s.startswith("!")
        name, evr = split_nevra(s.lstrip("!").strip())
        out.append((name, evr, exclude, n))
    return out


def parse_versionlock_toml(text: str) -> List[Tuple[str, List[Tuple[str, str, str]], int]]:
    """dnf5's versionlock.toml, only the shape dnf5 writes: [[packages]] with `name` and
    [[packages.conditions]] of key/comparator/value. (name, conditions, line of the name)."""
    out: List[Tuple[str, List[Tuple[str, str, str]], int]] = []
    name: Optional[str] = None
    line = 0
    conds: List[Tuple[str, str, str]] = []
    cur: Dict[str, str] = {}
    where = ""

    def flush_cond() -> None:
        if cur:
            conds.append((cur.get("key", ""), cur.get("comparator", "="), cur.get("value", "")))
            cur.clear()

    def flush_pkg() -> None:
        nonlocal name, conds
        flush_cond()
        if name:
            out.append((name, conds, line))
        name, conds = None, []

    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.split("#", 1)[0].strip() if not raw.strip().startswith('"') else raw.strip()
        if s == "[[packages]]":
            flush_pkg()
            where = "pkg"
        elif s == "[[packages.conditions]]":
            flush_cond()
            where = "cond"
        elif s.startswith("["):
            flush_pkg()
            where = ""
        elif "=" in s and where:
            k, v = s.split("=", 1)
            k, v = k.strip(), v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                v = v[1:-1]
            if where == "pkg" and k == "name":
                name, line = v, n
            elif where == "cond" and k in ("key", "comparator", "value"):
                cur[k] = v
    flush_pkg()
    return out


def parse_names(text: str) -> List[Tuple[str, int]]:
    """protected.d: one name per line, # comments."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.split("#", 1)[0].strip()
        for name in split_list(s):
            out.append((name, n))
    return out


def stanzas_with_lines(text: str) -> List[Tuple[Dict[str, str], Dict[str, int]]]:
    """deb822 paragraphs (dpkg status, apt preferences) with the line of each field."""
    out: List[Tuple[Dict[str, str], Dict[str, int]]] = []
    fields: Dict[str, str] = {}
    lines: Dict[str, int] = {}
    last = ""
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            if fields:
                out.append((fields, lines))
            fields, lines, last = {}, {}, ""
            continue
        if raw.startswith("#"):
            continue
        if raw[:1] in (" ", "\t"):
            if last:
                fields[last] += "\n" + raw.strip()
            continue
        if ":" in raw:
            k, v = raw.split(":", 1)
            last = k.strip().lower()
            fields[last] = v.strip()
            lines[last] = n
    if fields:
        out.append((fields, lines))
    return out


def parse_apt_conf(text: str) -> List[Tuple[str, str, int]]:
    """apt.conf syntax, flattened: (Full::Key, value, line); list items repeat their key.
    Keys are lowercased (apt's are case-insensitive)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    tokens: List[Tuple[str, int]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw
        if line.lstrip().startswith("#"):
            continue  # #include / #clear, and comments
        pos = 0
        while pos < len(line):
            c = line[pos]
            if c.isspace():
                pos += 1
            elif line.startswith("//", pos):
                break
            elif c == '"':
                end = line.find('"', pos + 1)
                end = len(line) if end < 0 else end
                tokens.append(('"' + line[pos + 1 : end], n))
                pos = end + 1
            elif c in "{};":
                tokens.append((c, n))
                pos += 1
            else:
                m = re.compile(r'[^\s{};"]+').match(line, pos)
                assert m is not None
                tokens.append((m.group(0), n))
                pos = m.end()
    out: List[Tuple[str, str, int]] = []
    stack: List[str] = []
    key: Optional[str] = None
    for tok, n in tokens:
        if tok == "{":
            stack.append(key or "")
            key = None
        elif tok == "}":
            if stack:
                stack.pop()
            key = None
        elif tok == ";":
            key = None
        elif tok.startswith('"'):
            full = "::".join([s for s in stack if s] + ([key] if key else []))
            out.append((full.lower(), tok[1:], n))
            key = None
        else:
            key = tok
    return out


# -- checks (pure: profile + file texts) -----------------------------------------------------
Texts = Mapping[str, str]  # host path -> text
VerEq = Callable[[str, str], bool]  # (host's version, declared version) -> same version?


def _declared(profile: Profile) -> List[PackageDecl]:
    return [d for d in profile.packages if not d.is_glob]


def _matching(decls: Iterable[PackageDecl], pattern: str) -> List[PackageDecl]:
    return [d for d in decls if fnmatch.fnmatchcase(d.name, pattern)]


def _short(s: str, n: int = 80) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _undeclared_path(name: str) -> str:
    return "/software/packages (%s is not declared at /software/packages/%s)" % (name, escape(name))


def check_dnf(profile: Profile, texts: Texts, *, same: VerEq, removals: Sequence[Mapping[str, Any]] = (),
              managed_repo_files: Sequence[str] = ()) -> List[Contradiction]:  # fmt: skip
    decls = _declared(profile)
    conf = "/etc/dnf/dnf.conf"
    entries = [(conf, e) for e in parse_ini(texts.get(conf, "")) if e[0] == "main"]
    if profile.userrepos:
        for f in sorted(texts):
            if f.startswith("/etc/yum.repos.d/") and f not in managed_repo_files:
                if texts[f].startswith("# Written by spma"):
                    continue
                entries += [(f, e) for e in parse_ini(texts[f])]
    out: List[Contradiction] = []
    for f, entry in entries:
        out.extend(_dnf_setting(decls, f, entry, f == conf))
    out.extend(_versionlocks(decls, texts, same))
    out.extend(_dnf_protected(texts, removals))
    return out


def _dnf_setting(decls: Sequence[PackageDecl], f: str, entry: Entry, main: bool) -> List[Contradiction]:
    section, key, value, line = entry
    scope = "any repository" if main else "repository %s" % section
    setting = _short("%s=%s" % (key, value))
    out: List[Contradiction] = []
    if key in ("exclude", "excludepkgs"):
        for pat in split_list(value):
            for d in _matching(decls, pat):
                out.append(Contradiction(
                    "exclude", d.where, f, line, setting,
                    "a manual `dnf install` or `dnf upgrade` on this host would not see %s in %s: "
                    "the pattern %r hides the declared package" % (d.name, scope, pat)))  # fmt: skip
    elif key == "includepkgs" and split_list(value):
        pats = split_list(value)
        for d in decls:
            if not any(fnmatch.fnmatchcase(d.name, p) for p in pats):
                out.append(Contradiction(
                    "includepkgs", d.where, f, line, setting,
                    "a manual dnf run on this host sees only the packages includepkgs lists in %s; "
                    "the declared %s is not among them" % (scope, d.name)))  # fmt: skip
    elif key == "installonly_limit" and main and value.strip().isdigit():
        limit = int(value)
        for d in decls:
            if limit >= 2 and d.name.startswith("kernel") and len(d.versions) > limit:
                out.append(Contradiction(
                    "installonly_limit", d.where, f, line, "installonly_limit=%d" % limit,
                    "the profile declares %d versions of %s; a manual `dnf upgrade` on this host "
                    "would keep only %d and remove the oldest" % (len(d.versions), d.name, limit)))  # fmt: skip
    return out


def _versionlocks(decls: Sequence[PackageDecl], texts: Texts, same: VerEq) -> List[Contradiction]:
    out: List[Contradiction] = []
    vl = "/etc/dnf/plugins/versionlock.list"
    for name, evr, exclude, line in parse_versionlock_list(texts.get(vl, "")):
        for d in _matching(decls, name):
            out.extend(_lock(d, vl, line, name, evr, exclude, same, "dnf"))
    vt = "/etc/dnf/versionlock.toml"
    for name, conds, line in parse_versionlock_toml(texts.get(vt, "")):
        evrs = [(c, v) for k, c, v in conds if k == "evr" and v]
        for d in _matching(decls, name):
            if not evrs:
                out.extend(_lock(d, vt, line, name, None, False, same, "dnf5"))
            for comp, v in evrs:
                if comp in ("=", "=="):
                    out.extend(_lock(d, vt, line, name, v, False, same, "dnf5"))
                elif comp == "!=":
                    out.extend(_lock(d, vt, line, name, v, True, same, "dnf5"))
    return out


def _dnf_protected(texts: Texts, removals: Sequence[Mapping[str, Any]]) -> List[Contradiction]:
    """Protected packages the plan removes: dnf itself would refuse; so does spma."""
    conf = "/etc/dnf/dnf.conf"
    protected: List[Tuple[str, str, int]] = []
    for section, key, value, line in parse_ini(texts.get(conf, "")):
        if section == "main" and key == "protected_packages":
            protected += [(n, conf, line) for n in split_list(value)]
    for f in sorted(texts):
        if f.startswith("/etc/dnf/protected.d/"):
            protected += [(n, f, line) for n, line in parse_names(texts[f])]
    out = []
    for a in removals:
        for name, f, line in protected:
            if fnmatch.fnmatchcase(a["name"], name):
                out.append(_protected_removal(a, f, line, name, "dnf"))
                break
    return out


def _protected_removal(a: Mapping[str, Any], f: str, line: int, entry: str, pm: str) -> Contradiction:
    because = a.get("because") or ""
    return Contradiction(
        "protected", _undeclared_path(a["name"]), f, line, entry,
        "the plan removes %s (%s), which this host protects: %s itself would refuse, and so does spma"
        % (a["name"], because, pm), refuse=True)  # fmt: skip


def _lock(d: PackageDecl, f: str, line: int, name: str, evr: Optional[str], exclude: bool, same: VerEq,
          pm: str) -> List[Contradiction]:  # fmt: skip
    setting = "%s%s%s" % ("!" if exclude else "", name, "-" + evr if evr else "")
    if exclude:
        hit = [v for v in d.versions if evr and same(evr, v)] if d.versions else [evr or "any"]
        if not hit:
            return []
        return [Contradiction("versionlock", d.version_path(hit[0]) if d.versions else d.where, f, line, setting,
                              "a manual `%s upgrade` on this host would never install %s %s, which the "
                              "profile needs" % (pm, d.name, evr or ""))]  # fmt: skip
    if evr is None:
        return [Contradiction("versionlock", d.where, f, line, setting,
                              "a manual `%s upgrade` on this host would keep %s at the installed "
                              "version" % (pm, d.name))]  # fmt: skip
    if d.versions:
        if any(same(evr, v) for v in d.versions):
            return []
        return [Contradiction("versionlock", d.version_path(d.versions[-1]), f, line, setting,
                              "a manual `%s upgrade` on this host would hold %s at %s, the profile "
                              "declares %s" % (pm, d.name, evr, ", ".join(d.versions)))]  # fmt: skip
    return [Contradiction("versionlock", d.where, f, line, setting,
                          "a manual `%s upgrade` on this host would hold %s at %s; the profile lets it "
                          "follow the repositories" % (pm, d.name, evr))]  # fmt: skip


def _apt_keep(ext: str) -> Callable[[str], bool]:
    """apt reads parts whose names use only [A-Za-z0-9_.-], with no extension or `ext`."""

    def keep(n: str) -> bool:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", n):
            return False
        return "." not in n or n.rsplit(".", 1)[1] == ext

    return keep


def check_apt(profile: Profile, texts: Texts, *, same: VerEq, changes: Sequence[Mapping[str, Any]] = ()
              ) -> List[Contradiction]:  # fmt: skip
    decls = _declared(profile)
    conf: List[Tuple[str, str, str, int]] = []
    for f in ["/etc/apt/apt.conf"] + sorted(x for x in texts if x.startswith("/etc/apt/apt.conf.d/")):
        conf += [(f, k, v, n) for k, v, n in parse_apt_conf(texts.get(f, ""))]
    out, sections = _holds(profile, decls, texts, same, changes)
    out += _pins(decls, texts, same)
    out += _recommends(profile, conf)
    never = [(f, v, n) for f, k, v, n in conf if k == "apt::never-markauto-sections"]
    for d in decls:
        sec = sections.get(d.name.split(":", 1)[0], "")
        for f, v, n in never if sec else []:
            if sec == v or sec.rsplit("/", 1)[-1] == v.rsplit("/", 1)[-1]:
                out.append(Contradiction(
                    "never-markauto", d.where, f, n, 'APT::Never-MarkAuto-Sections "%s"' % v,
                    "%s is in section %s: a plain apt-get run would mark its dependencies as manually "
                    "installed, so they would stay when the profile drops %s" % (d.name, sec, d.name)))  # fmt: skip
                break
    return out


def _holds(profile: Profile, decls: Sequence[PackageDecl], texts: Texts, same: VerEq,
           changes: Sequence[Mapping[str, Any]]) -> Tuple[List[Contradiction], Dict[str, str]]:  # fmt: skip
    """dpkg holds that disagree with the profile or the plan; and each installed package's section."""
    by_name = {d.name.split(":", 1)[0]: d for d in decls}
    status = "/var/lib/dpkg/status"
    changed = {a["name"]: a for a in changes}
    out: List[Contradiction] = []
    sections: Dict[str, str] = {}
    for fields, lines in stanzas_with_lines(texts.get(status, "")):
        name, st, have = fields.get("package", ""), fields.get("status", ""), fields.get("version", "")
        if st.endswith(" installed") and fields.get("section"):
            sections[name] = fields["section"]
        d, a = by_name.get(name), changed.get(name)
        if not st.startswith("hold ") or (
            d is None and a is None and (profile.userpkgs or not st.endswith(" installed"))
        ):
            continue
        if d is None and a is None:
            out.append(Contradiction(
                "hold", _undeclared_path(name), status, lines.get("status", 0), "%s: hold" % name,
                "the profile does not declare %s (userpkgs is false), but it is held with apt-mark "
                "hold: neither spma nor apt-get removes a held package" % name))  # fmt: skip
            continue
        if d is not None and d.versions and have and any(same(have, v) for v in d.versions) and a is None:
            continue
        want = ("the profile declares %s" % ", ".join(d.versions)) if d is not None and d.versions else (
            "the plan moves it to %s" % a.get("to") if a is not None and a.get("to") else
            "the plan removes it" if a is not None else "the profile lets it follow the sources")  # fmt: skip
        out.append(Contradiction(
            "hold", d.where if d is not None else _undeclared_path(name), status, lines.get("status", 0),
            "%s: hold" % name,
            "a manual `apt-get upgrade` on this host would keep %s at %s (held with apt-mark hold); %s"
            % (name, have or "its installed version", want)))  # fmt: skip
    return out, sections


def _pins(decls: Sequence[PackageDecl], texts: Texts, same: VerEq) -> List[Contradiction]:
    out: List[Contradiction] = []
    prefs = ["/etc/apt/preferences"] + sorted(f for f in texts if f.startswith("/etc/apt/preferences.d/"))
    for f in prefs:
        for fields, lines in stanzas_with_lines(texts.get(f, "")):
            pats = split_list(fields.get("package", ""))
            pin = fields.get("pin", "")
            try:
                prio = int(fields.get("pin-priority", ""))
            except ValueError:
                continue
            line = lines.get("package", 0)
            setting = _short("Package: %s / Pin: %s / Pin-Priority: %d" % (" ".join(pats), pin, prio))
            for pat in pats:
                if pat.startswith("/"):
                    continue  # a regular expression from an untrusted file: not evaluated
                for d in _matching(decls, pat):
                    c = _pin(d, f, line, setting, pin, prio, same)
                    if c is not None:
                        out.append(c)
    return out


def _recommends(profile: Profile, conf: Sequence[Tuple[str, str, str, int]]) -> List[Contradiction]:
    recommends = [(f, v, n) for f, k, v, n in conf if k == "apt::install-recommends"]
    if not recommends:
        return []
    f, v, n = recommends[-1]  # the last one read wins, as in apt
    on = v.strip().lower() in ("1", "yes", "true", "with", "on", "enable")
    if on == profile.install_weak_deps:
        return []
    return [Contradiction(
        "install-recommends", SPMA + "/install_weak_deps", f, n, 'APT::Install-Recommends "%s"' % v,
        "a plain `apt-get install` or `dist-upgrade` on this host would %s Recommends; the profile "
        "says install_weak_deps %s" % ("add" if on else "leave out", str(profile.install_weak_deps).lower()))]  # fmt: skip


def _pin(d: PackageDecl, f: str, line: int, setting: str, pin: str, prio: int, same: VerEq
         ) -> Optional[Contradiction]:  # fmt: skip
    kind, _, arg = pin.partition(" ")
    arg = arg.strip()
    if prio < 0:
        what = "version %s of %s" % (arg, d.name) if kind == "version" else "%s (%s)" % (d.name, pin)
        if kind == "version" and d.versions and not any(_vmatch(arg, v, same) for v in d.versions):
            return None
        return Contradiction("pin", d.where, f, line, setting,
                             "a manual apt-get on this host would never install %s (priority %d)"
                             % (what, prio))  # fmt: skip
    if kind != "version":
        return None
    if d.versions:
        if any(_vmatch(arg, v, same) for v in d.versions):
            return None
        return Contradiction("pin", d.version_path(d.versions[-1]), f, line, setting,
                             "a manual apt-get on this host would prefer %s %s (priority %d), the profile "
                             "declares %s" % (d.name, arg, prio, ", ".join(d.versions)))  # fmt: skip
    if prio >= 1000:
        return Contradiction("pin", d.where, f, line, setting,
                             "a manual apt-get on this host would hold %s at %s (priority %d); the profile "
                             "lets it follow the sources" % (d.name, arg, prio))  # fmt: skip
    return None


def _vmatch(pin_version: str, declared: str, same: VerEq) -> bool:
    if is_glob(pin_version):
        return fnmatch.fnmatchcase(declared, pin_version)
    return same(pin_version, declared)


# -- the root's files --------------------------------------------------------------------------
def dnf_texts(root: str) -> Dict[str, str]:
    files = ["/etc/dnf/dnf.conf", "/etc/dnf/plugins/versionlock.list", "/etc/dnf/versionlock.toml"]
    files += ["/" + p for p in list_root_dir(root, "etc/dnf/protected.d", lambda n: n.endswith(".conf"))]
    files += ["/" + p for p in list_root_dir(root, "etc/yum.repos.d", lambda n: n.endswith(".repo"))]
    return _read_all(root, files)


def apt_texts(root: str) -> Dict[str, str]:
    files = ["/var/lib/dpkg/status", "/etc/apt/preferences", "/etc/apt/apt.conf"]
    files += ["/" + p for p in list_root_dir(root, "etc/apt/preferences.d", _apt_keep("pref"))]
    files += ["/" + p for p in list_root_dir(root, "etc/apt/apt.conf.d", _apt_keep("conf"))]
    return _read_all(root, files)


def _read_all(root: str, files: Iterable[str]) -> Dict[str, str]:
    out = {}
    for f in files:
        text = read_root_file(root, f.lstrip("/"))
        if text is not None:
            out[f] = text
    return out


def check(profile: Profile, root: str, backend: str, actions: Sequence[Mapping[str, Any]] = ()
          ) -> List[Contradiction]:  # fmt: skip
    """Every contradiction between the profile (and its plan) and the root's own settings."""
    compare: List[Callable[[str, str], bool]] = []  # made on the first comparison: most hosts need none

    def same(a: str, b: str) -> bool:
        if not compare:
            from spma.explain import same_version

            compare.append(same_version("deb" if backend == "apt" else "rpm"))
        try:
            return compare[0](a, b)
        except (ValueError, TypeError, SystemError):  # a version string from the root is garbage
            return False

    if backend == "apt":
        changes = [a for a in actions if a.get("action") != "reinstall"]
        return check_apt(profile, apt_texts(root), same=same, changes=changes)
    removals = [a for a in actions if a.get("action") in ("remove", "obsolete")]
    managed = ["/etc/yum.repos.d/%s.repo" % r.name for r in profile.repositories]
    return check_dnf(profile, dnf_texts(root), same=same, removals=removals,
                     managed_repo_files=managed)  # fmt: skip
