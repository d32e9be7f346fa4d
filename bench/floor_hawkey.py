"""The floor of a dnf plan: hawkey alone, from its solv cache, one goal over the declared names.
No dnf.Base, no configuration, no repository check, no explanations, no output beyond a count.

    floor_hawkey.py CACHEDIR NAMES_FILE REPODIR...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def main() -> int:
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # hawkey.Repo: the plain libsolv loader
    import hawkey

    cachedir, names_file, repodirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    sack = hawkey.Sack(cachedir=cachedir, arch="x86_64", make_cache_dir=True)
    for i, d in enumerate(repodirs):
        repomd = Path(d) / "repodata" / "repomd.xml"
        text = repomd.read_text()
        repo = hawkey.Repo("r%d" % i)
        repo.repomd_fn = str(repomd)
        for kind in ("primary", "filelists"):
            m = re.search(r'<data type="%s">.*?<location href="([^"]+)"' % kind, text, re.S)
            assert m, (kind, repomd)
            setattr(repo, "%s_fn" % kind, str(Path(d) / m.group(1)))
        sack.load_repo(repo, build_cache=True, load_filelists=True)
    goal = hawkey.Goal(sack)
    for n in Path(names_file).read_text().split():
        goal.install(select=hawkey.Selector(sack).set(name=n))
    if not goal.run(ignore_weak_deps=True):
        print("unsolvable", file=sys.stderr)
        return 1
    print("install %d" % len(goal.list_installs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
