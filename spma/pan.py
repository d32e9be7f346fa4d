"""Pan escaping as panc and CCM do it: every char outside [A-Za-z0-9] (and a leading digit)
becomes `_` + two lowercase hex digits; the empty string is `_`."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"_([0-9a-f]{2})")


class EscapeError(ValueError):
    pass


def escape(s: str) -> str:
    if s == "":
        return "_"
    out = []
    for i, c in enumerate(s):
        if (c.isascii() and c.isalnum()) and not (i == 0 and c.isdigit()):
            out.append(c)
        else:
            # one _xx per UTF-8 byte, so non-ASCII names survive a round trip
            out.extend("_%02x" % b for b in c.encode("utf-8", "surrogatepass"))
    return "".join(out)


def unescape(s: str) -> str:
    """Decode one level of Pan escaping; a lone `_` (the escaped empty string) gives ""."""
    if s == "_":
        return ""
    if s.isascii() and "_" not in s:
        return s  # nothing escaped (most package names): the loop below would give it back unchanged
    pos = 0
    raw = bytearray()
    while pos < len(s):
        c = s[pos]
        if c == "_":
            m = _ESCAPE.match(s, pos)
            if not m:
                raise EscapeError("bad Pan escape at position %d of %r" % (pos, s))
            raw.append(int(m.group(1), 16))
            pos = m.end()
        else:
            raw.extend(c.encode("utf-8"))
            pos += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EscapeError("escaped value %r is not valid UTF-8" % s) from e
