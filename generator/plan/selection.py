"""``--limit``: comma-separated globs matched against the email, ``email/device`` and ``@group``."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from ..errors import UsageError
from ..model import Device

Patterns = tuple[str, ...] | None
"""None: no limit, everything is in scope."""


def parse_limit(limit: str | None) -> Patterns:
    """None for no ``--limit``; an empty pattern (an unset shell variable, a lone comma) is a usage error."""
    if limit is None:
        return None
    patterns = tuple(p.strip() for p in limit.split(","))
    if not patterns or any(not p for p in patterns):
        raise UsageError(f"--limit {limit!r} has an empty pattern; give comma-separated globs on the email, "
                         "email/device or @group (an unset shell variable would select everyone)")
    return patterns


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
