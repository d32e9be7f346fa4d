"""Synthetic but realistic RPM hosts for the fleet benchmarks (untimed preparation).

Each host starts from one of the corpus's real `rpm -qa` lists: the names CentOS Stream 9
offers are installed with their dependency closure from the real CentOS Stream 9 metadata
(one hawkey goal per host, with a random tenth of the names left out and a few added, and a
quarter of the packages moved to an older version the metadata also offers). Its inventory
carries rpm headers built from that metadata (identity, every dependency kind and the file
list the metadata has; AppStream's filelists are a stub in the corpus, so its packages carry
the primary file list only), exactly as `spma inventory` stores them.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SPMA_CORPUS", HERE.parent.parent / "shared" / "corpus"))
REPODATA = CORPUS / "centos-stream9-repodata"
LISTS = CORPUS / "rpm-installed-lists"
REPOS = {"baseos": REPODATA / "baseos-2022-02", "appstream": REPODATA / "appstream-2025-01"}
OS_RELEASE = ('NAME="CentOS Stream"\nVERSION="9"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n'
              'PLATFORM_ID="platform:el9"\nPRETTY_NAME="CentOS Stream 9"\n')  # fmt: skip
_DEP = re.compile(r"^(\S+) (<=|>=|<|>|=) (\S+)$")
_FLAGS = {"<": 2, ">": 4, "=": 8, "<=": 10, ">=": 12}


def list_names() -> Dict[str, List[str]]:
    out = {}
    for f in sorted(LISTS.glob("*.tsv")):
        with open(f, encoding="utf-8") as fh:
            rows = [r for r in csv.reader((ln for ln in fh if not ln.startswith("#")), delimiter="\t")]
        out[f.stem] = [r[1] for r in rows[1:] if len(r) > 1]
    return out


def load_base(work: Path) -> Any:
    import dnf

    base = dnf.Base()
    c = base.conf
    c.installroot = str(work / "prep-root")
    c.cachedir = str(work / "prep-cache")
    c.logdir = str(work / "prep-log")
    c.reposdir = []
    c.install_weak_deps = False
    c.substitutions["releasever"] = "9"
    for d in (c.installroot, c.cachedir, c.logdir):
        os.makedirs(d, exist_ok=True)
    for rid, path in REPOS.items():
        base.repos.add_new_repo(rid, c, baseurl=["file://%s" % path]).gpgcheck = False
    base.fill_sack(load_system_repo=False)
    return base


def _deps(reldeps: Any) -> Tuple[List[str], List[int], List[str]]:
    names, flags, vers = [], [], []
    for r in reldeps:
        s = str(r)
        m = _DEP.match(s)
        if m and not s.startswith("("):
            names.append(m.group(1))
            flags.append(_FLAGS[m.group(2)])
            vers.append(m.group(3))
        else:
            names.append(s)
            flags.append(0)
            vers.append("")
    return names, flags, vers


_HEADERS: Dict[str, bytes] = {}


def header(pkg: Any, required: Set[str], installtime: int = 1767225600) -> bytes:
    """An installed package's header, as `spma inventory` keeps it (spma.inventory.reduce_header),
    built from its metadata. `required`: the paths any package of the benchmark requires (a
    superset of one host's, so a package's header is built once for all hosts)."""
    import rpm

    from spma import inventory

    key = str(pkg)
    if key in _HEADERS:
        return _HEADERS[key]
    h = rpm.hdr()
    h["name"], h["version"], h["release"], h["arch"], h["os"] = (
        pkg.name,
        pkg.version,
        pkg.release,
        pkg.arch,
        "linux",
    )
    if pkg.epoch:
        h["epoch"] = pkg.epoch
    h["sourcerpm"] = pkg.sourcerpm or ""
    h["summary"] = pkg.summary or ""
    if pkg.vendor:
        h["vendor"] = pkg.vendor
    h["installtime"] = installtime
    h["buildtime"] = pkg.buildtime
    h["size"] = pkg.installsize
    for kind, attr in (("provide", "provides"), ("require", "requires"), ("conflict", "conflicts"),
                       ("obsolete", "obsoletes"), ("recommend", "recommends"), ("suggest", "suggests"),
                       ("supplement", "supplements"), ("enhance", "enhances")):  # fmt: skip
        names, flags, vers = _deps(getattr(pkg, attr))
        if names:
            h[kind + "name"], h[kind + "flags"], h[kind + "version"] = names, flags, vers
    files = sorted(pkg.files)
    if files:
        dirs: Dict[str, int] = {}
        basenames, dirindexes = [], []
        for f in files:
            d, b = f.rsplit("/", 1)
            basenames.append(b)
            dirindexes.append(dirs.setdefault(d + "/", len(dirs)))
        h["basenames"], h["dirindexes"], h["dirnames"] = basenames, dirindexes, list(dirs)
    blob = inventory.reduce_header(h, required)
    _HEADERS[key] = blob
    return blob


def make_hosts(base: Any, n: int, seed: int = 1) -> List[Tuple[str, List[str], List[Any]]]:
    """(host name, declared names, installed packages) for n hosts."""
    import hawkey

    rnd = random.Random(seed)
    sack = base.sack
    avail = sack.query().available().filter(arch=["x86_64", "noarch"])
    known = {p.name for p in avail}
    lists = {k: [x for x in dict.fromkeys(v) if x in known] for k, v in list_names().items()}
    lists = {k: v for k, v in lists.items() if len(v) > 20}
    pool = sorted({x for v in lists.values() for x in v})
    keys = sorted(lists)
    hosts = []
    for i in range(n):
        names = [x for x in lists[keys[i % len(keys)]] if rnd.random() > 0.1]
        names += rnd.sample(pool, 10)
        names = list(dict.fromkeys(names))
        goal = hawkey.Goal(sack)
        for x in names:
            goal.install(select=hawkey.Selector(sack).set(pkg=avail.filter(name=x)), optional=True)
        if not goal.run(ignore_weak_deps=True):
            continue
        pkgs = []
        for p in goal.list_installs():
            older = [q for q in avail.filter(name=p.name, arch=p.arch) if q.evr_lt(p)]
            pkgs.append(rnd.choice(older) if older and rnd.random() < 0.25 else p)
        got = {p.name for p in pkgs}
        hosts.append(("host%04d" % i, [x for x in names if x in got], pkgs))
    return hosts


def inventory_doc(name: str, root: str, pkgs: List[Any], required: Set[str]) -> Dict[str, Any]:
    from spma import inventory

    headers = b"".join(header(p, required) for p in sorted(pkgs, key=lambda p: (p.name, p.arch)))
    doc: Dict[str, Any] = {
        "format": inventory.INVENTORY_FORMAT,
        "spma_version": "bench",
        "created": "2026-12-01T00:00:00Z",
        "hostname": name,
        "root": root,
        "os": {
            "family": "rpm",
            "id": "centos",
            "id_like": "rhel fedora",
            "version_id": "9",
            "arch": "x86_64",
            "os_release": OS_RELEASE,
        },  # fmt: skip
        "running_kernel": None,
        "rpm": {
            "dbpath": "/var/lib/rpm",
            "filelists": "primary+required",
            "headers": inventory.encode_headers(headers),
        },
        "packages": sorted(
            ({"name": p.name, "evr": str(p.evr), "arch": p.arch} for p in pkgs),
            key=lambda p: (p["name"], p["arch"], p["evr"]),
        ),  # fmt: skip
        "profile_sha256": None,
        "last_run": None,
    }
    doc["installed_fingerprint"] = inventory.installed_fingerprint(doc)
    return doc


def profile(names: List[str]) -> Dict[str, Any]:
    from spma import pan

    return {"software": {
        "components": {"spma": {"packager": "dnf", "userpkgs": "no"}},
        "packages": {pan.escape(x): {} for x in names},
        "repositories": [{"name": rid, "gpgcheck": False, "protocols": [{"name": "file", "url": "file://%s" % p}]}
                         for rid, p in REPOS.items()],
    }}  # fmt: skip


def write_fleet(work: Path, n: int, seed: int = 1) -> Tuple[Path, Path, List[str]]:
    """(inventory dir, profile dir, host names); a host's recorded root is work/roots/NAME."""
    from spma import inventory

    base = load_base(work)
    try:
        hosts = make_hosts(base, n, seed)
        inv_dir, prof_dir = work / "inventories", work / "profiles"
        inv_dir.mkdir(exist_ok=True)
        prof_dir.mkdir(exist_ok=True)
        rnd = random.Random(seed + 1)
        required = {
            str(r) for _n, _d, pkgs in hosts for p in pkgs for r in p.requires if str(r).startswith("/")
        }
        for name, names, pkgs in hosts:
            doc = inventory_doc(name, str(work / "roots" / name), pkgs, required)
            (inv_dir / (name + ".json.gz")).write_bytes(inventory.dumps(doc))
            # the profile declares most of what the host was built from: the rest is removed
            declared = [x for x in names if rnd.random() > 0.05]
            (prof_dir / (name + ".json")).write_text(json.dumps(profile(declared)))
        return inv_dir, prof_dir, [h[0] for h in hosts]
    finally:
        base.close()


def gz_size(path: Path) -> Tuple[int, int]:
    data = path.read_bytes()
    return len(data), len(gzip.decompress(data))
