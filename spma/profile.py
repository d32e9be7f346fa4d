"""Load a compiled Quattor profile (panc JSON or panc `pan` XML) into a frozen `Profile`.

Only `/software` is read. Wrong types are errors naming the profile path. An unknown field of
the spma component is an error (ignoring a typo such as `userpkg` would change what is removed);
unknown keys elsewhere are warnings, shown at default verbosity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple

from spma import grammar, pan
from spma.errors import ProfileError
from spma.model import PackageDecl, Profile, Repository
from spma.profilekeys import PROTOCOL_KEYS, REPO_KEYS

log = logging.getLogger("spma.profile")

MAX_PROFILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64

# Generic ncm-ncd component fields (quattor/types/component.pan): accepted, not used.
_COMPONENT_GENERIC = {"active", "dispatch", "dependencies", "register_change", "version", "ncm-module"}
_SPMA_KEYS = {
    "packager", "run", "userpkgs", "userrepos", "whitelist", "excludes", "process_obsoletes",
    "boot_only", "errata", "max_removals", "install_weak_deps", "proxy", "proxyhost", "proxyport",
    "proxytype", "host_settings",
}  # fmt: skip
# ncm-spma fields that exist in real profiles but that spma does not use: what spma does
# instead, said at default verbosity (a warning). Fields whose absence would change what is
# installed or removed are refused instead (_SPMA_REFUSED).
_SPMA_LEGACY = {
    "userpkgs_retry": "not needed: removals and installs are one transaction, nothing is retried",
    "fullsearch": "not needed: name globs are matched in the solver",
    "plugins": "not used: spma drives libdnf directly, without dnf plugins",
    "reposdirs": "not used: repositories come only from /software/repositories",
    "repository_cleanup": "not used: userrepos decides whether other repository files are removed",
    "modules": "not used: module streams are not managed by spma",
    "dnfconf": "not used: spma does not write dnf.conf",
    "yumconf": "not used: spma does not write yum.conf",
    "quattor_os_file": "not used: the backend is chosen from the root's os-release (packager: auto)",
    "quattor_os_release": "not used: the backend is chosen from the root's os-release (packager: auto)",
    "proxyrandom": "not used: the first proxyhost is used",
    "cmdfile": "not used: spma keeps no command file; see `spma status`",
    "flagfile": "not used: deferred work is armed by spma itself (spma-boot.service)",
    "protectkernel": "always on: the running kernel is never removed",
}
_SPMA_REFUSED = {
    "filter": "spma manages the whole package set and has no package filter; run it with a profile "
    "that declares what it should manage, or set userpkgs to true",
    "usersources": "the apt backend of ncm-spma read usersources; spma reads userrepos: rename the field",
}
PACKAGERS = ("auto", "dnf", "yum", "yumdnf", "apt")


@dataclass(frozen=True)
class Fetch:
    """How to fetch a profile from a URL: TLS material and a last-good local copy."""

    ca_bundle: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    local_copy: Optional[str] = None  # written after every good fetch, read when the server is down
    timeout: float = 60.0
    root: Optional[str] = None  # local_copy lies in this root: written as the root sees it


def _ssl_context(fetch: Fetch) -> Any:
    import ssl

    ctx = (
        ssl.create_default_context(cafile=fetch.ca_bundle)
        if fetch.ca_bundle
        else ssl.create_default_context()
    )
    if fetch.client_cert:
        ctx.load_cert_chain(fetch.client_cert, fetch.client_key)
    return ctx


def read_source(
    source: str, *, stdin: Any = None, fetch: Optional[Fetch] = None, what: str = "profile"
) -> bytes:
    """Bytes of the profile (or what `what` names: an errata version set, a key) from a path,
    `-` (stdin) or an https/file URL."""
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(MAX_PROFILE_BYTES + 1)
    elif "://" in source:
        scheme = urllib.parse.urlsplit(source).scheme
        if scheme not in ("https", "http", "file"):
            raise ProfileError(
                "%s: unsupported URL scheme %r" % (source, scheme), hint="use a path, - or an https:// URL"
            )
        # http.client, email and ssl: imported only when a profile is fetched
        from urllib.error import URLError
        from urllib.request import urlopen

        fetch = fetch or Fetch()
        try:
            ctx = _ssl_context(fetch) if scheme == "https" else None
        except (OSError, ValueError) as e:
            raise ProfileError("%s: cannot use the TLS files given: %s" % (source, e)) from e
        try:
            with urlopen(source, timeout=fetch.timeout, context=ctx) as resp:  # noqa: S310
                data = resp.read(MAX_PROFILE_BYTES + 1)
        except (URLError, OSError, ValueError) as e:
            # Only an unreachable server falls back to the last good copy; a certificate or
            # authentication failure, or an HTTP error other than 5xx, is reported.
            copy = _read_local_copy(fetch.local_copy, source, fetch.root) if _unreachable(e) else None
            if copy is None:
                raise ProfileError(
                    "%s: cannot fetch %s: %s" % (source, what, getattr(e, "reason", e)),
                    hint="check the URL, the network and --ca-bundle/--client-cert",
                ) from e
            log.warning("%s server unreachable (%s); using the local copy %s", what, getattr(e, "reason", e),
                        fetch.local_copy)  # fmt: skip
            return copy
    else:
        try:
            with open(source, "rb") as f:
                data = f.read(MAX_PROFILE_BYTES + 1)
        except OSError as e:
            raise ProfileError("%s: cannot read %s: %s" % (source, what, e.strerror or e)) from e
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError("%s: %s is larger than %d bytes" % (source, what, MAX_PROFILE_BYTES))
    return bytes(data)


def _unreachable(e: BaseException) -> bool:
    import ssl
    from urllib.error import HTTPError

    if isinstance(e, HTTPError):
        return e.code >= 500
    reason = getattr(e, "reason", e)
    if isinstance(reason, ssl.SSLError) or isinstance(e, ssl.SSLError):
        return False
    return isinstance(reason, (OSError, TimeoutError)) or isinstance(e, (OSError, TimeoutError))


def _read_local_copy(path: Optional[str], source: str, root: Optional[str] = None) -> Optional[bytes]:
    if not path:
        return None
    from spma import rootfs

    try:
        if root is not None:
            raw = rootfs.read_bytes(root, path, MAX_PROFILE_BYTES + 4096) or b""
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_PROFILE_BYTES + 4096)
    except (OSError, ValueError):
        return None
    head, _, data = raw.partition(b"\n")
    return data if head.decode("utf-8", "replace") == source else None


def load_profile(source: str, *, stdin: Any = None, fetch: Optional[Fetch] = None) -> Profile:
    data = read_source(source, stdin=stdin, fetch=fetch)
    profile = parse_profile(data, source=source)
    if fetch and fetch.local_copy and "://" in source and not source.startswith("file:"):
        # keep what just parsed, so an unreachable server does not stop the fleet
        from spma import rootfs
        from spma.state import atomic_write

        try:
            if fetch.root is not None:
                rootfs.write_file(fetch.root, fetch.local_copy, source.encode() + b"\n" + data, mode=0o600)
            else:
                atomic_write(fetch.local_copy, source.encode() + b"\n" + data, mode=0o600)
        except OSError as e:
            log.warning("could not keep a local copy of the profile at %s: %s", fetch.local_copy, e)
    return profile


def parse_profile(data: bytes, *, source: str = "<profile>") -> Profile:
    digest = hashlib.sha256(data).hexdigest()
    text = data.lstrip()
    tree = _parse_xml(data, source) if text.startswith(b"<") else _parse_json(data, source)
    return _Builder(source, digest).build(tree)


def _parse_json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ProfileError("%s: profile is not UTF-8: %s" % (source, e)) from e
    except RecursionError as e:
        raise ProfileError("%s: profile is nested too deeply" % source) from e
    except ValueError as e:
        raise ProfileError(
            "%s: not valid JSON: %s" % (source, e),
            hint="give a profile compiled with panc --formats json or pan",
        ) from e


def _parse_xml(data: bytes, source: str) -> Any:
    import defusedxml.ElementTree as ET  # noqa: N817
    from defusedxml import DefusedXmlException

    try:
        root = ET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as e:
        raise ProfileError("%s: XML uses a forbidden construct (%s)" % (source, type(e).__name__)) from e
    except ET.ParseError as e:
        raise ProfileError("%s: not well-formed XML: %s" % (source, e)) from e
    except RecursionError as e:
        raise ProfileError("%s: profile is nested too deeply" % source) from e
    return _xml_value(root, source, "", 0)


def _xml_value(el: Any, source: str, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ProfileError("%s: %s: nested deeper than %d levels" % (source, path or "/", MAX_DEPTH))
    tag = el.tag
    if tag == "nlist":
        out: Dict[str, Any] = {}
        for child in el:
            name = child.get("name")
            if name is None:
                raise ProfileError("%s: %s: nlist element without a name" % (source, path or "/"))
            out[name] = _xml_value(child, source, "%s/%s" % (path, name), depth + 1)
        return out
    if tag == "list":
        return [_xml_value(c, source, "%s/%d" % (path, i), depth + 1) for i, c in enumerate(el)]
    text = el.text or ""
    if tag == "string":
        return text
    if tag == "boolean":
        if text.strip() not in ("true", "false"):
            raise ProfileError("%s: %s: boolean must be true or false, not %r" % (source, path, text))
        return text.strip() == "true"
    if tag == "long":
        try:
            return int(text.strip())
        except ValueError as e:
            raise ProfileError("%s: %s: %r is not an integer" % (source, path, text)) from e
    if tag == "double":
        try:
            return float(text.strip())
        except ValueError as e:
            raise ProfileError("%s: %s: %r is not a number" % (source, path, text)) from e
    raise ProfileError("%s: %s: unknown element <%s>" % (source, path or "/", tag))


class _Builder:
    def __init__(self, source: str, digest: str) -> None:
        self.source = source
        self.digest = digest
        self.warnings: List[str] = []

    def fail(self, path: str, problem: str) -> ProfileError:
        return ProfileError("%s: %s: %s" % (self.source, path, problem))

    def warn(self, path: str, problem: str) -> None:
        msg = "%s: %s: %s" % (self.source, path, problem)
        self.warnings.append(msg)
        log.warning(msg)

    # typed getters ------------------------------------------------------------------
    def dict_(self, v: Any, path: str) -> Dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(path, "expected a dict (nlist), got %s" % _typename(v))
        return v

    def list_(self, v: Any, path: str) -> List[Any]:
        if not isinstance(v, list):
            raise self.fail(path, "expected a list, got %s" % _typename(v))
        return v

    def str_(self, v: Any, path: str, *, maxlen: int = 4096) -> str:
        if not isinstance(v, str):
            raise self.fail(path, "expected a string, got %s" % _typename(v))
        if len(v) > maxlen:
            raise self.fail(path, "string longer than %d characters" % maxlen)
        if not v.isprintable():
            # \r, \t, \x85, U+2028 and friends end a line in one reader or another
            raise self.fail(path, "string contains a control or line-separator character: %r" % _short(v))
        return v

    def check(self, problem: Optional[str], path: str) -> None:
        if problem:
            raise self.fail(path, problem)

    def bool_(self, v: Any, path: str) -> bool:
        # Quattor's legacy fields say "yes"/"no"; newer schemas use booleans. Accept both.
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("yes", "no", "true", "false"):
            return v.lower() in ("yes", "true")
        raise self.fail(path, 'expected a boolean or "yes"/"no", got %r' % (_short(v),))

    def int_(self, v: Any, path: str, *, lo: int = 0, hi: int = 2**31) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(path, "expected an integer, got %s" % _typename(v))
        if not lo <= v <= hi:
            raise self.fail(path, "%d is outside %d..%d" % (v, lo, hi))
        return v

    def strlist(self, v: Any, path: str) -> Tuple[str, ...]:
        return tuple(self.str_(x, "%s/%d" % (path, i)) for i, x in enumerate(self.list_(v, path)))

    def globlist(self, v: Any, path: str) -> Tuple[str, ...]:
        """A list of package names or globs (whitelist, excludes, excludepkgs, boot_only)."""
        out = self.strlist(v, path)
        for i, x in enumerate(out):
            self.check(grammar.name(x, glob=True), "%s/%d" % (path, i))
        return out

    def text_tree(self, v: Any, path: str) -> None:
        """Every key of the tree is ASCII (compiled keys are Pan-escaped) and every string is
        valid Unicode: JSON can carry a lone surrogate, which no writer can encode."""
        todo = [(v, path)]
        while todo:
            node, p = todo.pop()
            if isinstance(node, dict):
                for k, x in node.items():
                    kp = "%s/%s" % (
                        p,
                        k.encode("unicode_escape").decode("ascii") if isinstance(k, str) else k,
                    )
                    if not isinstance(k, str) or not k.isascii() or not k.isprintable():
                        raise self.fail(
                            kp, "key %r is not printable ASCII (keys are Pan-escaped)" % _short(k)
                        )
                    todo.append((x, kp))
            elif isinstance(node, list):
                todo.extend((x, "%s/%d" % (p, i)) for i, x in enumerate(node))
            elif isinstance(node, str):
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    raise self.fail(
                        p, "string is not valid Unicode (a lone surrogate): %r" % _short(node)
                    ) from None

    # sections -------------------------------------------------------------------------
    def build(self, tree: Any) -> Profile:
        root = self.dict_(tree, "/")
        if "software" not in root:
            raise self.fail("/software", "missing: a compiled profile must have /software")
        sw = self.dict_(root["software"], "/software")
        self.text_tree(sw, "/software")
        packages = self.packages(sw.get("packages", {}))
        repos = self.repositories(sw.get("repositories", []))
        comps = self.dict_(sw.get("components", {}), "/software/components")
        spma = self.dict_(comps.get("spma", {}), "/software/components/spma")
        opts = self.spma(spma)
        return Profile(
            source=self.source,
            sha256=self.digest,
            packages=packages,
            repositories=repos,
            warnings=tuple(self.warnings),
            **opts,
        )

    def packages(self, v: Any) -> Tuple[PackageDecl, ...]:
        base = "/software/packages"
        pkgs = self.dict_(v, base)
        out = []
        for ename, versions in sorted(pkgs.items()):
            path = "%s/%s" % (base, ename)
            name = self._unescape(ename, path, "package name")
            # apt's multiarch form names an architecture after a colon (libz:i386)
            base_name, colon, qualifier = name.partition(":")
            self.check(
                grammar.name(base_name, glob=True) or (grammar.arch(qualifier) if colon else None), path
            )
            vers: List[str] = []
            vpaths: List[Tuple[str, str]] = []
            arches: List[str] = []
            for ever, body in sorted(self.dict_(versions, path).items()):
                vpath = "%s/%s" % (path, ever)
                ver = self._unescape(ever, vpath, "version")
                if ver in ("", "*"):
                    ver = ""
                else:
                    self.check(grammar.version(ver, glob=True), vpath)
                body = self.dict_(body, vpath)
                for k in body:
                    if k != "arch":
                        self.warn("%s/%s" % (vpath, k), "unknown key, ignored")
                for arch in sorted(self.dict_(body.get("arch", {}), vpath + "/arch")):
                    self.str_(body["arch"][arch], "%s/arch/%s" % (vpath, arch))
                    if arch not in ("_", "*"):
                        self.check(grammar.arch(arch), "%s/arch/%s" % (vpath, arch))
                    if arch not in ("_", "*") and arch not in arches:
                        arches.append(arch)
                if ver:  # "any" beside explicit versions adds nothing: the explicit ones bind
                    vers.append(ver)
                    vpaths.append((ver, vpath))
            out.append(
                PackageDecl(
                    name=name,
                    versions=tuple(sorted(set(vers))),
                    arches=tuple(sorted(arches)),
                    path=path,
                    version_paths=tuple(vpaths),
                )  # fmt: skip
            )
        return tuple(out)

    def _unescape(self, s: str, path: str, what: str) -> str:
        try:
            return pan.unescape(s)
        except pan.EscapeError as e:
            raise self.fail(path, "%s is not validly Pan-escaped: %s" % (what, e)) from e

    def repositories(self, v: Any) -> Tuple[Repository, ...]:
        base = "/software/repositories"
        out = []
        seen: Set[str] = set()
        for i, r in enumerate(self.list_(v, base)):
            out.append(self._repository(self.dict_(r, "%s/%d" % (base, i)), "%s/%d" % (base, i), seen))
        return tuple(out)

    def _repo_name(self, r: Dict[str, Any], path: str, seen: Set[str]) -> str:
        for k in r:
            if k not in REPO_KEYS:
                self.warn("%s/%s" % (path, k), "unknown key, ignored")
        if "name" not in r:
            raise self.fail(path + "/name", "missing: every repository needs a name")
        name = self.str_(r["name"], path + "/name", maxlen=200)
        if not name or name[0] in ".-" or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name):
            raise self.fail(path + "/name", "invalid repository name %r (use letters, digits, - _ .)" % name)
        if name in seen:
            raise self.fail(path + "/name", "repository %r is declared twice" % name)
        seen.add(name)
        return name

    def _protocols(self, r: Dict[str, Any], path: str, name: str) -> Tuple[List[str], Dict[str, Any]]:
        """The repository's URLs, and the TLS settings of its first protocol."""
        urls = []
        tls: Dict[str, Any] = {}
        for j, p in enumerate(self.list_(r.get("protocols", []), path + "/protocols")):
            ppath = "%s/protocols/%d" % (path, j)
            p = self.dict_(p, ppath)
            for k in p:
                if k not in PROTOCOL_KEYS:
                    self.warn("%s/%s" % (ppath, k), "unknown key, ignored")
            if "url" not in p:
                raise self.fail(ppath + "/url", "missing")
            url = self.str_(p["url"], ppath + "/url")
            self._check_url(url, ppath + "/url")
            urls.append(url)
            if j == 0:
                for key, field in (("cacert", "sslcacert"), ("clientcert", "sslclientcert"),
                                   ("clientkey", "sslclientkey")):  # fmt: skip
                    if key in p:
                        tls[field] = self.str_(p[key], "%s/%s" % (ppath, key))
                        self.check(grammar.path_value(tls[field], field), "%s/%s" % (ppath, field))
                if "verify" in p:
                    tls["sslverify"] = self.bool_(p["verify"], ppath + "/verify")
        if not urls:
            raise self.fail(path + "/protocols", "repository %r has no URL" % name)
        return urls, tls

    def _repository(self, r: Dict[str, Any], path: str, seen: Set[str]) -> Repository:
        name = self._repo_name(r, path, seen)
        urls, tls = self._protocols(r, path, name)
        sha = None
        if "metadata_sha256" in r:
            sha = self.str_(r["metadata_sha256"], path + "/metadata_sha256").lower()
            if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise self.fail(path + "/metadata_sha256", "expected 64 hex digits")
        proxy = None
        if r.get("proxy"):
            proxy = self.str_(r["proxy"], path + "/proxy")
            self.check(grammar.proxy(proxy), path + "/proxy")
        gpgkeys = self.strlist(r.get("gpgkey", []), path + "/gpgkey")
        for gi, key in enumerate(gpgkeys):
            self.check(grammar.url(key, what="gpgkey"), "%s/gpgkey/%d" % (path, gi))
        return Repository(
            name=name,
            baseurls=tuple(urls),
            enabled=self.bool_(r.get("enabled", True), path + "/enabled"),
            gpgcheck=self.bool_(r.get("gpgcheck", True), path + "/gpgcheck"),
            gpgkeys=gpgkeys,
            priority=self.int_(r["priority"], path + "/priority", lo=1, hi=99) if "priority" in r else None,
            proxy=proxy,
            excludepkgs=self.globlist(r.get("excludepkgs", []), path + "/excludepkgs"),
            includepkgs=self.globlist(r.get("includepkgs", []), path + "/includepkgs"),
            skip_if_unavailable=self.bool_(
                r.get("skip_if_unavailable", False), path + "/skip_if_unavailable"
            ),
            metadata_sha256=sha,
            **tls,
        )

    def _check_url(self, url: str, path: str) -> None:
        # a plain URL (dnf) or apt's "<uri> <suite> <components>" form
        self.check(grammar.apt_source(url), path)

    def spma(self, c: Dict[str, Any]) -> Dict[str, Any]:
        base = "/software/components/spma"
        self._component_fields(c, base)
        opts: Dict[str, Any] = {}
        if "packager" in c:
            p = self.str_(c["packager"], base + "/packager")
            if p not in PACKAGERS:
                raise self.fail(base + "/packager", "%r is not one of %s" % (p, ", ".join(PACKAGERS)))
            opts["packager"] = p
        for key in ("run", "userpkgs", "userrepos", "process_obsoletes", "install_weak_deps"):
            if key in c:
                opts[key] = self.bool_(c[key], "%s/%s" % (base, key))
        for key in ("whitelist", "excludes"):
            if key in c:
                opts[key] = self.globlist(c[key], "%s/%s" % (base, key))
        if "boot_only" in c:
            opts["boot_only"] = self.globlist(c["boot_only"], base + "/boot_only")
        if "errata" in c and c["errata"] not in (None, ""):
            opts["errata"] = self.str_(c["errata"], base + "/errata")
            self.check(grammar.path_value(opts["errata"], "errata"), base + "/errata")
        if "host_settings" in c:
            hs = self.str_(c["host_settings"], base + "/host_settings")
            if hs not in ("note", "error"):
                raise self.fail(base + "/host_settings", "%r is not one of note, error" % hs)
            opts["host_settings"] = hs
        if "max_removals" in c:
            opts["max_removals"] = self.int_(c["max_removals"], base + "/max_removals")
        proxy = self._proxy(c, base)
        if proxy:
            opts["proxy"] = proxy
        return opts

    def _component_fields(self, c: Dict[str, Any], base: str) -> None:
        """An unknown field changes behaviour silently (`userpkg` for `userpkgs` removes every
        undeclared package): it is an error, with the nearest known field."""
        known = _SPMA_KEYS | _COMPONENT_GENERIC
        for k in sorted(c):
            path = "%s/%s" % (base, k)
            if k in _SPMA_REFUSED:
                raise self.fail(path, "ncm-spma field not supported by spma: " + _SPMA_REFUSED[k])
            if k in _SPMA_LEGACY:
                self.warn(path, "ncm-spma field " + _SPMA_LEGACY[k])
            elif k == "main_options" and isinstance(c[k], dict) and "exclude" in c[k]:
                raise self.fail(
                    path + "/exclude", "not read by spma: move these globs to %s/excludes" % base
                )
            elif k == "main_options":
                self.warn(path, "ncm-spma field not used: spma does not write dnf.conf")
            elif k not in known:
                import difflib  # only to word this error

                near = difflib.get_close_matches(k, sorted(known | set(_SPMA_LEGACY)), n=1, cutoff=0.6)
                did = "; did you mean %r?" % near[0] if near else ""
                raise ProfileError(
                    "%s: %s: unknown field of the spma component%s" % (self.source, path, did),
                    hint="the fields are listed in docs/profile.md; an unknown field is refused because "
                    "ignoring it could change what is installed or removed",
                )

    def _proxy(self, c: Dict[str, Any], base: str) -> Optional[str]:
        if "proxy" in c and isinstance(c["proxy"], str) and "://" in c["proxy"]:
            url = self.str_(c["proxy"], base + "/proxy")
            self.check(grammar.proxy(url), base + "/proxy")
            return url
        enabled = self.bool_(c["proxy"], base + "/proxy") if "proxy" in c else bool(c.get("proxyhost"))
        if not enabled or not c.get("proxyhost"):
            return None
        host = self.str_(c["proxyhost"], base + "/proxyhost").split(",")[0].strip()
        self.check(grammar.host(host), base + "/proxyhost")
        port = ""
        if "proxyport" in c:
            port = self.str_(str(c["proxyport"]), base + "/proxyport")
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise self.fail(base + "/proxyport", "%r is not a port number (1..65535)" % port)
        return "http://%s%s" % (host, ":" + port if port else "")


def _typename(v: Any) -> str:
    return {dict: "a dict", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)  # fmt: skip


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) < 60 else s[:57] + "..."
