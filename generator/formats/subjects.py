"""What a format's file is made from, by scope: the subject its renderer, verifier, limitations, file name
and templates are handed.

- ``DEVICE``: a ``Device`` (one file per device and client);
- ``USER``: :class:`UserDevices`, a user with all of the user's devices;
- ``DOMAIN``: :class:`DomainDevices`, a mail domain with the devices of its users;
- ``ORGANIZATION``: the whole ``Inventory``;
- ``FLEET``: :class:`FleetSet`, a group and device profile (``mailprofiles fleet``);
- ``GROUP``: :class:`GroupUsers`, a group of users with all of their devices.

Each scope below is its name from ``vocabulary.py`` (a plain string to everything that reads it) that
also tells the type checker its subject: ``Format("x", DEVICE, ...)`` is a ``Format[Device]``, so an
entry whose functions take another subject is a type error. The renderers and verifiers import their
subject types from here (``plan/scopes.py`` makes them, and imports the registry).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from ..model import Device, DeviceFile, Finding, Inventory, User
from . import vocabulary

S = TypeVar("S")


class Scope(str, Generic[S]):
    """A scope's name, typed with the subject its formats take."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UserDevices:
    """The subject of a per-user format: one user and all of the user's devices."""

    user: User
    devices: tuple[Device, ...]
    findings: tuple[Finding, ...]    # the user's warnings: the pattern's and what the device formats cannot do
    files: tuple[tuple[DeviceFile, ...], ...] = ()   # per device: its files, from the format registry


@dataclass(frozen=True, slots=True)
class DomainDevices:
    """The subject of a per-domain format: a mail domain and the devices of its users."""

    domain: str
    devices: Sequence[Device]        # a tuple, or from ``validate`` a Roster (model.py)


@dataclass(frozen=True, slots=True)
class GroupUsers:
    """The subject of a per-group format: a group (``_no-group``: the users in none) and its users, each with
    all of the user's devices, in the inventory's order."""

    group: str
    users: tuple[UserDevices, ...]
    language: str                    # the organization's: the file's own language


@dataclass(frozen=True, slots=True)
class FleetSet:
    """One group and device profile, resolved into a device whose user is made of the MDM's variables."""

    group: str
    device: Device
    address_pattern: str | None      # Thunderbird AutoConfig: "{login}@example.com"
    login_rule: str                  # "address" or "local-part"


DEVICE: Final[Scope[Device]] = Scope(vocabulary.DEVICE)
USER: Final[Scope[UserDevices]] = Scope(vocabulary.USER)
FLEET: Final[Scope[FleetSet]] = Scope(vocabulary.FLEET)
DOMAIN: Final[Scope[DomainDevices]] = Scope(vocabulary.DOMAIN)
ORGANIZATION: Final[Scope[Inventory]] = Scope(vocabulary.ORGANIZATION)
GROUP: Final[Scope[GroupUsers]] = Scope(vocabulary.GROUP)
