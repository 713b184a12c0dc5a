"""OAuth2 sign-in: the providers a mail client knows by the server's host name, and an organization's own one.

``auth: oauth2`` on a server means the client signs in through the browser at an identity provider instead
of sending a password. Mail clients know a few providers by the server's host name; for any other host the
inventory names its own provider in an ``oauth2:`` block (:class:`generator.model.OAuth2`).

The table below is Thunderbird's own, from Thunderbird 153.8.0esr, ``modules/OAuth2Providers.sys.mjs`` in
``omni.ja``: ``kHostnames`` maps a host name or a parent domain to an issuer and its scopes, either one string
for every protocol or one per protocol (``GOOGLE_SCOPES``, ``MICROSOFT_SCOPES`` with its ``extra``
``offline_access``, ``FASTMAIL_SCOPES``); ``kIssuers`` gives each issuer's authorization and token endpoints.
``_getHostnameDetails`` tries the host, then each shorter suffix that still contains a dot (so
``imap.mail.yahoo.com`` finds ``yahoo.com``), and ``getHostnameDetails(host, type)`` returns the protocol's
scope plus the ``extra`` ones as ``requiredScopes``. All of the module's mail (IMAP, POP3, SMTP) entries are
here, the staging Thundermail host too (Thunderbird signs in there by itself, so an ``oauth2:`` block would
be ignored). Left out: the CardDAV and CalDAV hosts (``www.googleapis.com``, ``apidata.googleusercontent.com``,
``carddav.fastmail.com``, ``caldav.fastmail.com``), ``graph.microsoft.com`` (the Graph API, not a mail
protocol this tool configures) and the module's test hosts (``mochi.test``, ``test.test``, ``external.test``,
``net.thunderbird.test``). ``tests/test_oauth2.py`` reads the module from the installed Thunderbird and holds
this table to it, entry by entry.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model import Device, OAuth2, Server

PROTOCOLS = ("imap", "pop3", "smtp")
Scopes = tuple[tuple[str, str], ...]      # (protocol or kHostnames key, space-separated scopes)


def _every(scope: str) -> Scopes:
    """A ``kHostnames`` entry's one scope string, which Thunderbird requests for every protocol."""
    return tuple((protocol, scope) for protocol in PROTOCOLS)


@dataclass(frozen=True, slots=True)
class Provider:
    """An identity provider that mail clients know by the server's host name."""

    name: str                          # what users and warnings call it
    issuer: str                        # Thunderbird's issuer name (``kIssuers`` key; ISPDB ``<issuer>``)
    hosts: tuple[str, ...]             # its ``kHostnames`` keys: a server's host name or a parent domain of it
    scopes: Scopes                     # (protocol, space-separated scopes Thunderbird requests)
    authorization_endpoint: str
    token_endpoint: str
    host_scopes: Scopes = ()           # (``kHostnames`` key, its one scope string) where it differs from ``scopes``
    organization_approval: bool = False   # an organization's administrators may have to approve the client first

    def scope(self, protocol: str, host: str = "") -> str:
        """The scopes Thunderbird requests for ``protocol`` at ``host`` (``getHostnameDetails``' requiredScopes)."""
        key = _key(host) if host else None
        return dict(self.host_scopes).get(key or "") or dict(self.scopes)[protocol]


