"""The managed repository files, for every backend: one header, atomic writes, and removal
limited to what spma manages, all inside the root (spma/rootfs.py).

A file spma wrote (it carries the header) and the profile no longer declares always goes; a
foreign file of a managed suffix is taken out of use only with `userrepos` false (DESIGN §4.5),
and then renamed to *.disabled, never deleted: spma removes only what it wrote.
"""

from __future__ import annotations

import logging
import os

from spma import rootfs
from spma.backend import RepoFiles

log = logging.getLogger("spma.repofiles")
HEADER = rootfs.MARK + " from the host profile; local changes are overwritten.\n"


def owned(root: str, path: str) -> bool:
    return rootfs.is_marked(root, path)


def write(repo_files: RepoFiles, *, userrepos: bool, root: str) -> None:
    files = {fn: (HEADER + body).encode() for fn, body in repo_files.files.items()}
    rootfs.write_repo_files(root, rootfs.relpath(root, repo_files.directory), files, repo_files.suffixes,
                            userrepos=userrepos)  # fmt: skip
    if repo_files.main_file and not userrepos:
        neutralise(root, rootfs.relpath(root, repo_files.main_file))


def neutralise(root: str, path: str) -> None:
    """The package manager's own main source file (apt's sources.list) must not feed the root's
    package manager either: saved as it was in PATH.spma-saved, then left with a comment. Both
    written as the root sees them (spma/rootfs.py)."""
    data = rootfs.read_bytes(root, path, 1 << 20)
    if data is None:
        return
    text = data.decode("utf-8", "replace")
    if not [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]:
        return
    rootfs.write_file(root, path + ".spma-saved", data)
    rootfs.write_file(root, path, b"# Disabled by spma (userrepos: no): the profile's repositories are managed beside it.\n"
                      b"# The former content is in %s.spma-saved.\n" % os.path.basename(path).encode())  # fmt: skip
    log.info("neutralised %s (saved as %s.spma-saved)", path, path)
