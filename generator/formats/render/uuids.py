"""Stable identifiers derived from the input, so a re-issued profile replaces the old one."""
from __future__ import annotations

import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mailprofiles")


def stable_uuid(*parts: str) -> str:
    """An upper-case UUID derived (uuid5) from ``parts``; case-insensitive in the parts."""
    name = "\n".join(part.casefold() for part in parts)
    return str(uuid.uuid5(NAMESPACE, name)).upper()
