"""The floor of an apt plan: python-apt alone on spma's private configuration and its
pkgcache.bin, every declared name marked inside one ActionGroup. No update, no explanations.

    floor_aptpkg.py APT_CONF NAMES_FILE
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    import apt_pkg

    os.environ["APT_CONFIG"] = sys.argv[1]
    apt_pkg.init_config()
    apt_pkg.init_system()
    cache = apt_pkg.Cache(None)
    dep = apt_pkg.DepCache(cache)
    with open(sys.argv[2]) as f:
        names = f.read().split()
    with apt_pkg.ActionGroup(dep):
        for n in names:
            dep.mark_install(cache[n], True, True)
    print("install %d, broken %d" % (dep.inst_count, dep.broken_count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
