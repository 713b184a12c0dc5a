"""``check-servers``: do the inventory's servers answer as the generated files will expect?

For every distinct (protocol, host, port, security): connect with a timeout, do implicit TLS
or STARTTLS as configured, verify the certificate chain and the host name, read the greeting
and the capabilities, check that a password mechanism is offered after TLS, and optionally
log in. The result is a list of rows; nothing is printed here.
"""
from __future__ import annotations

import imaplib
import math
import poplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .bounded import Overrun, run_bounded
from .errors import InputFileError, UsageError
from .model import Inventory

OK, WARNING, FAILED = "ok", "warning", "failed"
MAX_LINE = 64 * 1024   # bytes in one IMAP response line


@dataclass(frozen=True)
class Endpoint:
    protocol: str
    host: str
    port: int
    security: str


@dataclass(frozen=True)
class ServerCheck:
    endpoint: Endpoint
    status: str             # ok | warning | failed
    reason: str
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        e = self.endpoint
        return {"protocol": e.protocol, "host": e.host, "port": e.port, "security": e.security,
                "status": self.status, "reason": self.reason, "details": list(self.details)}


class _Failed(Exception):
    pass


def endpoints(inventory: Inventory) -> list[Endpoint]:
    """Every distinct server the inventory's devices use, in a stable order."""
    found = set()
    for device in inventory.devices:
        for server in (device.incoming, device.outgoing):
            found.add(Endpoint(server.protocol, server.host, server.port, server.security))
    return sorted(found, key=lambda e: (e.protocol, e.host, e.port, e.security))


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Chain and host-name verification, against the system store or ``ca_file``."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InputFileError(f"--ca-file {ca_file}: not a readable file of PEM certificates "
                             f"({getattr(exc, 'strerror', None) or exc})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _explain(exc: BaseException, endpoint: Endpoint, timeout: float, stage: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or str(exc)
        if "mismatch" in message.lower():
            return f"the certificate does not name {endpoint.host} ({message})"
        if "expired" in message.lower():
            return f"the certificate has expired ({message})"
        return f"the certificate is not trusted ({message}); pass --ca-file if a private CA signed it"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if reason in ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE") or \
                "wrong version" in str(exc).lower():
            return (f"TLS handshake failed ({reason}): the port does not speak implicit TLS; "
                    "is it a STARTTLS or plain port (security: starttls)?")
        return f"TLS handshake failed: {reason}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused: nothing listens on port {endpoint.port}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        if stage == "greeting" and endpoint.security != "ssl":
            return (f"no greeting within {timeout:g} s; a server that waits silently usually expects "
                    "implicit TLS (security: ssl)")
        return f"no answer within {timeout:g} s during {stage}"
    if isinstance(exc, socket.gaierror):
        return f"host name {endpoint.host} does not resolve ({exc.strerror})"
    if isinstance(exc, OSError):
        return f"network error during {stage}: {exc.strerror or exc}"
    return f"{stage} failed: {exc}"


def check_endpoint(endpoint: Endpoint, *, context: ssl.SSLContext, timeout: float = 10.0,
                   login: str | None = None, password: str | None = None) -> ServerCheck:
    stage = "connect"
    details: list[str] = []
    warnings: list[str] = []
    try:
        stage = "greeting"
        sock, greeting = _read_greeting(endpoint, context, timeout)
        sock.close()
        problem = _greeting_problem(endpoint.protocol, greeting)
        if problem:
            raise _Failed(problem)
        details.append(f"greeting: {greeting.strip()[:80].decode('utf-8', 'replace')}")
        stage = "the session"
        _check_session(endpoint, context, timeout, login, password, details)
    except _Failed as exc:
        return ServerCheck(endpoint, FAILED, str(exc), tuple(details))
    except (OSError, ssl.SSLError) as exc:
        return ServerCheck(endpoint, FAILED, _explain(exc, endpoint, timeout, stage),
                           tuple(details))
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException, EOFError) as exc:
        text = exc.args[0] if exc.args else exc
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return ServerCheck(endpoint, FAILED, f"protocol error: {text}", tuple(details))
    if endpoint.security == "none":
        warnings.append("the connection is not encrypted")
    if warnings:
        return ServerCheck(endpoint, WARNING, "; ".join(warnings), tuple(details))
    return ServerCheck(endpoint, OK, "answers as configured" + (", login ok" if login else ""), tuple(details))


