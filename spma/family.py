"""Which backend a root takes: --backend, the profile's packager, else the root's os-release or
package database. A leaf module (no dataclasses, no backend): the agent's no-op run in
spma.quick decides with it before anything heavier is imported."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
    from typing import Tuple

PACKAGER_ALIASES = {"yum": "dnf", "yumdnf": "dnf", "dnf": "dnf", "apt": "apt"}


def resolve_backend_name(requested: str, profile_packager: str, root: str) -> Tuple[str, str]:
    """(backend name, where the choice came from)."""
    if requested and requested != "auto":
        return requested, "--backend"
    if profile_packager and profile_packager != "auto":
        name = PACKAGER_ALIASES.get(profile_packager)
        if name:
            return name, "profile packager %r" % profile_packager
    return detect_family(root)


def detect_family(root: str) -> Tuple[str, str]:
    from spma import rootfs

    # the root's file, read as the root sees it and bounded (it may be a link to /dev/zero)
    text = rootfs.read_text(root, "etc/os-release") or rootfs.read_text(root, "usr/lib/os-release")
    ids = ""
    for line in text.splitlines():
        if line.startswith(("ID=", "ID_LIKE=")):
            ids += " " + line.split("=", 1)[1].strip().strip('"')
    words = set(ids.split())
    if words & {"debian", "ubuntu"}:
        return "apt", "os-release of %s (%s)" % (root, ids.strip())
    if words & {"rhel", "fedora", "centos", "almalinux", "rocky", "suse", "opensuse"}:
        return "dnf", "os-release of %s (%s)" % (root, ids.strip())
    # An empty sandbox root has no os-release: an rpmdb or a dpkg status file decides.
    if os.path.exists(os.path.join(root, "var/lib/dpkg/status")):
        return "apt", "dpkg database in %s" % root
    return "dnf", "default (no os-release or dpkg database in %s)" % root
