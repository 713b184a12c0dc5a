"""Stable identifiers derived from the input, so a re-issued profile replaces the old one."""
from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mailprofiles")
_NAMESPACE_BYTES = NAMESPACE.bytes


def stable_uuid(*parts: str) -> str:
    """An upper-case UUID derived (uuid5) from ``parts``; case-insensitive in the parts.

    What ``str(uuid.uuid5(NAMESPACE, name)).upper()`` gives (RFC 4122 4.3: the SHA-1 of namespace and name, its
    first 16 bytes with version 5 and the RFC's variant), without building a ``UUID`` object for it.
    """
    name = "\n".join(part.casefold() for part in parts)
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50      # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80      # variant 10: RFC 4122
    text = digest.hex().upper()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