def _greeting_problem(protocol: str, greeting: bytes) -> str | None:
    prefix = {"imap": b"* OK", "pop3": b"+OK", "smtp": b"220"}[protocol]
    if not greeting.startswith(prefix):
        return (f"unexpected greeting {greeting[:60]!r}: this is not a {protocol.upper()} server "
                f"(wrong port?)")
    return None


def _read_greeting(endpoint: Endpoint, context: ssl.SSLContext, timeout: float) -> tuple[socket.socket, bytes]:
    """Open the connection (TLS first when implicit) and read the first line."""
    raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=endpoint.host) if endpoint.security == "ssl" else raw
        data = b""
        while not data.endswith(b"\n") and len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return sock, data
    except BaseException:
        raw.close()
        raise


@dataclass(frozen=True, slots=True)
class _Dialect:
    """How one protocol opens a session, shows its capabilities, offers and does a password login, and closes."""

    plain: Callable[..., Any]                                  # the stdlib client class, and its implicit-TLS twin
    secure: Callable[..., Any]
    context_keyword: str                                       # how that twin takes the SSL context
    starttls: Callable[[Any, ssl.SSLContext], None]             # raises _Failed when STARTTLS is not offered
    describe: Callable[[Any], str]                            # the capabilities, for the details
    no_password_login: Callable[[Any], str | None]            # why no password login is offered, or None
    login: Callable[[Any, str, str], None]                    # raises _Failed when refused
    close: Callable[[Any], None]
    errors: tuple[type[BaseException], ...]


def _imap_starttls(conn: imaplib.IMAP4, context: ssl.SSLContext) -> None:
    if "STARTTLS" not in conn.capabilities:
        raise _Failed("STARTTLS is not offered")
    conn.starttls(context)


def _imap_login(conn: imaplib.IMAP4, login: str, password: str) -> None:
    try:
        conn.login(login, password)
    except imaplib.IMAP4.error as exc:
        raise _Failed(f"login as {login} refused: {exc}") from None


def _pop3_starttls(conn: poplib.POP3, context: ssl.SSLContext) -> None:
    if "STLS" not in conn.capa():
        raise _Failed("STARTTLS (STLS) is not offered")
    conn.stls(context)


def _pop3_no_login(conn: poplib.POP3) -> str | None:
    caps = conn.capa()
    if "USER" not in caps and not ({"PLAIN", "LOGIN"} & set(caps.get("SASL", []))):
        return "no password login (USER or SASL PLAIN/LOGIN) is offered after TLS"
    return None


def _pop3_login(conn: poplib.POP3, login: str, password: str) -> None:
    try:
        conn.user(login)
        conn.pass_(password)
    except poplib.error_proto as exc:
        raise _Failed(f"login as {login} refused: {exc}") from None


def _smtp_starttls(conn: smtplib.SMTP, context: ssl.SSLContext) -> None:
    conn.ehlo()
    if not conn.has_extn("starttls"):
        raise _Failed("STARTTLS is not offered")
    conn.starttls(context=context)


def _smtp_auth(conn: smtplib.SMTP) -> list[str]:
    if not conn.does_esmtp:
        conn.ehlo()
    return conn.esmtp_features.get("auth", "").upper().split()


def _smtp_login(conn: smtplib.SMTP, login: str, password: str) -> None:
    try:
        conn.login(login, password)
    except smtplib.SMTPAuthenticationError as exc:
        raise _Failed(f"login as {login} refused: {exc.smtp_code} {exc.smtp_error!r}") from None


