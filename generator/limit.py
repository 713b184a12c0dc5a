"""``--limit``: comma-separated globs matched against the email, ``email/device`` and ``@group``."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from .model import Device

Patterns = tuple[str, ...] | None
"""None: no limit, everything is in scope."""


def parse_limit(limit: str | None) -> Patterns:
    if not limit:
        return None
    patterns = tuple(p.strip() for p in limit.split(",") if p.strip())
    return patterns or None


def matches(email: str, device: str | None, groups: Iterable[str], patterns: Patterns) -> bool:
    """Does a user (or one device of the user, when ``device`` is given) fall under ``patterns``?"""
    if not patterns:
        return True
    email = email.casefold()
    names = [email] + [f"@{g.casefold()}" for g in groups]
    if device is not None:
        names.append(f"{email}/{device.casefold()}")
    return any(fnmatch.fnmatchcase(name, pattern.casefold()) for pattern in patterns for name in names)


def matches_device(device: Device, patterns: Patterns) -> bool:
    return matches(device.user.email, device.name, device.user.groups, patterns)
