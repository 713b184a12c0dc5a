"""What one file is made for, by scope: the targets of a format that is not per device.

A target is the subject handed to the format's renderer and verifier, plus its manifest
entry. Device artifacts are planned per device (``plan.py``), because the files of one
device are cross-checked against each other.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .formats import DOMAIN, ORGANIZATION, USER, Format
from .limit import Patterns, matches
from .model import Device, Finding, Inventory, User
from .paths import safe_component


@dataclass(frozen=True, slots=True)
class Target:
    """One file to make: the subject it is rendered from, its path in OUT, and what names it in the manifest."""

    subject: Any
    path: str
    names: dict[str, str]     # manifest fields: {"user": email} or {"domain": domain}


@dataclass(frozen=True, slots=True)
class UserDevices:
    """The subject of a per-user format: one user and all of the user's devices."""

    user: User
    devices: tuple[Device, ...]
    findings: tuple[Finding, ...]    # the user's warnings: the pattern's and what the device formats cannot do


@dataclass(frozen=True, slots=True)
class DomainDevices:
    """The subject of a per-domain format: a mail domain and the devices of its users."""

    domain: str
    devices: tuple[Device, ...]


def _by(inventory: Inventory, key: Callable[[Device], str]) -> dict[str, list[Device]]:
    grouped: dict[str, list[Device]] = defaultdict(list)
    for device in inventory.devices:
        grouped[key(device)].append(device)
    return grouped


def user_targets(inventory: Inventory, fmt: Format, patterns: Patterns,
                 findings: tuple[Finding, ...]) -> Iterator[Target]:
    by_user: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.user is not None:
            by_user[finding.user].append(finding)
    for email, devices in _by(inventory, lambda d: d.user.email).items():
        user = devices[0].user
        if matches(email, None, user.groups, patterns):
            yield Target(UserDevices(user, tuple(devices), tuple(by_user.get(email, ()))),
                         f"{safe_component(email)}/{fmt.filename}", {"user": email})


def domain_targets(inventory: Inventory, fmt: Format, patterns: Patterns,
                   findings: tuple[Finding, ...]) -> Iterator[Target]:
    if patterns:
        return   # made from every user of a domain: --limit leaves it as it is
    for domain, devices in sorted(_by(inventory, lambda d: d.user.domain).items()):
        path = fmt.filename.format(domain=safe_component(domain))
        yield Target(DomainDevices(domain, tuple(devices)), path, {"domain": domain})


def organization_targets(inventory: Inventory, fmt: Format, patterns: Patterns,
                         findings: tuple[Finding, ...]) -> Iterator[Target]:
    if not patterns:
        yield Target(inventory, fmt.filename, {})


TARGETS: dict[str, Callable[[Inventory, Format, Patterns, tuple[Finding, ...]], Iterator[Target]]] = {
    USER: user_targets,
    DOMAIN: domain_targets,
    ORGANIZATION: organization_targets,
}