DIALECTS = {
    "imap": _Dialect(imaplib.IMAP4, imaplib.IMAP4_SSL, "ssl_context", _imap_starttls,
                     lambda c: "capabilities: " + " ".join(sorted(c.capabilities)),
                     lambda c: ("no password login is offered after TLS (LOGINDISABLED)"   # IMAP4rev1 LOGIN
                                if "LOGINDISABLED" in c.capabilities else None),           # unless disabled
                     _imap_login, lambda c: c.logout(), (OSError, imaplib.IMAP4.error)),
    "pop3": _Dialect(poplib.POP3, poplib.POP3_SSL, "context", _pop3_starttls,
                     lambda c: "capabilities: " + " ".join(sorted(c.capa())), _pop3_no_login,
                     _pop3_login, lambda c: c.quit(), (OSError, poplib.error_proto)),
    "smtp": _Dialect(smtplib.SMTP, smtplib.SMTP_SSL, "context", _smtp_starttls,
                     lambda c: "AUTH: " + (" ".join(_smtp_auth(c)) or "(none)"),
                     lambda c: (None if {"PLAIN", "LOGIN"} & set(_smtp_auth(c))
                                else "no password AUTH mechanism (PLAIN/LOGIN) is offered after TLS"),
                     _smtp_login, lambda c: c.quit(), (OSError, smtplib.SMTPException)),
}


def _check_session(e: Endpoint, context: ssl.SSLContext, timeout: float, login: str | None, password: str | None,
                   details: list[str]) -> None:
    """Open a session as configured, check that a password login is offered, and log in when asked."""
    dialect = DIALECTS[e.protocol]
    if e.security == "ssl":
        conn = dialect.secure(e.host, e.port, timeout=timeout, **{dialect.context_keyword: context})
    else:
        conn = dialect.plain(e.host, e.port, timeout=timeout)
    try:
        if e.security == "starttls":
            dialect.starttls(conn, context)
        details.append(dialect.describe(conn))
        problem = dialect.no_password_login(conn)
        if problem:
            raise _Failed(problem)
        if login:
            dialect.login(conn, login, password or "")
            details.append(f"login as {login}: ok")
    finally:
        try:
            dialect.close(conn)
        except dialect.errors:
            pass


def check_bounded(endpoint: Endpoint, *, context: ssl.SSLContext, timeout: float, deadline: float,
                  login: str | None = None, password: str | None = None) -> ServerCheck:
    """:func:`check_endpoint` in a child process: at most ``deadline`` seconds and a bounded amount of memory."""
    def work() -> ServerCheck:
        imaplib._MAXLINE = MAX_LINE  # type: ignore[attr-defined]   # poplib and smtplib cap lines already
        return check_endpoint(endpoint, context=context, timeout=timeout, login=login, password=password)
    try:
        return run_bounded(work, deadline)
    except Overrun as exc:
        return ServerCheck(endpoint, FAILED, f"{exc}: the server answers too slowly or sends without end")


def check_servers(inventory: Inventory, *, ca_file: str | None = None, timeout: float = 10.0,
                  deadline: float | None = None, login: str | None = None,
                  password: str | None = None) -> list[ServerCheck]:
    """One :class:`ServerCheck` per distinct server of the inventory.

    ``timeout`` bounds each network step; ``deadline`` (default four times the timeout) bounds a whole check.
    Raises :class:`~generator.errors.UsageError` for a timeout that is not a finite positive number, and
    :class:`~generator.errors.InputFileError` for a CA file that is not PEM certificates.
    """
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a finite number of seconds above 0, not {timeout!r}")
    deadline = 4 * timeout if deadline is None else deadline
    if not (math.isfinite(deadline) and deadline >= timeout):
        raise UsageError(f"--deadline must be a finite number of seconds, at least the timeout, not {deadline!r}")
    context = tls_context(ca_file)
    return [check_bounded(e, context=context, timeout=timeout, deadline=deadline, login=login, password=password)
            for e in endpoints(inventory)]
