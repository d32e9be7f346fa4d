"""A host's recorded package state (spma-inventory/1): what the site side needs to report
exposure and to plan the host without touching it.

One gzip-compressed JSON file per host. For RPM hosts it carries every installed package's
header, reduced to the tags libsolv reads (identity, dependencies of every kind) and to the
files a dependency can name: the primary ones (/etc, */bin/, as in repository metadata) and
every path an installed package requires; `--full-filelists` keeps them all. Headers are in
`rpmdb --exportdb` form: `materialise` rebuilds an rpmdb from them that the dnf backend reads
as it reads the host's own. For Debian hosts it carries dpkg's status file, apt's
extended_states (auto marks) and dpkg's foreign architectures: together they are the whole
installed state apt sees (the status file without its descriptions and conffile lists).

Everything read from an inventory is untrusted input: sizes are bounded, the JSON is checked
field by field, and `materialise` only writes below the directory it is given.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import socket
import subprocess
import time
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple

from spma import __version__, state
from spma.errors import ProfileError

INVENTORY_FORMAT = "spma-inventory/1"
MAX_INVENTORY = 256 * 1024 * 1024  # uncompressed bytes; a 5,000-package host is far below
SUFFIXES = (".inventory.json.gz", ".json.gz", ".inventory.json", ".json")
_HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"  # what `rpmdb --exportdb` puts before each header

# The header tags the solver reads for an installed package (libsolv's repo_rpmdb): identity,
# every dependency kind, the file list, and install time/colour. Signatures, changelogs,
# descriptions, scriptlets and per-file digests/sizes/times/owners are left out: they are most
# of a header's bytes and no solve reads them.
RPM_TAGS = (
    "name", "epoch", "version", "release", "arch", "os", "sourcerpm", "summary", "vendor",
    "installtime", "installtid", "buildtime", "size", "installcolor", "modularitylabel",
    "providename", "provideflags", "provideversion",
    "requirename", "requireflags", "requireversion",
    "conflictname", "conflictflags", "conflictversion",
    "obsoletename", "obsoleteflags", "obsoleteversion",
    "recommendname", "recommendflags", "recommendversion",
    "suggestname", "suggestflags", "suggestversion",
    "supplementname", "supplementflags", "supplementversion",
    "enhancename", "enhanceflags", "enhanceversion",
    "ordername", "orderflags", "orderversion",
    "basenames", "dirnames", "dirindexes", "filemodes", "fileflags", "filecolors",
)  # fmt: skip
_DBPATHS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")


@dataclass(frozen=True)
class InstalledPackage:
    name: str
    evr: str  # rpm: [E:]V-R; deb: the Debian version
    arch: str


@dataclass(frozen=True)
class Inventory:
    name: str  # the file name without its extension: the host's name in fleet output
    doc: Dict[str, Any]

    @property
    def family(self) -> str:
        return str(self.doc["os"]["family"])

    @property
    def backend(self) -> str:
        return "dnf" if self.family == "rpm" else "apt"

    @property
    def root(self) -> str:
        return str(self.doc["root"])

    @property
    def running_kernel(self) -> Optional[str]:
        rk = self.doc.get("running_kernel")
        return rk if isinstance(rk, str) and rk else None

    @property
    def packages(self) -> List[InstalledPackage]:
        return [InstalledPackage(p["name"], p["evr"], p["arch"]) for p in self.doc["packages"]]


# -- writing -------------------------------------------------------------------------------
def _os_release(root: str) -> Tuple[str, Dict[str, str]]:
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = f.read(64 * 1024)
        except OSError:
            continue
        fields = {}
        for line in text.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                fields[k.strip()] = v.strip().strip("\"'")
        return text, fields
    return "", {}


def _rpm_dbpath(root: str) -> str:
    for p in _DBPATHS:
        d = os.path.join(root, p.lstrip("/"))
        if os.path.exists(os.path.join(d, "rpmdb.sqlite")) or os.path.exists(os.path.join(d, "Packages")):
            return p
    return _DBPATHS[0]


def _evr(epoch: Optional[int], version: str, release: str) -> str:
    vr = "%s-%s" % (version, release)
    return "%d:%s" % (epoch, vr) if epoch else vr


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


# createrepo's "primary" file list: the paths packaging guidelines allow dependencies on, and
# all dnf itself sees of a repository package when it does not load filelists.
_PRIMARY_FILE = re.compile(r"^/etc/|bin/|^/usr/lib/sendmail$")
_FILE_TAGS = ("filemodes", "fileflags", "filecolors")


def reduce_header(h: Any, required_paths: Set[str], full_filelists: bool = False) -> bytes:
    """One installed package's header as an inventory keeps it (exportdb form): the solver's
    tags, and of its files the primary ones and those some installed package requires by path
    (all of them with `full_filelists`)."""
    import rpm

    reduced = rpm.hdr()
    for tag in RPM_TAGS:
        if tag in ("basenames", "dirnames", "dirindexes") or tag in _FILE_TAGS:
            continue
        v = h[tag]
        if v is not None and v != [] and v != b"" and v != "":
            reduced[tag] = v
    basenames = [_text(b) for b in h["basenames"] or []]
    if basenames:
        dirnames = [_text(d) for d in h["dirnames"]]
        dirindexes = h["dirindexes"]
        keep = [i for i, b in enumerate(basenames) if full_filelists or _PRIMARY_FILE.search(
            dirnames[dirindexes[i]] + b) or (dirnames[dirindexes[i]] + b) in required_paths]  # fmt: skip
        if keep:
            dirs: Dict[str, int] = {}
            reduced["basenames"] = [basenames[i] for i in keep]
            reduced["dirindexes"] = [dirs.setdefault(dirnames[dirindexes[i]], len(dirs)) for i in keep]
            reduced["dirnames"] = list(dirs)
            for tag in _FILE_TAGS:
                v = h[tag]
                if v and len(v) == len(basenames):
                    reduced[tag] = [v[i] for i in keep]
    return _HEADER_MAGIC + bytes(reduced.unload())


def _rpm_packages(root: str, full_filelists: bool = False) -> Tuple[List[Dict[str, str]], bytes, str]:
    """(packages, reduced headers in exportdb form, dbpath) of the root's rpmdb."""
    import rpm

    dbpath = _rpm_dbpath(root)
    rpm.addMacro("_dbpath", dbpath)
    ts = rpm.TransactionSet(root)
    try:
        headers = list(ts.dbMatch())
    finally:
        ts.closeDB()
    required = {_text(r) for h in headers for r in (h["requirename"] or []) if _text(r).startswith("/")}
    pkgs: List[Dict[str, str]] = []
    blobs: List[bytes] = []
    for h in headers:
        blobs.append(reduce_header(h, required, full_filelists))
        pkgs.append({"name": _text(h["name"]), "evr": _evr(h["epochnum"] or None, _text(h["version"]),
                     _text(h["release"])), "arch": _text(h["arch"] or "(none)")})  # fmt: skip
    order = sorted(range(len(pkgs)), key=lambda i: (pkgs[i]["name"], pkgs[i]["arch"], pkgs[i]["evr"]))
    return [pkgs[i] for i in order], b"".join(blobs[i] for i in order), dbpath


