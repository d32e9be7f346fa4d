"""The grammar of every value that reaches a generated file or a package manager: package
names, versions, architectures, advisory ids, URLs, proxies, path-like settings.

Values are checked where they enter (profile loading, advisory readers, version-set loading);
writers check again before they write, so nothing that a file format would read as structure
(a newline, a quote, a glob in an exact name) ever reaches one. Each check returns None when the
value is good, else the problem in words.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from typing import Optional

MAX_NAME = 256
# rpm and Debian package names: letters, digits and . _ + - ~ ^ (Debian is a subset)
_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+~^-]*$")
# the profile's names and the lists of globs (whitelist, excludes, excludepkgs): also * ? [ ] !
_NAME_GLOB = re.compile(r"^[A-Za-z0-9_+*?\[][A-Za-z0-9._+~^*?\[\]!-]*$")
# [E:]V[-R] for rpm, [E:]V for Debian; the profile may use globs
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~^:-]*$")
_VERSION_GLOB = re.compile(r"^[A-Za-z0-9*?\[][A-Za-z0-9._+~^:*?\[\]!-]*$")
_ARCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# ALSA-2024:1234, RHSA-2024:1234, DSA-5555-1, DLA-3000-1, FEDORA-2024-0a1b2c, CVE-2024-1234
_ADVISORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+&@/-]{0,127}$")
# host names and IPv4 literals, or a bracketed IPv6 literal
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$")  # fmt: skip
# a Debian suite or component ("bookworm-security", "main", "./")
_APT_WORD = re.compile(r"^[A-Za-z0-9._/~+-]+$")
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
URL_SCHEMES = ("http", "https", "file")


def _text(s: str, what: str) -> Optional[str]:
    if not isinstance(s, str):
        return "%s must be a string" % what
    if not s.isascii():
        return "%s %r is not ASCII" % (what, s)
    if not s.isprintable():
        return "%s %r contains a control character" % (what, s)
    return None


def name(s: str, *, glob: bool = False) -> Optional[str]:
    bad = _text(s, "package name")
    if bad:
        return bad
    if not s or len(s) > MAX_NAME or not (_NAME_GLOB if glob else _NAME).fullmatch(s):
        return "%r is not a package name%s" % (s, " or glob" if glob else "")
    return None


def version(s: str, *, glob: bool = False) -> Optional[str]:
    bad = _text(s, "version")
    if bad:
        return bad
    if not s or len(s) > MAX_NAME or not (_VERSION_GLOB if glob else _VERSION).fullmatch(s):
        return "%r is not a version" % s
    return None


def arch(s: str) -> Optional[str]:
    bad = _text(s, "architecture")
    if bad:
        return bad
    if not _ARCH.fullmatch(s):
        return "%r is not an architecture name" % s
    return None


def advisory(s: str) -> Optional[str]:
    bad = _text(s, "advisory id")
    if bad:
        return bad
    if not _ADVISORY.fullmatch(s):
        return "%r is not an advisory id (letters, digits and . _ : + - & @ /)" % s
    return None


# The same three checks behind bounded caches, for the errata generator: its readers and writers
# meet the same few thousand names, arches and advisory ids across a distribution's advisories
# and sets, and hostile input may hold any number of distinct ones. String values only.
cached_name = functools.lru_cache(maxsize=1 << 16)(name)
cached_arch = functools.lru_cache(maxsize=1 << 12)(arch)
cached_advisory = functools.lru_cache(maxsize=1 << 16)(advisory)


def url(s: str, *, schemes: tuple = URL_SCHEMES, what: str = "URL") -> Optional[str]:
    """An absolute URL with no whitespace, quote, fragment or control character: what a .repo
    line, an apt source line and a libcurl call all read the same way."""
    bad = _text(s, what)
    if bad:
        return bad
    if any(c in s for c in " \"'<>\\`#{}|^,"):
        return "%s %r contains a space, quote or other character that must be percent-encoded" % (what, s)
    try:
        parts = urllib.parse.urlsplit(s)
    except ValueError as e:
        return "%s %r is not a URL: %s" % (what, s, e)
    if parts.scheme not in schemes:
        return "%s %r must use %s" % (what, s, " or ".join("%s://" % x for x in schemes))
    if parts.scheme != "file" and not parts.netloc:
        return "%s %r has no host" % (what, s)
    if parts.scheme == "file" and not parts.path.startswith("/"):
        return "%s %r must be an absolute file:// URL" % (what, s)
    return None


def apt_source(s: str) -> Optional[str]:
    """A repository URL, or apt's `<uri> <suite> [<component>...]`."""
    bad = _text(s, "URL")
    if bad:
        return bad
    words = s.split(" ")
    if any(not w for w in words):
        return "URL %r: separate the URI, suite and components by single spaces" % s
    bad = url(words[0])
    if bad:
        return bad
    for w in words[1:]:
        if not _APT_WORD.fullmatch(w):
            return "URL %r: %r is not a suite or component name" % (s, w)
    return None


def proxy(s: str) -> Optional[str]:
    """scheme://[user:password@]host[:port][/]; dnf's `_none_` (no proxy) too."""
    if s == "_none_":
        return None
    bad = url(s, schemes=PROXY_SCHEMES, what="proxy")
    if bad:
        return bad
    parts = urllib.parse.urlsplit(s)
    if parts.path not in ("", "/") or parts.query:
        return "proxy %r must be scheme://host[:port]" % s
    try:
        port = parts.port
    except ValueError:
        return "proxy %r has an invalid port" % s
    host = parts.hostname or ""
    if not host or not _HOST.fullmatch(host if ":" not in host else "[%s]" % host):
        return "proxy %r has no valid host" % s
    if port is not None and not 0 < port < 65536:
        return "proxy %r has an invalid port" % s
    return None


def host(s: str) -> Optional[str]:
    bad = _text(s, "host")
    if bad:
        return bad
    return None if _HOST.fullmatch(s) else "%r is not a host name or address" % s


def path_value(s: str, what: str = "path") -> Optional[str]:
    """A file path or URL written as a configuration value (sslcacert, errata)."""
    bad = _text(s, what)
    if bad:
        return bad
    if not s or any(c in s for c in '"\\') or any(c.isspace() for c in s):
        return "%s %r is empty or contains a space, quote or backslash" % (what, s)
    return None
