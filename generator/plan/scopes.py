"""What one file is made for, by scope: the targets of a format that is not per device.

A target is the subject handed to the format's renderer and verifier (its type by scope:
``formats/subjects.py``), plus its manifest entry. Device artifacts are planned per device (``plan.py``), because the files of one
device are cross-checked against each other.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from ..formats.registry import DOMAIN, GROUP, ORGANIZATION, USER, Format, Scope, of_client
from ..formats.subjects import DomainDevices, GroupUsers, UserDevices
from ..inventory.checks import NO_GROUP
from ..model import Device, DeviceFile, Finding, Inventory, Roster, User
from ..paths import safe_component
from .selection import Patterns, matches


@dataclass(frozen=True, slots=True)
class Target:
    """One file to make: the subject it is rendered from, its path in OUT, and what names it in the manifest."""

    subject: Any
    path: str
    names: dict[str, str]     # manifest fields: {"user": email} or {"domain": domain}


def handout_files(device: Device, findings: tuple[Finding, ...]) -> tuple[DeviceFile, ...]:
    """The device's files as its user's handout lists them (the formats its clients ask for, each made or not,
    from the findings), in the order of its clients and each client's formats, with the install text in the
    user's language."""
    codes = {f.code for f in findings if f.device == device.name}
    files = []
    for client in device.clients:
        for fmt in of_client(client):
            name = fmt.file_name(device)
            text = fmt.install(device)[device.user.language].replace("{file}", name)
            files.append(DeviceFile(client, name, text, not codes & fmt.skips, fmt.name))
    return tuple(files)


def user_devices(user: User, devices: tuple[Device, ...], findings: tuple[Finding, ...]) -> UserDevices:
    """The subject of a per-user format; ``findings``: the user's."""
    return UserDevices(user, devices, findings, tuple(handout_files(device, findings) for device in devices))


def _by_domain(inventory: Inventory) -> dict[str, Sequence[Device]]:
    every = inventory.devices
    if isinstance(every, Roster):
        users: dict[str, list[int]] = defaultdict(list)
        for index, someone in enumerate(every.users):
            users[someone.domain].append(index)
        return {domain: every.part(indexes) for domain, indexes in users.items()}
    grouped: dict[str, list[Device]] = defaultdict(list)
    user: User | None = None
    devices: list[Device] = []
    for device in every:
        if device.user is not user:       # a user's devices are listed together: one domain
            user = device.user
            devices = grouped[user.domain]
        devices.append(device)
    return {domain: tuple(devices) for domain, devices in grouped.items()}


def users_of(inventory: Inventory) -> Iterator[tuple[User, tuple[Device, ...]]]:
    """Each user with all of the user's devices, in the inventory's order (loading adds a user's devices
    together, so they are next to each other)."""
    every = inventory.devices
    if isinstance(every, Roster):
        for user, layout in every.by_user():
            yield user, tuple(Device(user, name, kind) for name, kind in layout)
        return
    for _, run in groupby(every, key=lambda device: device.user.email):
        devices = tuple(run)
        yield devices[0].user, devices


def _user_of(finding: Finding) -> str:
    return finding.user or ""


def findings_of(findings: tuple[Finding, ...], email: str) -> tuple[Finding, ...]:
    """One user's findings, cut out of ``findings`` sorted by :meth:`Finding.sort_key` (user first)."""
    return findings[bisect_left(findings, email, key=_user_of):bisect_right(findings, email, key=_user_of)]


def user_target(fmt: Format[UserDevices], user: User, devices: tuple[Device, ...], findings: tuple[Finding, ...]) -> Target:
    """The file of a per-user format for one user; ``findings``: every finding, sorted."""
    return Target(user_devices(user, devices, findings_of(findings, user.email)),
                  f"{safe_component(user.email)}/{fmt.filename}", {"user": user.email})


def user_targets(inventory: Inventory, fmt: Format[UserDevices], patterns: Patterns,
                 findings: tuple[Finding, ...]) -> Iterator[Target]:
    for user, devices in users_of(inventory):
        if matches(user.email, None, user.groups, patterns):
            yield user_target(fmt, user, devices, findings)


def domain_targets(inventory: Inventory, fmt: Format[DomainDevices], patterns: Patterns,
                   findings: tuple[Finding, ...]) -> Iterator[Target]:
    if patterns:
        return   # made from every user of a domain: --limit leaves it as it is
    for domain, devices in sorted(_by_domain(inventory).items()):
        path = fmt.filename.format(domain=safe_component(domain))
        yield Target(DomainDevices(domain, devices), path, {"domain": domain})


def organization_targets(inventory: Inventory, fmt: Format[Inventory], patterns: Patterns,
                         findings: tuple[Finding, ...]) -> Iterator[Target]:
    if not patterns:
        yield Target(inventory, fmt.filename, {})


def group_targets(inventory: Inventory, fmt: Format[GroupUsers], patterns: Patterns,
                  findings: tuple[Finding, ...]) -> Iterator[Target]:
    """One file per group with users (users in no group: ``_no-group``), when the organization asks for them
    (``group_handouts``); a user in two groups is in both files."""
    if patterns or not inventory.organization.group_handouts:
        return   # made from every user of a group: --limit leaves it as it is
    members: dict[str, list[UserDevices]] = defaultdict(list)
    for user, devices in users_of(inventory):
        subject = user_devices(user, devices, findings_of(findings, user.email))
        for group in user.groups or (NO_GROUP,):
            members[group].append(subject)
    for group, users in sorted(members.items()):
        yield Target(GroupUsers(group, tuple(users), inventory.organization.language),
                     fmt.filename.format(group=safe_component(group)), {"group": group})


TARGETS: dict[Scope[Any], Callable[[Inventory, Format[Any], Patterns, tuple[Finding, ...]], Iterator[Target]]] = {
    USER: user_targets,
    DOMAIN: domain_targets,
    ORGANIZATION: organization_targets,
    GROUP: group_targets,
}


__all__ = ["TARGETS", "DomainDevices", "GroupUsers", "Target", "UserDevices", "domain_targets", "findings_of",
           "group_targets",
           "handout_files", "organization_targets", "user_devices", "user_target", "user_targets", "users_of"]