# dnf's module state under the root: enabled/disabled streams and local defaults. Module
# filtering of a modular repository depends on them, so a plan needs them.
_MODULE_DIRS = ("etc/dnf/modules.d", "etc/dnf/modules.defaults.d")


def _dnf_module_state(root: str) -> Dict[str, str]:
    out = {}
    for rel in _MODULE_DIRS:
        d = os.path.join(root, rel)
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for fn in names:
            p = os.path.join(d, fn)
            if fn.endswith((".module", ".yaml")) and os.path.isfile(p):
                data = _read(p, 1024 * 1024)
                if data is not None:
                    out["%s/%s" % (rel, fn)] = data.decode("utf-8", "replace")
    return out


def _read(path: str, limit: int = MAX_INVENTORY) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except FileNotFoundError:
        return None


# Fields of dpkg's status no solver reads, and most of its bytes: package descriptions and the
# conffile lists (each with its continuation lines).
_STATUS_DROP = ("Description", "Conffiles")


def _strip_status(text: str) -> str:
    out = []
    skipping = False
    for line in text.split("\n"):
        if line[:1] in (" ", "\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = line.split(":", 1)[0] in _STATUS_DROP
        if not skipping:
            out.append(line)
    return "\n".join(out)


def _dpkg_packages(status: str) -> List[Dict[str, str]]:
    from spma.deb822 import stanzas

    out = []
    for f in stanzas(status):
        if f.get("Status", "").endswith(" installed") and "Package" in f and "Version" in f:
            out.append({"name": f["Package"], "evr": f["Version"], "arch": f.get("Architecture", "")})
    return sorted(out, key=lambda p: (p["name"], p["arch"], p["evr"]))


def collect(
    root: str = "/", *, running_kernel: Optional[str] = None, full_filelists: bool = False
) -> Dict[str, Any]:
    """The inventory document of the host (or sandbox root) at `root`."""
    from spma.family import detect_family

    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise ProfileError("root %s does not exist or is not a directory" % root)
    backend, _why = detect_family(root)
    osr_text, osr = _os_release(root)
    if running_kernel is None:
        env = os.environ.get("SPMA_RUNNING_KERNEL")
        running_kernel = env if env is not None else (os.uname().release if root == "/" else "")
    doc: Dict[str, Any] = {
        "format": INVENTORY_FORMAT,
        "spma_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hostname": socket.gethostname() if root == "/" else os.path.basename(root.rstrip("/")),
        "root": root,
        "os": {
            "family": "rpm" if backend == "dnf" else "deb",
            "id": osr.get("ID", ""),
            "id_like": osr.get("ID_LIKE", ""),
            "version_id": osr.get("VERSION_ID", ""),
            "arch": os.uname().machine,
            "os_release": osr_text,
        },
        "running_kernel": running_kernel or None,
    }
    if backend == "dnf":
        pkgs, headers, dbpath = _rpm_packages(root, full_filelists)
        doc["rpm"] = {"dbpath": dbpath, "filelists": "full" if full_filelists else "primary+required",
                      "headers": encode_headers(headers), "dnf_modules": _dnf_module_state(root)}  # fmt: skip
    else:
        files = {}
        for key, rel in (("status", "var/lib/dpkg/status"), ("arch", "var/lib/dpkg/arch"),
                         ("extended_states", "var/lib/apt/extended_states")):  # fmt: skip
            data = _read(os.path.join(root, rel))
            files[key] = data.decode("utf-8", "replace") if data is not None else None
        if files["status"] is not None:
            files["status"] = _strip_status(files["status"])
        pkgs = _dpkg_packages(files["status"] or "")
        doc["dpkg"] = files
    doc["packages"] = pkgs
    last = state.read_json(os.path.join(state.state_dir(root), "state.json"))
    doc["profile_sha256"] = ((last or {}).get("inputs") or {}).get("profile")
    doc["last_run"] = last
    doc["installed_fingerprint"] = installed_fingerprint(doc)
    return doc


def installed_fingerprint(doc: Dict[str, Any]) -> str:
    """The fingerprint the host's backend gives its installed set (spma-plan/1 inputs.installed),
    computed from the inventory: it says whether the host moved since its last run."""
    h = hashlib.sha256()
    if doc["os"]["family"] == "rpm":
        # gpg-pubkey entries are left out, as the dnf backend leaves them out
        for p in sorted("%s-%s.%s" % (p["name"], p["evr"], p["arch"]) for p in doc["packages"]
                        if p["name"] != "gpg-pubkey"):  # fmt: skip
            h.update(p.encode() + b"\n")
    else:
        from spma.deb822 import stanzas

        # the apt backend's rule, on the recorded status file itself
        lines = sorted("%s:%s=%s" % (f["Package"], f.get("Architecture", ""), f.get("Version", ""))
                       for f in stanzas(doc["dpkg"]["status"] or "")
                       if f.get("Status", "").endswith(" installed") and "Package" in f)  # fmt: skip
        for line in lines:
            h.update(line.encode() + b"\n")
    return "sha256:" + h.hexdigest()


def encode_headers(stream: bytes) -> str:
    """The headers as stored: base64 of their zlib-compressed exportdb stream (compressed inside
    the JSON, so reading an inventory for a report does not inflate them)."""
    return base64.b64encode(zlib.compress(stream, 6)).decode("ascii")


def decode_headers(text: str, source: str) -> bytes:
    try:
        return _inflate(base64.b64decode(text, validate=True), 15, source)
    except (ValueError, zlib.error) as e:
        raise ProfileError("%s: /rpm/headers: not base64 zlib data: %s" % (source, e)) from e


def dumps(doc: Dict[str, Any]) -> bytes:
    # mtime=0: the same state gives the same bytes, so a site can tell changed hosts by digest
    return gzip.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), 6, mtime=0)


