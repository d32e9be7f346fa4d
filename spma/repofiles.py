"""The managed repository files, for every backend: one header, atomic writes, and removal
limited to what spma manages, all inside the root (spma/rootfs.py).

A file spma wrote (it carries the header) and the profile no longer declares always goes; a
foreign file of a managed suffix is taken out of use only with `userrepos` false (DESIGN §4.5),
and then renamed to *.disabled, never deleted: spma removes only what it wrote.
"""

from __future__ import annotations

from spma import rootfs
from spma.backend import RepoFiles

HEADER = rootfs.MARK + " from the host profile; local changes are overwritten.\n"


def owned(root: str, path: str) -> bool:
    return rootfs.is_marked(root, path)


def write(repo_files: RepoFiles, *, userrepos: bool, root: str) -> None:
    files = {fn: (HEADER + body).encode() for fn, body in repo_files.files.items()}
    rootfs.write_repo_files(root, rootfs.relpath(root, repo_files.directory), files, repo_files.suffixes,
                            userrepos=userrepos)  # fmt: skip
