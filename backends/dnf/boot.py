"""The answers the core's live/boot split asks of dnf (what needs what, the live part solved on
its own), the prefetch, and the boot-time transaction from the prefetched files."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Set, Tuple

from spma import rootfs
from spma.errors import RepoError, ResolveError, TransactionError
from spma.model import Change, Need, SolveRequest

from .base import Root, evr, nevra
from .execute import check_signatures

Unit = Tuple[Optional[Any], List[Any]]


def _unsatisfied(query: Any, req: Any) -> bool:
    try:
        return not query.filter(provides=req)
    except Exception:  # noqa: BLE001 - rich dependencies: leave them to the verifying solve
        return False


def _first(query: Any, req: Any) -> Optional[Any]:
    try:
        got = query.filter(provides=req).run()
    except Exception:  # noqa: BLE001 - as above
        return None
    return got[0] if got else None


def unmet(sack: Any, units: Sequence[Unit], live: Sequence[int], deferred: Sequence[int]) -> List[Need]:
    """A live new package's requirement that only the deferred units meet; failing those, a live
    removal that an old package staying until boot still needs."""
    installed = sack.query().installed()
    leaving = {o for i in live for o in units[i][1]}
    live_new = [units[i][0] for i in live if units[i][0] is not None]
    final = installed.filter(pkg=[p for p in installed if p not in leaving]).union(
        sack.query().filter(pkg=live_new)
    )
    later = sack.query().filter(pkg=[units[i][0] for i in deferred if units[i][0] is not None])
    out: List[Need] = []
    for i in live:
        new = units[i][0]
        req = next((r for r in (new.requires if new is not None else ()) if _unsatisfied(final, r)), None)
        if req is not None:
            prov = _first(later, req)
            out.append(Need(i, "needs", prov.name, evr(prov)) if prov else Need(i, "needs", str(req)))
    if out:
        return out
    staying_old = [o for i in deferred for o in units[i][1]]
    for i in live:
        new, olds = units[i]
        if new is not None:
            continue
        mine = installed.filter(pkg=olds)
        for o in staying_old:
            if any(_unsatisfied(final, r) and _first(mine, r) for r in o.requires):
                out.append(Need(i, "needed-by", o.name, evr(o)))
                break
    return out


def live_goal(sack: Any, live: Sequence[Unit]) -> Optional[Any]:
    """The live changes as exact jobs, solved on their own; None unless libsolv returns
    exactly those changes (nothing pulled in, nothing uninstalled)."""
    import hawkey

    goal = hawkey.Goal(sack)
    want_new, want_gone = set(), set()
    for new, olds in live:
        if new is not None:
            goal.install(new)
            want_new.add(new)
        else:
            for o in olds:
                goal.erase(o)
        want_gone.update(olds)
    if not goal.run(allow_uninstall=False, force_best=False, ignore_weak_deps=True):
        return None
    got_new = (
        set(goal.list_installs()) | set(goal.list_upgrades()) | set(goal.list_downgrades())
        | set(goal.list_reinstalls())
    )  # fmt: skip
    got_gone = set(goal.list_erasures()) | set(goal.list_obsoleted())
    for p in got_new:
        got_gone.update(goal.obsoleted_by_package(p))
    return goal if (got_new == want_new and got_gone == want_gone) else None


def prefetch(
    root: Root, base: Any, units: Sequence[Unit], changes: Sequence[Change], dest: str
) -> List[Optional[str]]:
    """Download the new packages of the changes' units now (verified like any other) and keep
    them in `dest` for a boot with no network: the file of each change that brings one."""
    import dnf.exceptions

    wanted: Set[int] = {c.unit for c in changes}
    new_pkgs: List[Any] = [units[i][0] for i in sorted(wanted) if units[i][0] is not None]
    os.makedirs(dest, exist_ok=True)
    if new_pkgs:
        try:
            base.download_packages(new_pkgs)
        except dnf.exceptions.DownloadError as e:
            raise RepoError("prefetching the packages deferred to boot failed: %s" % e) from e
        check_signatures(root, base, new_pkgs)
    files = {}
    for new in new_pkgs:
        fn = os.path.basename(new.localPkg())
        # `dest` is resolved inside the root already: a link at the name is replaced, not followed
        rootfs.copy_file(dest, new.localPkg(), fn)
        files[(new.name, new.arch, evr(new))] = fn
    return [files.get((c.name, c.arch, c.to_evr or "")) if c.to_evr else None for c in changes]


def apply_local(root: Root, changes: Sequence[Tuple[Change, Optional[str]]], source: str) -> None:
    """Boot: run the deferred changes from the packages in `source`, with no repository."""
    import dnf.exceptions
    import hawkey

    base = root.load(SolveRequest(packages=(), repositories=()), available=False)
    try:
        paths = [os.path.join(source, f) for _c, f in changes if f]
        for p in paths:
            if not os.path.exists(p):
                raise RepoError("the prefetched package %s is missing" % p)
        try:
            local = base.add_remote_rpms(paths) if paths else []
        except (OSError, dnf.exceptions.Error) as e:
            raise RepoError("a package prefetched for boot is unreadable: %s" % e) from e
        goal = hawkey.Goal(base.sack)
        by_nevra = {nevra(p): p for p in base.sack.query().installed()}
        for pkg in local:
            goal.install(pkg)
        with_file = {c.unit for c, f in changes if f}
        for c, _f in changes:
            gone = "%s-%s.%s" % (c.name, c.from_evr, c.arch)
            if c.unit not in with_file and c.to_evr is None and gone in by_nevra:
                goal.erase(by_nevra[gone])
        if not goal.run(allow_uninstall=False, force_best=False, ignore_weak_deps=True):
            raise ResolveError("the changes deferred to boot no longer fit the installed packages")
        base._goal = goal
        base._transaction = base._goal2transaction(goal)
        try:
            base.do_transaction()
        except dnf.exceptions.Error as e:
            raise TransactionError("the boot transaction failed: %s" % e) from e
    finally:
        base.close()
