"""What rpm can tell of a transaction that stopped part way: two or more versions of one
package that is not install-only (rpm adds the new header before it erases the old one). A
%post that never ran leaves no trace in the rpmdb."""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any, Dict, List, Tuple

from spma import faults

from .base import Root, evr

Key = Tuple[str, str]


# dnf's default installonlypkgs (spma's private dnf configuration uses the defaults): kept here so
# the agent's no-op check reads the rpmdb without importing dnf; test_dnf_interrupted compares it
# with dnf.conf.Conf().installonlypkgs, so a dnf that changes its default is noticed
INSTALLONLY = ("kernel", "kernel-PAE", "installonlypkg(kernel)", "installonlypkg(kernel-module)",
               "installonlypkg(vm)", "multiversion(kernel)")  # fmt: skip


def find(root: Root) -> Tuple[faults.Unfinished, ...]:
    """Every copy of every duplicated (name, arch), read from the rpmdb without a sack."""
    import rpm

    installonly = set(INSTALLONLY)
    root.pin_dbpath()
    ts = rpm.TransactionSet(root.root)
    groups: Dict[Key, List[Tuple[Tuple[str, str, str], str]]] = defaultdict(list)
    try:
        for h in ts.dbMatch():
            name, arch = h["name"], h["arch"] or "(none)"
            if name == "gpg-pubkey" or name in installonly or installonly & set(h["providename"] or []):
                continue
            e = h["epochnum"]
            vr = "%s-%s" % (h["version"], h["release"])
            groups[(name, arch)].append(
                ((str(e or 0), h["version"], h["release"]), "%d:%s" % (e, vr) if e else vr)
            )
    finally:
        ts.closeDB()
    out: List[Any] = []
    for (name, arch), vers in sorted(groups.items()):
        if len(vers) < 2:
            continue
        vers.sort(key=lambda v: functools.cmp_to_key(rpm.labelCompare)(v[0]))
        for _key, v in vers:
            out.append(
                faults.Unfinished(name, arch, v, "duplicate", others=tuple(o for _k, o in vers if o != v))
            )
    return tuple(out)


def copies(installed: Any, dups: Tuple[faults.Unfinished, ...]) -> Dict[Key, List[Any]]:
    """The installed packages of each duplicated (name, arch)."""
    keys = {(u.name, u.arch, u.version) for u in dups}
    out: Dict[Key, List[Any]] = defaultdict(list)
    for p in installed:
        if (p.name, p.arch, evr(p)) in keys:
            out[(p.name, p.arch)].append(p)
    return dict(out)


def leftovers(groups: Dict[Key, List[Any]], final: Dict[Key, str]) -> List[Any]:
    """The copies that go: one stays, the one the solve wants when it wants one of them (rpm
    cannot erase a copy and install the same version in one transaction), else the newest."""
    out: List[Any] = []
    for key, group in groups.items():
        stays = next((p for p in group if final.get(key) == evr(p)), sorted(group)[-1])
        out.extend(p for p in group if p != stays)
    return out
