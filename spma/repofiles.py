"""The managed repository files, for every backend: one header, atomic writes, and removal
limited to what spma manages.

A file spma wrote (it carries the header) and the profile no longer declares always goes; a
foreign file of a managed suffix goes only with `userrepos` false (DESIGN §4.5).
"""

from __future__ import annotations

import logging
import os

from spma.backend import RepoFiles
from spma.state import atomic_write

log = logging.getLogger("spma.repofiles")

HEADER = "# Written by spma from the host profile; local changes are overwritten.\n"


def owned(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline() == HEADER
    except OSError:
        return False


def write(repo_files: RepoFiles, *, userrepos: bool) -> None:
    d = repo_files.directory
    os.makedirs(d, exist_ok=True)
    for fn, body in sorted(repo_files.files.items()):
        atomic_write(os.path.join(d, fn), (HEADER + body).encode())
    for fn in sorted(os.listdir(d)):
        path = os.path.join(d, fn)
        if fn in repo_files.files or not fn.endswith(repo_files.suffixes) or not os.path.isfile(path):
            continue
        if owned(path) or not userrepos:
            os.unlink(path)
            log.info("removed repository file %s", path)
    if repo_files.main_file and not userrepos:
        neutralise(repo_files.main_file)


def neutralise(path: str) -> None:
    """The package manager's own main source file (apt's sources.list) must not feed the root's
    package manager either: saved as it was in PATH.spma-saved, then left with a comment."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        return
    text = data.decode("utf-8", "replace")
    if not [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]:
        return
    atomic_write(path + ".spma-saved", data)
    atomic_write(path, b"# Disabled by spma (userrepos: no): the profile's repositories are managed beside it.\n"
                 b"# The former content is in %s.spma-saved.\n" % os.path.basename(path).encode())  # fmt: skip
    log.info("neutralised %s (saved as %s.spma-saved)", path, path)
