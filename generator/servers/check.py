"""``check-servers``: do the inventory's servers answer as the generated files will expect?

For every distinct (protocol, host, port, security, auth): connect with a timeout, do implicit TLS
or STARTTLS as configured, verify the certificate chain and the host name, read the greeting
and the capabilities, check that the login the server is configured for is offered after TLS
(a password mechanism, or for ``auth: oauth2`` XOAUTH2 or OAUTHBEARER), and optionally log in
(with the password, or with a bearer token). The result is a list of rows; nothing is printed here.
"""
from __future__ import annotations

import imaplib
import math
import poplib
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass

from ..bounded import Overrun, run_bounded
from ..errors import InputFileError, UsageError
from ..model import Inventory
from .dialects import DIALECTS, MAX_LINE, _Failed

OK, WARNING, FAILED = "ok", "warning", "failed"
BEARER_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")   # the SASL mechanisms that carry an OAuth2 token, preferred first
BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")        # RFC 6750 b64token: nothing that could break a line
NO_BEARER = "no OAuth2 login (XOAUTH2 or OAUTHBEARER) is offered after TLS"


@dataclass(frozen=True)
class Endpoint:
    protocol: str
    host: str
    port: int
    security: str
    auth: str = "password"     # the inventory's auth: password | cram-md5 | ntlm | oauth2


@dataclass(frozen=True)
class ServerCheck:
    endpoint: Endpoint
    status: str             # ok | warning | failed
    reason: str
    details: tuple[str, ...] = ()
    mechanism: str | None = None   # how the login went (or was tried), when one was asked for

    def to_json(self) -> dict[str, object]:
        e = self.endpoint
        return {"protocol": e.protocol, "host": e.host, "port": e.port, "security": e.security, "auth": e.auth,
                "status": self.status, "reason": self.reason, "details": list(self.details),
                "mechanism": self.mechanism}



def endpoints(inventory: Inventory) -> list[Endpoint]:
    """Every distinct server the inventory's devices use, in a stable order."""
    found = set()
    for device in inventory.devices:
        for server in (device.incoming, device.outgoing):
            found.add(Endpoint(server.protocol, server.host, server.port, server.security, server.auth))
    return sorted(found, key=lambda e: (e.protocol, e.host, e.port, e.security, e.auth))


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


@dataclass
class _Progress:
    """What a check found so far: kept when it fails midway."""

    details: list[str]
    mechanism: str | None = None
    logged_in: bool = False
    skipped: str | None = None      # why a login asked for was not tried


def check_endpoint(endpoint: Endpoint, *, context: ssl.SSLContext, timeout: float = 10.0,
                   login: str | None = None, password: str | None = None, token: str | None = None,
                   mechanisms: tuple[str, ...] = BEARER_MECHANISMS) -> ServerCheck:
    """Check one server; with ``login``, also log in: with ``password`` on a password server, with the OAuth2
    bearer ``token`` on an ``auth: oauth2`` one (through the first of ``mechanisms`` the server offers).

    Neither the password nor the token ever appears in the result."""
    stage = "connect"
    progress = _Progress([])
    warnings: list[str] = []

    def result(status: str, reason: str) -> ServerCheck:
        return ServerCheck(endpoint, status, _hide(reason, password, token),
                           tuple(_hide(d, password, token) for d in progress.details), progress.mechanism)

    try:
        stage = "greeting"
        sock, greeting = _read_greeting(endpoint, context, timeout)
        sock.close()
        problem = _greeting_problem(endpoint.protocol, greeting)
        if problem:
            raise _Failed(problem)
        progress.details.append(f"greeting: {greeting.strip()[:80].decode('utf-8', 'replace')}")
        stage = "the session"
        _check_session(endpoint, context, timeout, login, password, token, mechanisms, progress)
    except _Failed as exc:
        return result(FAILED, str(exc))
    except (OSError, ssl.SSLError) as exc:
        return result(FAILED, _explain(exc, endpoint, timeout, stage))
    except UnicodeEncodeError:      # smtplib (and IMAP LOGIN) send SASL responses and credentials as ASCII only
        return result(FAILED, "the login name, password or token cannot be sent: this protocol takes ASCII only here")
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException, EOFError) as exc:
        text = exc.args[0] if exc.args else exc
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return result(FAILED, f"protocol error: {text}")
    if endpoint.security == "none":
        warnings.append("the connection is not encrypted")
    if progress.skipped:
        warnings.append(progress.skipped)
    if warnings:
        return result(WARNING, "; ".join(warnings))
    logged_in = ""
    if progress.logged_in:
        logged_in = ", login ok" + (f" with {progress.mechanism}" if endpoint.auth == "oauth2" else "")
    return result(OK, "answers as configured" + logged_in)