def write(root: str, out: str, *, running_kernel: Optional[str] = None,
          full_filelists: bool = False) -> Dict[str, Any]:  # fmt: skip
    doc = collect(root, running_kernel=running_kernel, full_filelists=full_filelists)
    state.atomic_write(out, dumps(doc))
    return doc


# -- reading -------------------------------------------------------------------------------
def host_name(path: str) -> str:
    base = os.path.basename(path)
    for suf in SUFFIXES:
        if base.endswith(suf) and len(base) > len(suf):
            return base[: -len(suf)]
    return base


def _inflate(data: bytes, wbits: int, source: str) -> bytes:
    """zlib/gzip data, bounded: a small hostile file must not expand without limit."""
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, MAX_INVENTORY + 1)
    if len(out) > MAX_INVENTORY or d.unconsumed_tail:
        raise ProfileError("%s: inventory larger than %d bytes" % (source, MAX_INVENTORY))
    return out


def loads(data: bytes, name: str, source: str = "") -> Inventory:
    source = source or name
    try:
        if data[:2] == b"\x1f\x8b":
            data = _inflate(data, 31, source)
        doc = json.loads(data)
    except (OSError, EOFError, ValueError, UnicodeDecodeError, zlib.error) as e:
        raise ProfileError("%s: not an inventory: %s" % (source, e)) from e
    _check(doc, source)
    return Inventory(name, doc)


