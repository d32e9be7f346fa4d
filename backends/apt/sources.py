"""The profile's repository settings where apt honours them: proxy and TLS options per host,
the component's excludes as pins, and excludepkgs/includepkgs/priority applied to spma's private
copies of the indexes (so apt's resolver never sees a filtered package, as dnf's never does)."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from typing import Dict, List, Optional, Tuple

from spma.model import Repository, SolveRequest


def apt_uri(url: str) -> str:
    """The URI of a profile source line as apt writes it (and names it in errors and list file
    names): `file:///x` becomes `file:/x`."""
    uri = url.split()[0] if url.strip() else url
    return "file:" + uri[len("file://") :] if uri.startswith("file://") else uri


def _host(url: str) -> Tuple[str, str]:
    """(scheme, host) of a source line's URI."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url.split()[0])
    return parts.scheme, parts.hostname or ""


def acquire_options(repositories: Tuple[Repository, ...]) -> List[str]:
    """apt's per-host Acquire options for the repositories' proxy and TLS settings: apt keys
    them by host, so two repositories on one host must agree (else the profile is refused)."""
    from spma.errors import ProfileError

    per_host: Dict[Tuple[str, str], Dict[str, str]] = {}
    owner: Dict[Tuple[str, str], str] = {}
    for repo in repositories:
        if not repo.enabled:
            continue
        want = {"Proxy": repo.proxy or "DIRECT"}
        if repo.sslcacert:
            want["CaInfo"] = repo.sslcacert
        if repo.sslclientcert:
            want["SslCert"] = repo.sslclientcert
        if repo.sslclientkey:
            want["SslKey"] = repo.sslclientkey
        if not repo.sslverify:
            want["Verify-Peer"] = "false"
            want["Verify-Host"] = "false"
        for url in repo.baseurls:
            scheme, host = _host(url)
            if scheme not in ("http", "https") or not host:
                continue
            key = (scheme, host)
            if key in per_host and per_host[key] != want:
                raise ProfileError(
                    "repositories %s and %s are both on %s://%s but set different proxy or TLS options; "
                    "apt sets these per host" % (owner[key], repo.name, scheme, host),
                    hint="give repositories on one host the same proxy, sslcacert, sslclientcert, "
                    "sslclientkey and verify settings",
                )
            per_host[key] = want
            owner[key] = repo.name
    out = []
    for (scheme, host), opts in sorted(per_host.items()):
        for k, v in sorted(opts.items()):
            if k == "Proxy":
                out.append('Acquire::%s::Proxy::%s "%s";' % (scheme, host, v))
            else:
                out.append('Acquire::%s::%s::%s "%s";' % (scheme, host, k, v))
    return out


def write_excludes(aptdir: str, request: SolveRequest) -> None:
    """The profile's excludes as apt pins below zero: apt then never chooses an excluded
    package, not as a declared one, a dependency or a virtual package's provider."""
    from spma.state import atomic_write

    body = "".join("Package: %s\nPin: version *\nPin-Priority: -1\n\n" % x for x in request.excludes)
    path = os.path.join(aptdir, "etc/preferences.d/spma-excludes.pref")
    if body:
        atomic_write(path, ("Explanation: written by spma from /software/components/spma/excludes\n" + body).encode(),
                     durable=False)  # fmt: skip
    elif os.path.exists(path):
        os.unlink(path)


Entries = List[Tuple[Optional[str], str]]


def _index_files(
    repos: List[Repository], lists: str, names: List[str]
) -> List[Tuple[Repository, str, Entries]]:
    """(repository, list file, [(package name, stanza)]) for every Packages index of `repos`."""
    import apt_pkg

    from spma.deb822 import stanzas

    out = []
    for repo in repos:
        for url in repo.baseurls:
            prefix = apt_pkg.uri_to_filename(apt_uri(url).rstrip("/") + "/")
            for n in names:
                if n.startswith(prefix) and n.endswith("_Packages"):
                    path = os.path.join(lists, n)
                    with open(path, encoding="utf-8", errors="surrogateescape") as f:
                        blocks = [b.strip("\n") for b in f.read().split("\n\n") if b.strip("\n")]
                    out.append(
                        (repo, path, [(next(iter(stanzas(b)), {}).get("Package"), b) for b in blocks])
                    )
    return out


def _offered(repo: Repository, name: Optional[str]) -> bool:
    if name is None:
        return False
    if repo.includepkgs and not any(fnmatch.fnmatchcase(name, g) for g in repo.includepkgs):
        return False
    return not any(fnmatch.fnmatchcase(name, g) for g in repo.excludepkgs)


def filter_lists(aptdir: str, request: SolveRequest) -> None:
    """A repository's excludepkgs/includepkgs and priority, applied where apt reads what the
    repository offers (spma's private copy of its Packages lists), so apt's resolver never
    sees a filtered package, as dnf's never does: excludes and includes first, then a name
    offered by a repository with a lower priority value hides it in the others. apt fetches
    an index again only when the signed Release changes, so each run puts back the verified
    copy first and filters that."""
    from spma.state import atomic_write

    lists = os.path.join(aptdir, "lists")
    names = sorted(os.listdir(lists)) if os.path.isdir(lists) else []
    _unfiltered(aptdir, lists, names)
    repos = [r for r in request.repositories if r.enabled]
    if not any(r.excludepkgs or r.includepkgs for r in repos) and len({r.priority or 99 for r in repos}) < 2:
        return
    files = _index_files(repos, lists, names)
    best: Dict[str, int] = {}
    for repo, _path, entries in files:
        for name, _b in entries:
            if name is not None and _offered(repo, name):
                best[name] = min(best.get(name, 99), repo.priority or 99)
    for repo, path, entries in files:
        kept = [
            b
            for name, b in entries
            if _offered(repo, name) and best.get(name or "") == (repo.priority or 99)
        ]
        if len(kept) != len(entries):
            data = (("\n\n".join(kept) + "\n") if kept else "").encode("utf-8", "surrogateescape")
            keep = os.path.join(aptdir, "lists-unfiltered", os.path.basename(path))
            os.makedirs(os.path.dirname(keep), exist_ok=True)
            import shutil  # only where a priority hides packages: not in every plan's start

            shutil.copyfile(path, keep)
            atomic_write(keep + ".filtered", hashlib.sha256(data).hexdigest().encode(), durable=False)
            atomic_write(path, data, durable=False)


def _unfiltered(aptdir: str, lists: str, names: List[str]) -> None:
    """Put back the index copies an earlier run filtered, unless apt has fetched a new one
    since (apt re-fetches an index only when the Release changes)."""
    keepdir = os.path.join(aptdir, "lists-unfiltered")
    for n in names:
        keep = os.path.join(keepdir, n)
        try:
            with open(keep + ".filtered", "rb") as f:
                mark = f.read().decode()
        except FileNotFoundError:
            continue
        with open(os.path.join(lists, n), "rb") as f:
            ours = hashlib.sha256(f.read()).hexdigest() == mark
        if ours:
            import shutil

            shutil.copyfile(keep, os.path.join(lists, n))
        os.unlink(keep + ".filtered")
        os.unlink(keep)
