"""Independent verifiers: each re-reads a rendered artifact with its own parser.

No verifier imports a renderer: the vocabulary (socket types, PRF tags, Apple's
keys) is restated here from the reference documents, so a mistake in a renderer
table is caught instead of repeated. A verifier module provides
``verify(content, org, subject) -> list[str]`` (every rule the bytes break, empty when
sound and saying what the model says; ``subject`` is the renderer's, of the type its
scope fixes in ``subjects.py``) and, for device formats, ``read_settings(content) ->
Settings`` (the connection as the client reads it).
"""
from __future__ import annotations

from collections.abc import Mapping

from .common import Connection, Settings

DIRECTIONS = ("incoming", "outgoing")
COMPARED = ("protocol", "host", "port", "login")


def cross_check(readings: Mapping[str, Settings]) -> list[str]:
    """The artifacts of one device, as read back by their verifiers, must agree on host, port, security and login."""
    problems: list[str] = []
    names = sorted(readings)
    for a, b in zip(names, names[1:]):
        for direction in DIRECTIONS:
            ea, eb = getattr(readings[a], direction), getattr(readings[b], direction)
            for attr in COMPARED:
                if getattr(ea, attr) != getattr(eb, attr):
                    problems.append(f"{a} and {b} disagree on {direction} {attr}: "
                                    f"{getattr(ea, attr)!r} != {getattr(eb, attr)!r}")
            if not ea.security_agrees(eb):
                problems.append(f"{a} and {b} disagree on {direction} security: {ea.security!r} != {eb.security!r}")
    return problems


__all__ = ["cross_check", "Settings", "Connection"]
