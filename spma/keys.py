"""Trust material: a repository's gpgkey must be OpenPGP *public* key material.

A gpgkey is imported into the root's rpmdb or handed to apt as a keyring, so whatever it holds
becomes trusted to sign packages. Refused before anything is imported: a private key (its
secret packets would be copied into the root), an arbitrary file (`/etc/shadow` named by a
file:// URL), or anything that is not a sequence of public-key packets.
"""

from __future__ import annotations

import base64
import binascii
from typing import List

from spma.errors import ProfileError

MAX_KEY_BYTES = 1024 * 1024
# RFC 4880 packet tags a transferable public key may carry
_PUBLIC, _PUBLIC_SUB, _SIGNATURE, _USERID, _USERATTR, _TRUST, _MARKER = 6, 14, 2, 13, 17, 12, 10
_ALLOWED = {_PUBLIC, _PUBLIC_SUB, _SIGNATURE, _USERID, _USERATTR, _TRUST, _MARKER}
_SECRET = {5, 7}
_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"


def check_public_key(data: bytes, where: str) -> None:
    """ProfileError (exit 3) naming `where` unless `data` is armored or binary public keys."""
    problem = _problem(data)
    if problem:
        raise ProfileError(
            "%s: %s" % (where, problem),
            hint="gpgkey must name the repository's public signing key (armored or binary); nothing was imported",
        )


def _problem(data: bytes) -> str:
    if len(data) > MAX_KEY_BYTES:
        return "larger than %d bytes, not a public key" % MAX_KEY_BYTES
    if not data.strip():
        return "empty, not a public key"
    if data.lstrip()[:1] == b"-":
        try:
            blocks = _dearmor(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as e:
            return (
                str(e)
                if isinstance(e, ValueError) and str(e).startswith("armored")
                else "not an armored public key"
            )
        for b in blocks:
            p = _packets(b)
            if p:
                return p
        return ""
    return _packets(data)


def _dearmor(text: str) -> List[bytes]:
    if "PRIVATE KEY BLOCK" in text or "SECRET KEY BLOCK" in text:
        raise ValueError("armored private key: only a public key may be trusted")
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        if line != _ARMOR_BEGIN:
            raise ValueError("armored data other than a PUBLIC KEY BLOCK: %r" % line[:60])
        while i < len(lines) and lines[i].strip() and ":" in lines[i]:
            i += 1  # armor headers (Version:, Comment:)
        body = []
        while i < len(lines) and lines[i].strip() != _ARMOR_END:
            body.append(lines[i].strip())
            i += 1
        if i >= len(lines):
            raise ValueError("armored public key block without its END line")
        i += 1
        b64 = "".join(x for x in body if x and not x.startswith("="))
        try:
            out.append(base64.b64decode(b64, validate=True))
        except (binascii.Error, ValueError) as e:
            raise ValueError("armored public key block with invalid base64") from e
    if not out:
        raise ValueError("no public key block")
    return out


def _packets(data: bytes) -> str:
    pos = 0
    first = True
    while pos < len(data):
        b = data[pos]
        if not b & 0x80:
            return "not OpenPGP key material"
        if b & 0x40:  # new format
            tag = b & 0x3F
            if pos + 1 >= len(data):
                return "truncated OpenPGP packet"
            o1 = data[pos + 1]
            if o1 < 192:
                length, hdr = o1, 2
            elif o1 < 224:
                if pos + 2 >= len(data):
                    return "truncated OpenPGP packet"
                length, hdr = ((o1 - 192) << 8) + data[pos + 2] + 192, 3
            elif o1 == 255:
                length, hdr = int.from_bytes(data[pos + 2 : pos + 6], "big"), 6
            else:
                return "OpenPGP packet with a partial length: not a key"
        else:
            tag = (b >> 2) & 0x0F
            ltype = b & 3
            if ltype == 3:
                return "OpenPGP packet of indeterminate length: not a key"
            n = (1, 2, 4)[ltype]
            length, hdr = int.from_bytes(data[pos + 1 : pos + 1 + n], "big"), 1 + n
        if tag in _SECRET:
            return "a private key: only a public key may be trusted"
        if tag not in _ALLOWED or (first and tag != _PUBLIC):
            return "not a public key (OpenPGP packet type %d)" % tag
        first = False
        pos += hdr + length
        if pos > len(data):
            return "truncated OpenPGP packet"
    return ""


def fetch_checked(root: str, kdir: str, repo: str, urls: List[str]) -> List[str]:
    """Fetch each gpgkey of repository `repo`, check it is public key material, and keep it in
    `kdir` (spma's state, inside `root`): the package manager then reads exactly what was
    checked. Host paths of the copies (.asc armored, .gpg binary, as apt's signed-by wants)."""
    import os

    from spma import rootfs
    from spma.errors import RepoError
    from spma.profile import read_source

    out = []
    for i, u in enumerate(urls):
        where = "repository %s: gpgkey %s" % (repo, u)
        if u == "-" or "://" not in u:
            raise ProfileError("%s: a gpgkey must be a file://, http:// or https:// URL" % where)
        try:
            data = read_source(u)
        except ProfileError as e:
            raise RepoError("%s: cannot read it: %s" % (where, e.message)) from e
        check_public_key(data, where)
        ext = ".asc" if data.lstrip().startswith(b"-----BEGIN PGP") else ".gpg"
        out.append(rootfs.write_file(root, os.path.join(kdir, "%s-%d%s" % (repo, i, ext)), data))
    return out