def _hide(text: str, *secrets: str | None) -> str:
    """``text`` with every secret blotted out (a server may echo what it was sent)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[hidden]")
    return text


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


def _check_session(e: Endpoint, context: ssl.SSLContext, timeout: float, login: str | None, password: str | None,
                   token: str | None, mechanisms: tuple[str, ...], progress: _Progress) -> None:
    """Open a session as configured, check that the configured kind of login is offered, and log in when asked."""
    dialect = DIALECTS[e.protocol]
    if e.security == "ssl":
        conn = dialect.secure(e.host, e.port, timeout=timeout, **{dialect.context_keyword: context})
    else:
        conn = dialect.plain(e.host, e.port, timeout=timeout)
    try:
        if e.security == "starttls":
            dialect.starttls(conn, context)
        progress.details.append(dialect.describe(conn))
        if e.auth == "oauth2":
            offered = [m for m in BEARER_MECHANISMS if m in dialect.sasl(conn)]
            if not offered:
                raise _Failed(NO_BEARER)
            progress.details.append("OAuth2 mechanisms: " + " ".join(offered))
            if login and token is None:
                progress.skipped = f"login as {login} not tried: an OAuth2 server needs a token (--token-env)"
            elif login and token is not None:
                mechanism = next((m for m in mechanisms if m in offered), None)
                if mechanism is None:
                    raise _Failed(f"none of {', '.join(mechanisms)} is offered (only {' '.join(offered)})")
                progress.mechanism = mechanism
                dialect.bearer(conn, mechanism, login, token)
                progress.details.append(f"login as {login} with {mechanism}: ok")
                progress.logged_in = True
            return
        problem = dialect.no_password_login(conn)
        if problem:
            raise _Failed(problem)
        if login and password is None:
            progress.skipped = f"login as {login} not tried: a password server needs a password (--password-env)"
        elif login and password is not None:
            progress.mechanism = dialect.password_mechanism(conn)
            dialect.login(conn, login, password)
            progress.details.append(f"login as {login}: ok")
            progress.logged_in = True
    finally:
        try:
            dialect.close(conn)
        except dialect.errors:
            sock = getattr(conn, "sock", None)       # the polite close failed (e.g. a timeout): drop the socket
            if isinstance(sock, socket.socket):
                sock.close()


def check_bounded(endpoint: Endpoint, *, context: ssl.SSLContext, timeout: float, deadline: float,
                  login: str | None = None, password: str | None = None, token: str | None = None) -> ServerCheck:
    """:func:`check_endpoint` in a child process: at most ``deadline`` seconds and a bounded amount of memory."""
    def work() -> ServerCheck:
        imaplib._MAXLINE = MAX_LINE  # type: ignore[attr-defined]   # poplib and smtplib cap lines already
        return check_endpoint(endpoint, context=context, timeout=timeout, login=login, password=password, token=token)
    try:
        return run_bounded(work, deadline)
    except Overrun as exc:
        return ServerCheck(endpoint, FAILED, f"{exc}: the server answers too slowly or sends without end")


def check_servers(inventory: Inventory, *, ca_file: str | None = None, timeout: float = 10.0,
                  deadline: float | None = None, login: str | None = None,
                  password: str | None = None, token: str | None = None) -> list[ServerCheck]:
    """One :class:`ServerCheck` per distinct server of the inventory.

    With ``login``, password servers are logged in to with ``password`` and ``auth: oauth2`` ones with the bearer
    ``token`` (each only when given). ``timeout`` bounds each network step; ``deadline`` (default four times the
    timeout) bounds a whole check.
    Raises :class:`~generator.errors.UsageError` for a timeout that is not a finite positive number, and
    :class:`~generator.errors.InputFileError` for a CA file that is not PEM certificates, and a UsageError for a
    token that is not a bearer token (without showing it).
    """
    if token is not None and not BEARER_TOKEN.fullmatch(token):
        raise UsageError("the value of --token-env is not an OAuth2 bearer token (RFC 6750: letters, digits and "
                         "-._~+/, then any '='); it is not shown here")
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a finite number of seconds above 0, not {timeout!r}")
    deadline = 4 * timeout if deadline is None else deadline
    if not (math.isfinite(deadline) and deadline >= timeout):
        raise UsageError(f"--deadline must be a finite number of seconds, at least the timeout, not {deadline!r}")
    context = tls_context(ca_file)
    return [check_bounded(e, context=context, timeout=timeout, deadline=deadline, login=login, password=password,
                          token=token)
            for e in endpoints(inventory)]
