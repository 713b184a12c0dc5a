"""The resolved, typed model: what renderers consume. Everything is frozen."""
from __future__ import annotations

import dataclasses
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from .codes import acknowledge
from .errors import Location
from .settings import INDEX, SETTINGS

_Frozen = TypeVar("_Frozen")


def quick_init(cls: type[_Frozen]) -> type[_Frozen]:
    """Give a frozen dataclass with slots an ``__init__`` of the same parameters and defaults that sets each field
    through its slot's own setter (made for the class, as ``dataclasses`` makes its own): the dataclass's sets each
    one through ``object.__setattr__``, several times slower, for objects made a few times per file of a run.
    The instances are the same: frozen, compared and hashed by their fields (tests/test_core_records.py)."""
    fields = dataclasses.fields(cls)            # type: ignore[arg-type]
    if any(not f.init or f.default_factory is not dataclasses.MISSING for f in fields) \
            or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: every field must be set by __init__, with a plain default or none")
    names = [f.name for f in fields]
    space: dict[str, Any] = {f"_set_{name}": getattr(cls, name).__set__ for name in names}
    space.update({f"_default_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING})
    params = ", ".join(f.name if f.default is dataclasses.MISSING else f"{f.name}=_default_{f.name}" for f in fields)
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names)
    exec(f"def __init__(self, {params}):\n{body}", space)    # noqa: S102 - the class's own field names only
    init = space["__init__"]
    init.__qualname__, init.__module__ = f"{cls.__qualname__}.__init__", cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy keeps the dataclass's signature
    return cls


# Standard ports by protocol and security (implicit TLS / STARTTLS or clear).
DEFAULT_PORTS = {
    ("imap", "ssl"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143,
    ("pop3", "ssl"): 995, ("pop3", "starttls"): 110, ("pop3", "none"): 110,
    ("smtp", "ssl"): 465, ("smtp", "starttls"): 587, ("smtp", "none"): 587,
}
# Ports that only make sense with implicit TLS, and ports that never carry it.
IMPLICIT_TLS_PORTS = {"imap": {993}, "pop3": {995}, "smtp": {465}}
PLAIN_START_PORTS = {"imap": {143}, "pop3": {110}, "smtp": {25, 587}}


def usual_port(server: Server) -> bool:
    """Does the port fit its security the usual way (implicit TLS on 993/995/465, STARTTLS or clear elsewhere)?"""
    if server.security == "ssl":
        return server.port not in PLAIN_START_PORTS[server.protocol]
    return server.port not in IMPLICIT_TLS_PORTS[server.protocol]


SERVER_KEYS = ("host", "port", "security", "auth")


@dataclass(frozen=True, slots=True)
class Organization:
    name: str
    identifier: str
    language: str = "en"      # the handouts' language unless a user sets one
    group_handouts: bool = False   # also one file per group with all its users' handouts (handouts/<group>.html)


@dataclass(frozen=True, slots=True)
class Site:
    """What every renderer gets besides its subject: the organization, the site's templates, the signer."""

    organization: Organization
    templates_dir: str | None = None    # searched before the built-in templates
    signer: Any = None                  # a generator.signing.Signer: Apple profiles are signed with it
    template_roots: tuple[str, ...] = ()  # where the site's templates (and links in them) may lead; () its folder


@dataclass(frozen=True, slots=True)
class Server:
    protocol: str      # imap | pop3 | smtp
    host: str
    port: int
    security: str      # ssl | starttls | none
    auth: str          # password | cram-md5 | ntlm | oauth2


@dataclass(frozen=True, slots=True)
class OAuth2:
    """The organization's own identity provider (an ``oauth2:`` block), for OAuth2 servers no client knows.

    Known providers (Microsoft 365, Google) are found by the server's host name: see ``generator/oauth2.py``.
    """

    issuer: str                     # the provider's host name, as Thunderbird's ISPDB files name it
    authorization_endpoint: str     # https URL
    token_endpoint: str             # https URL
    client_id: str                  # the mail client's registration at the provider
    scopes: str                     # space-separated


@dataclass(frozen=True, slots=True)
class Pop3Policy:
    leave_on_server: bool
    delete_after_days: int | None   # None: never delete from the server


@quick_init     # one for each user of a roster (a million for ``validate``)
@dataclass(frozen=True, slots=True)
class User:
    email: str
    name: str
    login: str
    groups: tuple[str, ...]
    language: str = "en"

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].casefold()


@dataclass(frozen=True, slots=True)
class Source:
    """Which layer set a value, and where."""

    layer: str                       # "profile desktop (built-in)", "inventory", "group sales", "user", "device x"
    location: Location | None = None   # where the value is written; None for built-in values and defaults

    def __str__(self) -> str:
        return f"{self.layer} ({self.location})" if self.location else self.layer


Provenance = tuple[tuple[str, Source], ...]


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """What a device is besides its user and name: every device resolved from the same layers shares one."""

    profile: str
    incoming: Server
    outgoing: Server
    values: tuple[Any, ...]
    provenance: Provenance = field(repr=False)   # (setting path, source), sorted; not an input of any file
    oauth2: OAuth2 | None = None    # the own identity provider, when a server signs in with OAuth2 at an unknown host


@dataclass(frozen=True, slots=True, repr=False)
class Device:
    """One device of one user, with every setting resolved.

    ``values`` holds one value per row of the settings table, in table order (None where a
    setting does not apply). Devices resolved from the same layers share their :class:`DeviceKind`
    (profile, servers, values, provenance, identity provider): a device is its user, its name and its
    kind, three references, for a roster of a million users.
    """

    user: User
    name: str
    kind: DeviceKind

    @property
    def profile(self) -> str:
        return self.kind.profile

    @property
    def incoming(self) -> Server:
        return self.kind.incoming

    @property
    def outgoing(self) -> Server:
        return self.kind.outgoing

    @property
    def values(self) -> tuple[Any, ...]:
        return self.kind.values

    @property
    def provenance(self) -> Provenance:
        """(setting path, source), sorted; not an input of any file."""
        return self.kind.provenance

    @property
    def oauth2(self) -> OAuth2 | None:
        """The own identity provider, when a server signs in with OAuth2 at an unknown host."""
        return self.kind.oauth2

    def __repr__(self) -> str:     # as when every field was the device's own (a fleet file's fingerprint shows it)
        kind = self.kind
        return (f"Device(user={self.user!r}, name={self.name!r}, profile={kind.profile!r}, "
                f"incoming={kind.incoming!r}, outgoing={kind.outgoing!r}, values={kind.values!r}, "
                f"oauth2={kind.oauth2!r})")

    def setting(self, name: str) -> Any:
        return self.kind.values[INDEX[name]]

    @property
    def key(self) -> str:
        return f"{self.user.email}/{self.name}"

    @property
    def protocol(self) -> str:
        return str(self.setting("protocol"))

    @property
    def clients(self) -> tuple[str, ...]:
        return tuple(self.setting("clients"))

    @property
    def bcc_self(self) -> bool:
        return bool(self.setting("bcc_self"))

    @property
    def fetch_automatically(self) -> bool:
        return bool(self.setting("fetch_automatically"))

    @property
    def check_interval_minutes(self) -> int:
        return int(self.setting("check_interval_minutes"))

    @property
    def signature(self) -> str | None:
        value = self.setting("signature")
        return None if value is None else str(value)

    @property
    def pop3(self) -> Pop3Policy | None:
        """The POP3 retention policy; None for an IMAP device."""
        if self.protocol != "pop3":
            return None
        return Pop3Policy(bool(self.setting("pop3.leave_on_server")), self.setting("pop3.delete_after_days"))

    def resolved_settings(self) -> list[tuple[str, object, str]]:
        """(setting, final value, where it came from) for every setting that shapes this device."""
        sources = dict(self.provenance)
        login_source = "user" if self.user.login != self.user.email else "default (the email address)"
        rows: list[tuple[str, object, str]] = [("user.login", self.user.login, login_source)]
        for setting, value in zip(SETTINGS, self.values):
            if setting.only_for is not None and self.setting(setting.only_for[0]) != setting.only_for[1]:
                continue
            shown = list(value) if isinstance(value, tuple) else value
            rows.append((setting.name, shown, str(sources.get(setting.name, "default"))))
        for server in (self.incoming, self.outgoing):
            for attr in SERVER_KEYS:
                key = f"servers.{server.protocol}.{attr}"
                rows.append((key, getattr(server, attr), str(sources.get(key, "default"))))
        return rows


Layout = tuple[tuple[str, DeviceKind], ...]
"""A user's devices but the user: each device's name and kind."""


class Roster(Sequence[Device]):
    """Devices held compactly: each user once, with the layout of the user's devices (users whose devices are
    resolved alike share one), and a :class:`Device` made each time one is read. What ``validate`` keeps of a
    roster of a million users; ``generate`` keeps the devices themselves (it tells them apart by identity)."""

    __slots__ = ("users", "layouts", "ends", "_shared")

    def __init__(self) -> None:
        self.users: list[User] = []
        self.layouts: list[Layout] = []
        self.ends = array("q")                        # the number of devices up to and including each user's
        self._shared: dict[tuple[tuple[str, int], ...], Layout] = {}

    def add(self, user: User, devices: Iterable[Device]) -> None:
        """A user and the user's devices (which are not kept)."""
        layout = tuple((device.name, device.kind) for device in devices)
        if not layout:
            return      # a user is among the devices through them
        key = tuple((name, id(kind)) for name, kind in layout)     # the kinds stay alive in the layout shared
        if len(self._shared) >= 4096 and key not in self._shared:
            self._shared.clear()        # a roster whose users are all different shares nothing: remember a few
        self.users.append(user)
        self.layouts.append(self._shared.setdefault(key, layout))
        self.ends.append((self.ends[-1] if self.ends else 0) + len(layout))

    def add_layout(self, user: User, layout: Layout) -> None:
        """A user and the layout of the user's devices (one that other users share)."""
        if layout:
            self.users.append(user)
            self.layouts.append(layout)
            self.ends.append((self.ends[-1] if self.ends else 0) + len(layout))

    def by_user(self) -> Iterator[tuple[User, Layout]]:
        return zip(self.users, self.layouts)

    def part(self, users: Iterable[int]) -> Roster:
        """The devices of some users (by their place here), in that order."""
        part = Roster()
        for index in users:
            part.users.append(self.users[index])
            part.layouts.append(self.layouts[index])
            part.ends.append((part.ends[-1] if part.ends else 0) + len(self.layouts[index]))
        return part

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __iter__(self) -> Iterator[Device]:
        for user, layout in zip(self.users, self.layouts):
            for name, kind in layout:
                yield Device(user, name, kind)

    @overload
    def __getitem__(self, index: int) -> Device: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Device, ...]: ...

    def __getitem__(self, index: int | slice) -> Device | tuple[Device, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("device index out of range")
        at = bisect_right(self.ends, index)
        name, kind = self.layouts[at][index - (self.ends[at - 1] if at else 0)]
        return Device(self.users[at], name, kind)


@quick_init     # several for each user of a roster
@dataclass(frozen=True, slots=True)
class Finding:
    """A warning about the pattern or a client that cannot express part of it."""

    code: str
    message: str
    user: str | None = None
    device: str | None = None
    client: str | None = None
    acknowledged: str | None = None     # the reason the inventory gives for accepting it (``acknowledge:``)

    def to_json(self) -> dict[str, str | None]:
        return {"user": self.user, "device": self.device, "client": self.client,
                "code": self.code, "message": self.message, "acknowledged": self.acknowledged}

    def with_reason(self, reason: str) -> Finding:
        return Finding(self.code, self.message, self.user, self.device, self.client, reason)

    def sort_key(self) -> tuple[str, str, str, str, str]:
        return (self.user or "", self.device or "", self.client or "", self.code, self.message)


@dataclass(frozen=True, slots=True)
class DeviceFile:
    """One of a device's files as its user's handout lists it (from the format registry)."""

    format: str         # the client it is for (a value of ``clients``)
    name: str           # the file's name in the device's folder
    install: str        # how to install it, in the user's language (``code`` in backquotes)
    made: bool          # False: a limitation means the file is not made; the handout says to set up by hand
    format_name: str = ""   # the format that makes it, where the client has more than one (default: the client)


Acknowledged = tuple[tuple[str, str], ...]
"""(warning code, reason) pairs of an ``acknowledge:`` block, in the order written."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """The whole resolved inventory."""

    organization: Organization
    devices: tuple[Device, ...] | Roster      # a Roster from ``validate``, which keeps no Device
    findings: tuple[Finding, ...]
    source: str
    templates_dir: str | None = None
    template_roots: tuple[str, ...] = ()    # the inventory's folder and every allowed root
    acknowledge: Acknowledged = ()          # (code, reason) the organization accepts
    group_acknowledge: tuple[tuple[str, Acknowledged], ...] = ()    # the same, per group

    def acknowledged(self, findings: Iterable[Finding], groups_of: Mapping[str, tuple[str, ...]] | None = None
                     ) -> tuple[Finding, ...]:
        """The findings with the reasons the inventory acknowledges them for; ``groups_of``: the groups of a
        finding's ``user`` (default: the users' groups)."""
        if groups_of is None:
            groups_of = {d.user.email: d.user.groups for d in self.devices} if self.group_acknowledge else {}
        return acknowledge(findings, dict(self.acknowledge), {g: dict(a) for g, a in self.group_acknowledge},
                           groups_of)

    @property
    def site(self) -> Site:
        return Site(self.organization, self.templates_dir, template_roots=self.template_roots)
