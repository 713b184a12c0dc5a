"""Independent verifiers: each re-reads a rendered artifact with its own parser.

No verifier imports a renderer: the vocabulary (socket types, PRF tags, Apple's
keys) is restated here from the reference documents, so a mistake in a renderer
table is caught instead of repeated.
"""
from __future__ import annotations

from ..model import Device, Organization
from .common import Endpoint, Settings, VerifyFailure
from . import apple, outlook, thunderbird

VERIFIERS = {"thunderbird": thunderbird, "apple": apple, "outlook": outlook}


def verify_artifact(client: str, content: bytes, org: Organization, device: Device) -> list[str]:
    """Every rule the artifact breaks; empty when it is sound and says what the model says."""
    try:
        return VERIFIERS[client].verify(content, org, device)
    except VerifyFailure as exc:
        return [str(exc)]
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the file cannot be read back: {type(exc).__name__}: {exc}"]


def read_settings(client: str, content: bytes) -> Settings:
    """The connection settings as the client would read them from the file."""
    return VERIFIERS[client].read_settings(content)


def cross_check(rendered: dict[str, bytes]) -> list[str]:
    """The artifacts of one device must agree on host, port, security and login."""
    problems: list[str] = []
    parsed = {}
    for client, content in sorted(rendered.items()):
        try:
            parsed[client] = read_settings(client, content)
        except VerifyFailure as exc:
            problems.append(f"{client}: {exc}")
    clients = sorted(parsed)
    for a, b in zip(clients, clients[1:]):
        for direction in ("incoming", "outgoing"):
            ea, eb = getattr(parsed[a], direction), getattr(parsed[b], direction)
            for attr in ("protocol", "host", "port", "login"):
                if getattr(ea, attr) != getattr(eb, attr):
                    problems.append(f"{a} and {b} disagree on {direction} {attr}: "
                                    f"{getattr(ea, attr)!r} != {getattr(eb, attr)!r}")
            if not ea.security_agrees(eb):
                problems.append(f"{a} and {b} disagree on {direction} security: {ea.security!r} != {eb.security!r}")
    return problems


__all__ = ["verify_artifact", "read_settings", "cross_check", "Settings", "Endpoint", "VerifyFailure"]
