"""The resolved, typed model: what renderers consume. Everything is frozen."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import Location

PROTOCOLS = ("imap", "pop3", "smtp")
SECURITY = ("ssl", "starttls", "none")
CLIENTS = ("thunderbird", "apple", "outlook")

# Standard ports by protocol and security (implicit TLS / STARTTLS or clear).
DEFAULT_PORTS = {
    ("imap", "ssl"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143,
    ("pop3", "ssl"): 995, ("pop3", "starttls"): 110, ("pop3", "none"): 110,
    ("smtp", "ssl"): 465, ("smtp", "starttls"): 587, ("smtp", "none"): 587,
}
# Ports that only make sense with implicit TLS, and ports that never carry it.
IMPLICIT_TLS_PORTS = {"imap": {993}, "pop3": {995}, "smtp": {465}}
PLAIN_START_PORTS = {"imap": {143}, "pop3": {110}, "smtp": {25, 587}}


@dataclass(frozen=True, slots=True)
class Organization:
    name: str
    identifier: str


@dataclass(frozen=True, slots=True)
class Server:
    protocol: str      # imap | pop3 | smtp
    host: str
    port: int
    security: str      # ssl | starttls | none
    auth: str          # password | cram-md5 | ntlm


@dataclass(frozen=True, slots=True)
class Pop3Policy:
    leave_on_server: bool
    delete_after_days: int | None   # None: never delete from the server


@dataclass(frozen=True, slots=True)
class User:
    email: str
    name: str
    login: str
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """Which layer set a value, and where."""

    layer: str                       # "profile desktop (built-in)", "inventory", "group sales", "user", "device x"
    location: "Location | None" = None   # where the value is written; None for built-in values and defaults

    def __str__(self) -> str:
        return f"{self.layer} ({self.location})" if self.location else self.layer


@dataclass(frozen=True, slots=True)
class Device:
    """One device of one user, with every setting resolved."""

    user: User
    name: str
    profile: str
    protocol: str                  # incoming protocol: imap | pop3
    incoming: Server
    outgoing: Server
    clients: tuple[str, ...]
    bcc_self: bool
    fetch_automatically: bool
    check_interval_minutes: int
    pop3: Pop3Policy | None        # set when protocol is pop3
    provenance: tuple[tuple[str, Source], ...]   # (setting path, source), sorted

    @property
    def key(self) -> str:
        return f"{self.user.email}/{self.name}"

    def resolved_settings(self) -> list[tuple[str, object, str]]:
        """(setting, final value, where it came from) for every setting that shapes this device."""
        values: dict[str, object] = {
            "protocol": self.protocol, "clients": list(self.clients), "bcc_self": self.bcc_self,
            "fetch_automatically": self.fetch_automatically, "check_interval_minutes": self.check_interval_minutes,
        }
        if self.pop3 is not None:
            values["pop3.leave_on_server"] = self.pop3.leave_on_server
            values["pop3.delete_after_days"] = self.pop3.delete_after_days
        for server in (self.incoming, self.outgoing):
            for attr in ("host", "port", "security", "auth"):
                values[f"servers.{server.protocol}.{attr}"] = getattr(server, attr)
        sources = dict(self.provenance)
        login_source = "user" if self.user.login != self.user.email else "default (the email address)"
        rows = [("user.login", self.user.login, login_source)]
        rows += [(key, value, str(sources.get(key, "default"))) for key, value in values.items()]
        return rows


@dataclass(frozen=True, slots=True)
class Finding:
    """A warning about the pattern or a client that cannot express part of it."""

    code: str
    message: str
    user: str | None = None
    device: str | None = None
    client: str | None = None

    def to_json(self) -> dict:
        return {"user": self.user, "device": self.device, "client": self.client,
                "code": self.code, "message": self.message}

    def sort_key(self) -> tuple:
        return (self.user or "", self.device or "", self.client or "", self.code, self.message)


@dataclass(frozen=True, slots=True)
class Inventory:
    """The whole resolved inventory."""

    organization: Organization
    devices: tuple[Device, ...]
    findings: tuple[Finding, ...]
    source: str