def _check(doc: Any, source: str) -> None:
    def fail(path: str, what: str) -> ProfileError:
        return ProfileError(
            "%s: %s: %s" % (source, path, what), hint="collect it again with `spma inventory`"
        )

    if not isinstance(doc, dict) or doc.get("format") != INVENTORY_FORMAT:
        raise fail("/format", "expected %r" % INVENTORY_FORMAT)
    if not isinstance(doc.get("root"), str):
        raise fail("/root", "expected a string")
    osd = doc.get("os")
    if not isinstance(osd, dict) or osd.get("family") not in ("rpm", "deb"):
        raise fail("/os/family", "expected rpm or deb")
    for k in ("id", "version_id", "os_release"):
        if not isinstance(osd.get(k, ""), str):
            raise fail("/os/" + k, "expected a string")
    if doc.get("running_kernel") is not None and not isinstance(doc["running_kernel"], str):
        raise fail("/running_kernel", "expected a string or null")
    pk = doc.get("packages")
    if not isinstance(pk, list):
        raise fail("/packages", "expected a list")
    for i, p in enumerate(pk):
        if not (isinstance(p, dict) and type(p.get("name")) is str and type(p.get("evr")) is str
                and type(p.get("arch")) is str):  # fmt: skip
            raise fail("/packages/%d" % i, "expected {name, evr, arch} strings")
    if osd["family"] == "rpm":
        r = doc.get("rpm")
        if (
            not isinstance(r, dict)
            or not isinstance(r.get("headers"), str)
            or r.get("dbpath") not in _DBPATHS
        ):
            raise fail("/rpm", "expected {dbpath, headers}")
        mods = r.get("dnf_modules") or {}
        if not isinstance(mods, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.rsplit("/", 1)[0] in _MODULE_DIRS
            and "/" not in k.rsplit("/", 1)[-1] and not k.rsplit("/", 1)[-1].startswith(".")
            for k, v in mods.items()
        ):  # fmt: skip
            raise fail("/rpm/dnf_modules", "expected {etc/dnf/modules.d/NAME: text}")
    else:
        d = doc.get("dpkg")
        if not isinstance(d, dict) or not isinstance(d.get("status"), str):
            raise fail("/dpkg/status", "expected the status file's text")
        for k in ("arch", "extended_states"):
            if d.get(k) is not None and not isinstance(d[k], str):
                raise fail("/dpkg/" + k, "expected text or null")


