"""OAuth2 sign-in: the providers a mail client knows by the server's host name, and an organization's own one.

``auth: oauth2`` on a server means the client signs in through the browser at an identity provider instead
of sending a password. Mail clients know a few providers by the server's host name; for any other host the
inventory names its own provider in an ``oauth2:`` block (:class:`generator.model.OAuth2`).

The table below is Thunderbird's own, from Thunderbird 153.8.0esr, ``modules/OAuth2Providers.sys.mjs`` in
``omni.ja``: ``kHostnames`` maps ``office365.com`` to ``login.microsoftonline.com`` with ``MICROSOFT_SCOPES``
(the protocol's scope and ``offline_access``) and ``gmail.com`` to ``accounts.google.com`` with
``GOOGLE_SCOPES`` (``https://mail.google.com/`` for IMAP, POP3 and SMTP); ``getHostnameDetails(host, type)``
returns the protocol's scope plus the ``extra`` ones as ``requiredScopes``. ``tests/test_oauth2.py`` reads the
module from the installed Thunderbird and holds this table to it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model import Device, OAuth2, Server


@dataclass(frozen=True, slots=True)
class Provider:
    """An identity provider that mail clients know by the server's host name."""

    name: str                          # what users and warnings call it
    issuer: str                        # Thunderbird's issuer name (``kIssuers`` key; ISPDB ``<issuer>``)
    hosts: tuple[str, ...]             # the mail servers that sign in through it
    scopes: tuple[tuple[str, str], ...]   # (protocol, space-separated scopes Thunderbird requests)
    authorization_endpoint: str
    token_endpoint: str

    def scope(self, protocol: str) -> str:
        return dict(self.scopes)[protocol]


MICROSOFT_365 = Provider(
    "Microsoft 365", "login.microsoftonline.com", ("outlook.office365.com", "smtp.office365.com"),
    (("imap", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"),
     ("pop3", "https://outlook.office.com/POP.AccessAsUser.All offline_access"),
     ("smtp", "https://outlook.office.com/SMTP.Send offline_access")),
    "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    "https://login.microsoftonline.com/common/oauth2/v2.0/token")
GOOGLE = Provider(
    "Google", "accounts.google.com", ("imap.gmail.com", "pop.gmail.com", "smtp.gmail.com"),
    (("imap", "https://mail.google.com/"), ("pop3", "https://mail.google.com/"),
     ("smtp", "https://mail.google.com/")),
    "https://accounts.google.com/o/oauth2/auth",
    "https://www.googleapis.com/oauth2/v3/token")

PROVIDERS: tuple[Provider, ...] = (MICROSOFT_365, GOOGLE)
BY_HOST: dict[str, Provider] = {host: provider for provider in PROVIDERS for host in provider.hosts}


def provider_for(host: str) -> Provider | None:
    """The known provider of a mail server, by its host name (case-insensitive); None for any other host."""
    return BY_HOST.get(host.casefold())


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
        return SignIn(known.issuer, known.scope(server.protocol), known.authorization_endpoint,
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
