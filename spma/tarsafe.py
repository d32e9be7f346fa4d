"""The regular members of a tar archive, read as untrusted input: the advisory feeds of
`spma errata generate` and the inventory tarballs of `spma fleet` both come this way.

tarfile trusts its headers: a member whose size field is negative (GNU base-256, or a pax
`size`) makes it step back to an earlier header (for ever at -512), and an archive cut off in
transfer ends in EOFError or a ReadError (click would report the EOFError as an interrupt, exit
130). Either means the archive cannot be read whole, so it is refused whole: a feed with its
later part missing would make version sets without the later fixes.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from typing import Iterator, Optional, Tuple


class DamagedArchive(ValueError):
    """The archive cannot be read whole; the message names it and what is wrong."""


def regular_members(
    path: str, suffixes: Tuple[str, ...], max_size: int
) -> Iterator[Tuple[str, Optional[bytes]]]:
    """(name, bytes) of each regular member whose name ends with one of `suffixes`, in archive
    order; bytes None for one larger than `max_size` (not read). DamagedArchive as above."""
    try:
        with tarfile.open(path) as tar:
            for m in tar:
                if m.size < 0:
                    raise DamagedArchive("%s: member %s has a negative size in its header" % (path, m.name))
                if not (m.isfile() and m.name.endswith(suffixes)):
                    continue
                if m.size > max_size:
                    yield m.name, None
                    continue
                f = tar.extractfile(m)
                if f is None:
                    continue
                # its size, not max_size: a buffered read of n bytes allocates n bytes first
                data = f.read(m.size)
                if len(data) != m.size:
                    raise DamagedArchive("%s: member %s is cut off" % (path, m.name))
                yield m.name, data
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError) as e:
        raise DamagedArchive("%s: damaged or cut off (%s)" % (path, e or type(e).__name__)) from e
