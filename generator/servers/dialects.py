"""The three protocols of ``check-servers``, as one table (:data:`DIALECTS`): how each opens a session, shows
its capabilities, does STARTTLS, offers and does a password login, and signs in with an OAuth2 bearer token
(XOAUTH2, or OAUTHBEARER per RFC 7628) through the standard library's clients."""
from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_LINE = 64 * 1024   # bytes in one IMAP response line


class _Failed(Exception):
    pass


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
    sasl: Callable[[Any], list[str]]                          # the SASL mechanisms offered
    bearer: Callable[[Any, str, str, str], None]              # (mechanism, login, token); raises _Failed when refused
    password_mechanism: Callable[[Any], str]                  # what a password login uses


def _bearer_response(mechanism: str, login: str, token: str) -> bytes:
    """The client's first message: XOAUTH2 (Google's and Microsoft's form) or OAUTHBEARER (RFC 7628)."""
    if mechanism == "XOAUTH2":
        return f"user={login}\x01auth=Bearer {token}\x01\x01".encode()
    name = login.replace("=", "=3D").replace(",", "=2C")           # RFC 5801 saslname
    return f"n,a={name},\x01auth=Bearer {token}\x01\x01".encode()


# After a refusal both mechanisms send an error challenge (JSON) that the client must answer before the
# server says no: an empty response for XOAUTH2, a single 0x01 for OAUTHBEARER (RFC 7628 3.2.3).
ERROR_ANSWER = {"XOAUTH2": b"", "OAUTHBEARER": b"\x01"}


def _refused(login: str, mechanism: str, answer: object) -> _Failed:
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    return _Failed(f"login as {login} with {mechanism} refused: {str(answer).strip()[:200]}")


def _imap_starttls(conn: imaplib.IMAP4, context: ssl.SSLContext) -> None:
    if "STARTTLS" not in conn.capabilities:
        raise _Failed("STARTTLS is not offered")
    conn.starttls(context)


def _imap_login(conn: imaplib.IMAP4, login: str, password: str) -> None:
    try:
        conn.login(login, password)
    except imaplib.IMAP4.error as exc:
        raise _Failed(f"login as {login} refused: {exc}") from None


def _imap_bearer(conn: imaplib.IMAP4, mechanism: str, login: str, token: str) -> None:
    answers = [_bearer_response(mechanism, login, token), ERROR_ANSWER[mechanism]]

    def step(challenge: bytes) -> bytes | None:
        return answers.pop(0) if answers else None      # None: imaplib cancels with "*"
    try:
        conn.authenticate(mechanism, step)
    except imaplib.IMAP4.error as exc:
        raise _refused(login, mechanism, exc.args[0] if exc.args else exc) from None


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


def _pop3_sasl(conn: poplib.POP3) -> list[str]:
    return [m.upper() for m in conn.capa().get("SASL", [])]


def _pop3_bearer(conn: poplib.POP3, mechanism: str, login: str, token: str) -> None:
    """RFC 5034 AUTH with an initial response; at most one error challenge, answered as the mechanism says."""
    def send(line: str) -> None:
        conn.sock.sendall(line.encode("ascii") + b"\r\n")

    send(f"AUTH {mechanism} " + base64.b64encode(_bearer_response(mechanism, login, token)).decode("ascii"))
    answers = [ERROR_ANSWER[mechanism]]
    for _ in range(3):
        line = conn.file.readline(poplib._MAXLINE + 1)      # type: ignore[attr-defined]
        if len(line) > poplib._MAXLINE:                      # type: ignore[attr-defined]
            raise poplib.error_proto("line too long")
        if not line:
            raise EOFError("the server closed the connection during AUTH")
        if line.startswith(b"+OK"):
            return
        if line.startswith(b"-ERR"):
            raise _refused(login, mechanism, line[4:])
        if not line.startswith(b"+"):
            raise poplib.error_proto(line.strip()[:200])
        send(base64.b64encode(answers.pop(0)).decode("ascii") if answers else "*")
    raise _Failed(f"login as {login} with {mechanism}: the server kept asking (no answer after three rounds)")


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


def _smtp_bearer(conn: smtplib.SMTP, mechanism: str, login: str, token: str) -> None:
    answers = [ERROR_ANSWER[mechanism].decode("ascii")]

    def step(challenge: bytes | None = None) -> str:
        if challenge is None:
            return _bearer_response(mechanism, login, token).decode()
        return answers.pop(0) if answers else ""        # smtplib stops after five rounds
    try:
        conn.auth(mechanism, step, initial_response_ok=True)
    except smtplib.SMTPAuthenticationError as exc:
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        raise _refused(login, mechanism, f"{exc.smtp_code} {text}") from None


def _smtp_password_mechanism(conn: smtplib.SMTP) -> str:
    offered = _smtp_auth(conn)
    return next((m for m in ("CRAM-MD5", "PLAIN", "LOGIN") if m in offered), "LOGIN")   # smtplib's order


DIALECTS = {
    "imap": _Dialect(imaplib.IMAP4, imaplib.IMAP4_SSL, "ssl_context", _imap_starttls,
                     lambda c: "capabilities: " + " ".join(sorted(c.capabilities)),
                     lambda c: ("no password login is offered after TLS (LOGINDISABLED)"   # IMAP4rev1 LOGIN
                                if "LOGINDISABLED" in c.capabilities else None),           # unless disabled
                     _imap_login, lambda c: c.logout(), (OSError, imaplib.IMAP4.error),
                     lambda c: [cap[5:] for cap in c.capabilities if cap.startswith("AUTH=")], _imap_bearer,
                     lambda c: "LOGIN"),
    "pop3": _Dialect(poplib.POP3, poplib.POP3_SSL, "context", _pop3_starttls,
                     lambda c: "capabilities: " + " ".join(sorted(c.capa())), _pop3_no_login,
                     _pop3_login, lambda c: c.quit(), (OSError, poplib.error_proto),
                     _pop3_sasl, _pop3_bearer, lambda c: "USER/PASS"),
    "smtp": _Dialect(smtplib.SMTP, smtplib.SMTP_SSL, "context", _smtp_starttls,
                     lambda c: "AUTH: " + (" ".join(_smtp_auth(c)) or "(none)"),
                     lambda c: (None if {"PLAIN", "LOGIN"} & set(_smtp_auth(c))
                                else "no password AUTH mechanism (PLAIN/LOGIN) is offered after TLS"),
                     _smtp_login, lambda c: c.quit(), (OSError, smtplib.SMTPException),
                     _smtp_auth, _smtp_bearer, _smtp_password_mechanism),
}
