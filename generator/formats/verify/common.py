"""What verifiers share: the connection settings read back from a file."""
from __future__ import annotations

from dataclasses import dataclass

from ...model import Device


@dataclass(frozen=True, slots=True)
class Connection:
    """One direction of an account as a client reads it from the file."""

    protocol: str        # imap | pop3 | smtp
    host: str
    port: int
    security: str        # ssl | starttls | none | tls (TLS on, mode chosen by the client from the port)
    login: str

    def tls(self) -> bool:
        return self.security != "none"

    def security_agrees(self, other: Connection) -> bool:
        if "tls" in (self.security, other.security):
            return self.tls() == other.tls()
        return self.security == other.security


@dataclass(frozen=True, slots=True)
class Settings:
    incoming: Connection
    outgoing: Connection
    email: str
    name: str


IMPLICIT_TLS = {"imap": 993, "pop3": 995, "smtp": 465}
PLAIN_PORTS = {"imap": frozenset({143}), "pop3": frozenset({110}), "smtp": frozenset({25, 587})}


def port_fits(protocol: str, port: int, security: str) -> str | None:
    """A problem when a well-known port contradicts the security mode."""
    if not 1 <= port <= 65535:
        return f"{protocol} port {port} is outside 1..65535"
    implicit = IMPLICIT_TLS[protocol]
    plain = PLAIN_PORTS[protocol]
    if security == "ssl" and port in plain:
        return f"{protocol} port {port} is a plain/STARTTLS port but implicit TLS is set"
    if security in ("starttls", "none") and port == implicit:
        return f"{protocol} port {port} is the implicit-TLS port but {security} is set"
    return None


def expect(problems: list[str], what: str, found: object, wanted: object) -> None:
    if found != wanted:
        problems.append(f"{what} is {found!r}, expected {wanted!r}")


def check_connection(problems: list[str], settings: Settings, device: Device) -> None:
    """Both directions: the port fits the security mode, and everything matches the resolved device.

    A well-known port with an unusual security (implicit TLS on 587, as some providers publish) is
    what the inventory asked for, with a warning; the port rule then only checks the range.
    """
    want_in, want_out = device.incoming, device.outgoing
    for endpoint, wanted in ((settings.incoming, want_in), (settings.outgoing, want_out)):
        usual = port_fits(wanted.protocol, wanted.port, wanted.security) is None
        problem = port_fits(endpoint.protocol, endpoint.port, endpoint.security if usual else "tls")
        if problem:
            problems.append(problem)
    login = device.user.login
    for what, found, protocol, wanted in (("incoming", settings.incoming, device.protocol, want_in),
                                          ("outgoing", settings.outgoing, "smtp", want_out)):
        # Field by field first (what a Connection's == compares): the Connection is made only for the message.
        if (found.protocol, found.host, found.port, found.security, found.login) != \
                (protocol, wanted.host, wanted.port, wanted.security, login):
            expect(problems, what, found, Connection(protocol, wanted.host, wanted.port, wanted.security, login))