def load(path: str) -> Inventory:
    data = _read(path, MAX_INVENTORY + 1)
    if data is None:
        raise ProfileError("%s: no such inventory" % path)
    return loads(data, host_name(path), path)


def load_dir_or_tarball(src: str) -> List[Tuple[str, bytes]]:
    """(host name, bytes) of every inventory in a directory or a tarball, sorted by name."""
    import tarfile

    out: Dict[str, bytes] = {}
    if os.path.isdir(src):
        for fn in sorted(os.listdir(src)):
            path = os.path.join(src, fn)
            if fn.endswith(SUFFIXES) and os.path.isfile(path):
                data = _read(path, MAX_INVENTORY + 1)
                if data is not None:
                    out[host_name(fn)] = data
    elif os.path.isfile(src) and tarfile.is_tarfile(src):
        from spma import tarsafe

        try:
            for name, data in tarsafe.regular_members(src, SUFFIXES, MAX_INVENTORY):
                if data is not None:
                    out[host_name(name)] = data
        except tarsafe.DamagedArchive as e:
            raise ProfileError(str(e), hint="make or fetch the tarball again") from e
    else:
        raise ProfileError("--inventories %s: not a directory or a tarball" % src)
    return sorted(out.items())


# -- materialising -------------------------------------------------------------------------
def materialise(inv: Inventory, dest: str) -> None:
    """Make `dest` a root in the recorded installed state (only what a plan reads): os-release
    and the rpmdb rebuilt from the recorded headers, or dpkg's status, arch and apt's
    extended_states. `dest` is emptied of any previous host's package database first."""
    import shutil

    doc = inv.doc
    for rel in (
        "var/lib/rpm",
        "usr/lib/sysimage/rpm",
        "var/lib/dpkg",
        "var/lib/apt",
        "etc/os-release",
    ) + _MODULE_DIRS:
        p = os.path.join(dest, rel)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)
    os.makedirs(os.path.join(dest, "etc"), exist_ok=True)
    if doc["os"].get("os_release"):
        with open(os.path.join(dest, "etc/os-release"), "w", encoding="utf-8") as f:
            f.write(doc["os"]["os_release"])
    if inv.family == "rpm":
        headers = decode_headers(doc["rpm"]["headers"], inv.name)
        dbpath = doc["rpm"]["dbpath"]
        os.makedirs(os.path.join(dest, dbpath.lstrip("/")), exist_ok=True)
        # rpm's own importer (one process per host, not per package); --dbpath pins the location
        # against Debian's rpm, which would otherwise put the database under $HOME.
        res = subprocess.run(["rpmdb", "--root", dest, "--dbpath", dbpath, "--importdb"], input=headers,
                             capture_output=True)  # fmt: skip
        for rel, text in (doc["rpm"].get("dnf_modules") or {}).items():
            p = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        if res.returncode != 0:
            raise ProfileError(
                "inventory %s: rpm could not import its headers: %s"
                % (inv.name, res.stderr.decode("utf-8", "replace").strip()[-500:])
            )
    else:
        d = doc["dpkg"]
        for key, rel in (("status", "var/lib/dpkg/status"), ("arch", "var/lib/dpkg/arch"),
                         ("extended_states", "var/lib/apt/extended_states")):  # fmt: skip
            if d.get(key) is not None:
                p = os.path.join(dest, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w", encoding="utf-8") as f:
                    f.write(d[key])
