"""Safe, distinct and predictable file names for users and devices.

A name is case-folded (users and devices that differ only in case are the same
one, and would collide on macOS and Windows file systems), then every character
outside ``a-z 0-9 . _ @ + -`` is percent-encoded as UTF-8 bytes, so the result
is plain ASCII and the mapping is one-to-one. A leading dot, a trailing dot and
Windows device names (CON, NUL, COM1 ...) get their first or last character
encoded as well, which keeps the mapping one-to-one.
"""
from __future__ import annotations

import re

from .errors import UnsafeName

_SAFE = re.compile(r"[a-z0-9._@+\-]")
_ALL_SAFE = re.compile(r"[a-z0-9._@+\-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
MAX_COMPONENT = 200


def _encode_char(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def safe_component(name: str) -> str:
    """One path component for ``name``; raises :class:`UnsafeName` when it cannot be made safe."""
    folded = name.casefold()
    if not folded:
        raise UnsafeName("empty name")
    if _ALL_SAFE.fullmatch(folded) and folded[0] != "." and folded[-1] != "." \
            and folded.split(".")[0] not in _RESERVED and len(folded) <= MAX_COMPONENT:
        return folded          # nothing to encode: the common case, decided by one match
    out = [ch if _SAFE.match(ch) else _encode_char(ch) for ch in folded]
    if out[0] == ".":
        out[0] = "%2E"
    if out[-1] == ".":
        out[-1] = "%2E"
    stem = folded.split(".")[0]
    if stem in _RESERVED:
        out[0] = _encode_char(folded[0])
    result = "".join(out)
    if len(result) > MAX_COMPONENT:
        raise UnsafeName(f"the file name would be {len(result)} characters long (limit {MAX_COMPONENT})")
    return result


def artifact_path(email: str, device: str, filename: str) -> str:
    """``<user>/<device>/<filename>``, relative to the output directory, with '/' separators."""
    return f"{safe_component(email)}/{safe_component(device)}/{filename}"


def safe_relative(relative: str) -> bool:
    """Is ``relative`` a plain path below the output folder (no root, drive, backslash, '.' or '..')?"""
    parts = relative.split("/")
    return not (relative.startswith("/") or "\\" in relative or ":" in parts[0]
                or "" in parts or "." in parts or ".." in parts)