# kHostnames: "office365.com", "outlook.com", "hotmail.com" -> "login.microsoftonline.com", MICROSOFT_SCOPES
# (each protocol's scope plus extra: "offline_access"); kIssuers["login.microsoftonline.com"].
MICROSOFT_365 = Provider(
    "Microsoft 365", "login.microsoftonline.com", ("office365.com", "outlook.com", "hotmail.com"),
    (("imap", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"),
     ("pop3", "https://outlook.office.com/POP.AccessAsUser.All offline_access"),
     ("smtp", "https://outlook.office.com/SMTP.Send offline_access")),
    "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    "https://login.microsoftonline.com/common/oauth2/v2.0/token", organization_approval=True)
# kHostnames: "googlemail.com", "gmail.com" -> "accounts.google.com", GOOGLE_SCOPES; kIssuers["accounts.google.com"].
GOOGLE = Provider(
    "Google", "accounts.google.com", ("googlemail.com", "gmail.com"),
    (("imap", "https://mail.google.com/"), ("pop3", "https://mail.google.com/"),
     ("smtp", "https://mail.google.com/")),
    "https://accounts.google.com/o/oauth2/auth",
    "https://www.googleapis.com/oauth2/v3/token", organization_approval=True)
# kHostnames: "imap.mail.ru", "smtp.mail.ru" -> "o2.mail.ru", "mail.imap" (pop.mail.ru is not in the table).
MAIL_RU = Provider(
    "mail.ru", "o2.mail.ru", ("imap.mail.ru", "smtp.mail.ru"), _every("mail.imap"),
    "https://o2.mail.ru/login", "https://o2.mail.ru/token")
# kHostnames: "imap.yandex.com" -> "mail:imap_full", "smtp.yandex.com" -> "mail:smtp" (each for every protocol).
YANDEX = Provider(
    "Yandex", "oauth.yandex.com", ("imap.yandex.com", "smtp.yandex.com"),
    (("imap", "mail:imap_full"), ("pop3", "mail:imap_full"), ("smtp", "mail:smtp")),
    "https://oauth.yandex.com/authorize", "https://oauth.yandex.com/token",
    host_scopes=(("imap.yandex.com", "mail:imap_full"), ("smtp.yandex.com", "mail:smtp")))
# kHostnames: "yahoo.com", "att.net" -> "login.yahoo.com", "mail-w ycal-w sdct-w".
YAHOO = Provider(
    "Yahoo", "login.yahoo.com", ("yahoo.com", "att.net"), _every("mail-w ycal-w sdct-w"),
    "https://api.login.yahoo.com/oauth2/request_auth", "https://api.login.yahoo.com/oauth2/get_token")
# kHostnames: "aol.com" -> "login.aol.com", "mail-w ycal-w sdct-w".
AOL = Provider(
    "AOL", "login.aol.com", ("aol.com",), _every("mail-w ycal-w sdct-w"),
    "https://api.login.aol.com/oauth2/request_auth", "https://api.login.aol.com/oauth2/get_token")
# kHostnames: "imap.fastmail.com", "pop.fastmail.com", "smtp.fastmail.com" -> "www.fastmail.com", FASTMAIL_SCOPES.
FASTMAIL = Provider(
    "Fastmail", "www.fastmail.com", ("imap.fastmail.com", "pop.fastmail.com", "smtp.fastmail.com"),
    (("imap", "https://www.fastmail.com/dev/protocol-imap"), ("pop3", "https://www.fastmail.com/dev/protocol-pop"),
     ("smtp", "https://www.fastmail.com/dev/protocol-smtp")),
    "https://api.fastmail.com/oauth/authorize", "https://api.fastmail.com/oauth/refresh")
# kHostnames: "imap.comcast.net", "pop.comcast.net", "smtp.comcast.net" -> "comcast.net", COMCAST_SCOPES.
COMCAST = Provider(
    "Comcast (Xfinity)", "comcast.net", ("imap.comcast.net", "pop.comcast.net", "smtp.comcast.net"),
    _every("https://email.comcast.net/ profile openid"),
    "https://oauth.xfinity.com/oauth/authorize", "https://oauth.xfinity.com/oauth/token")
# kHostnames: "thundermail.com" -> "auth.tb.pro", TBPRO_SCOPES; "stage-thundermail.com" -> "auth-stage.tb.pro".
THUNDERMAIL = Provider(
    "Thundermail", "auth.tb.pro", ("thundermail.com",), _every("openid profile email offline_access"),
    "https://auth.tb.pro/realms/tbpro/protocol/openid-connect/auth",
    "https://auth.tb.pro/realms/tbpro/protocol/openid-connect/token")
THUNDERMAIL_STAGING = Provider(
    "Thundermail (staging)", "auth-stage.tb.pro", ("stage-thundermail.com",),
    _every("openid profile email offline_access"),
    "https://auth-stage.tb.pro/realms/tbpro/protocol/openid-connect/auth",
    "https://auth-stage.tb.pro/realms/tbpro/protocol/openid-connect/token")

PROVIDERS: tuple[Provider, ...] = (MICROSOFT_365, GOOGLE, MAIL_RU, YANDEX, YAHOO, AOL, FASTMAIL, COMCAST,
                                   THUNDERMAIL, THUNDERMAIL_STAGING)
BY_HOST: dict[str, Provider] = {host: provider for provider in PROVIDERS for host in provider.hosts}


def _key(host: str) -> str | None:
    """The ``kHostnames`` key Thunderbird finds for ``host``: the host itself, else its longest parent domain in the
    table (``_getHostnameDetails``: it stops when no dot is left); None when there is none."""
    host = host.casefold()
    while "." in host:
        if host in BY_HOST:
            return host
        host = host.split(".", 1)[1]
    return None


def provider_for(host: str) -> Provider | None:
    """The known provider of a mail server, by its host name or a parent domain (case-insensitive); None for any
    other host."""
    key = _key(host)
    return BY_HOST[key] if key is not None else None


@dataclass(frozen=True, slots=True)
class SignIn:
    """Where one server signs in: the issuer and the scopes, and whether the client knows it by the host."""

    issuer: str
    scope: str
    authorization_endpoint: str
    token_endpoint: str
    known: Provider | None      # None: the organization's own provider (``Device.oauth2``)
    client_id: str = ""         # the own provider's; a known provider's is the client's own


def sign_in(server: Server, own: OAuth2 | None) -> SignIn | None:
    """How ``server`` signs in with OAuth2; None when it uses another method (or, unresolvable, has no provider)."""
    if server.auth != "oauth2":
        return None
    known = provider_for(server.host)
    if known is not None:
        return SignIn(known.issuer, known.scope(server.protocol, server.host), known.authorization_endpoint,
                      known.token_endpoint, known)
    if own is None:
        return None
    return SignIn(own.issuer, own.scopes, own.authorization_endpoint, own.token_endpoint, None, own.client_id)


def device_sign_ins(device: Device) -> list[tuple[Server, SignIn]]:
    """The device's servers that sign in with OAuth2, incoming first."""
    out = []
    for server in (device.incoming, device.outgoing):
        found = sign_in(server, device.oauth2)
        if found is not None:
            out.append((server, found))
    return out


def needs_own_provider(server: Server) -> bool:
    """Does ``server`` sign in with OAuth2 at a host no client knows (so the inventory must name the provider)?"""
    return server.auth == "oauth2" and provider_for(server.host) is None
