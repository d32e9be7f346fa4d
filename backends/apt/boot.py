"""The answers the core's live/boot split asks of apt (what needs what, the live part re-marked
on its own), the prefetch with a local Packages index, and the boot-time marks."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spma import rootfs
from spma.errors import RepoError, ResolveError
from spma.model import Change, Need

from .marks import Key, set_candidate

# unit -> (change, package, new version or None)
Units = Sequence[Tuple[Change, Any, Any]]


class _LiveView:
    """The versions installed once only the live units ran."""

    def __init__(self, units: Units, live: Sequence[int]) -> None:
        self.live = {(units[i][1].name, units[i][1].architecture): units[i] for i in live}

    def version(self, pkg: Any) -> Any:
        u = self.live.get((pkg.name, pkg.architecture))
        if u is not None:
            return None if u[0].action == "remove" else u[2]
        return pkg.current_ver

    def satisfied(self, group: List[Any]) -> bool:
        return any(self.version(v.parent_pkg) == v for d in group for v in d.all_targets())


def unmet(units: Units, live: Sequence[int], deferred: Sequence[int]) -> List[Need]:
    view = _LiveView(units, live)
    later = {(units[i][1].name, units[i][1].architecture) for i in deferred}
    out: List[Need] = []
    for i in live:
        new = units[i][2]
        groups = [g for t in ("Depends", "PreDepends") for g in (new.depends_list.get(t, []) if new else [])]
        group = next((g for g in groups if not view.satisfied(g)), None)
        if group is not None:
            pending = [
                t
                for d in group
                for t in d.all_targets()
                if (t.parent_pkg.name, t.parent_pkg.architecture) in later
            ]
            out.append(Need(i, "needs", pending[0].parent_pkg.name, pending[0].ver_str) if pending
                       else Need(i, "needs", group[0].target_pkg.name))  # fmt: skip
    if out:
        return out
    for i in live:
        change, pkg, _new = units[i]
        if change.action != "remove":
            continue
        for j in deferred:
            old = units[j][1].current_ver
            needs = [g for g in (old.depends_list.get("Depends", []) if old else []) if not view.satisfied(g)
                     and any(t.parent_pkg.name == pkg.name for d in g for t in d.all_targets())]  # fmt: skip
            if needs:
                out.append(Need(i, "needed-by", units[j][1].name, old.ver_str))
                break
    return out


def restrict(cache: Any, units: Units, live: Sequence[int]) -> bool:
    """Re-mark the live units alone, keeping the plan's auto/manual marks; True if apt then
    sees exactly those changes. False leaves the depcache with no changes."""
    import apt_pkg

    ac, dep = cache._cache, cache._depcache
    autos: Dict[Key, bool] = {(p.name, p.architecture): dep.is_auto_installed(p) for p in ac.packages
                              if p.current_ver or dep.marked_install(p)}  # fmt: skip
    dep.init()
    with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
        for i in live:
            change, pkg, new = units[i]
            if change.repair and change.action == "reinstall":
                if (change.unfinished or "").endswith("+reinstreq"):
                    set_candidate(dep, pkg, new)
                    dep.set_reinstall(pkg, True)
                continue  # dpkg's own recovery finishes the rest: no mark
            if change.action == "remove":
                dep.mark_delete(pkg, False)
            else:
                set_candidate(dep, pkg, new)
                dep.mark_install(pkg, False, not autos.get((pkg.name, pkg.architecture), False))
        for p in ac.packages:
            if p.current_ver is not None and (p.name, p.architecture) in autos:
                dep.mark_auto(p, autos[(p.name, p.architecture)])
    marked = {(p.name, p.architecture) for p in ac.packages if dep.marked_delete(p) or dep.marked_install(p)
              or dep.marked_upgrade(p) or dep.marked_downgrade(p) or dep.marked_reinstall(p)}  # fmt: skip
    want = {(units[i][1].name, units[i][1].architecture) for i in live
            if not (units[i][0].repair and not (units[i][0].unfinished or "").endswith("+reinstreq"))}  # fmt: skip
    if dep.broken_count or marked != want:
        dep.init()
        return False
    return True


def prefetch(cache: Any, changes: Sequence[Change], dest: str) -> List[Optional[str]]:
    """Fetch the .debs (apt checks their hashes) and write a Packages index beside them, so the
    boot run needs no network and no source but this directory."""
    import apt_inst

    os.makedirs(dest, exist_ok=True)
    out: List[Optional[str]] = []
    stanzas = []
    for c in changes:
        if c.to_evr is None:
            out.append(None)
            continue
        pkg = cache[c.name if c.arch == "all" else "%s:%s" % (c.name, c.arch)]
        try:
            path = pkg.versions[c.to_evr].fetch_binary(dest)
        except Exception as e:  # noqa: BLE001 - python-apt raises FetchError and friends
            raise RepoError("prefetching %s %s for boot failed: %s" % (c.name, c.to_evr, e)) from e
        fn = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        if os.path.islink(path):
            # apt's file: method links to the source; boot must not depend on the mirror. `dest`
            # is resolved inside the root already: the link itself is replaced, never followed
            rootfs.write_file(dest, fn, data)
        control = apt_inst.DebFile(path).control.extractdata("control").decode("utf-8").rstrip("\n")
        stanzas.append("%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n"
                       % (control, fn, len(data), hashlib.sha256(data).hexdigest()))  # fmt: skip
        out.append(fn)
    rootfs.write_file(dest, "Packages", "\n".join(stanzas).encode())
    return out


def mark_local(cache: Any, changes: Sequence[Tuple[Change, Optional[str]]]) -> None:
    """Boot: the deferred changes as marks on a cache whose only source is the prefetched files."""
    import apt_pkg

    ac, dep = cache._cache, cache._depcache
    with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
        for c, _f in changes:
            pkg = ac[(c.name, c.arch)] if c.arch != "all" else ac[c.name]
            if c.to_evr is None:
                dep.mark_delete(pkg, False)
                continue
            ver = next((v for v in pkg.version_list if v.ver_str == c.to_evr and v.downloadable), None)
            if ver is None:
                raise RepoError("the prefetched %s %s is not readable" % (c.name, c.to_evr))
            set_candidate(dep, pkg, ver)
            dep.mark_install(pkg, False, False)
    if dep.broken_count:
        raise ResolveError("the changes deferred to boot no longer fit the installed packages")
