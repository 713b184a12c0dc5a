"""Thunderbird ``prefs.js``: ``user_pref()`` lines creating account, identity and SMTP server."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from ...model import Device, Finding, Organization, Site
from ...oauth2 import needs_own_provider
from ..engine import render_text

CLIENT = "thunderbird"

# nsMsgSocketType: incoming socketType and SMTP try_ssl. 1 (legacy "if available") is never generated.
SOCKET_TYPE = {"none": 0, "starttls": 2, "ssl": 3}
# nsMsgAuthMethod, as in the account settings UI (Thunderbird 153: mailnews/base/public/MailNewsTypes2.idl;
# OAuth2 = 10).
AUTH_METHOD = {"password": 3, "cram-md5": 4, "ntlm": 6, "oauth2": 10}


def js_literal(value: object) -> str:
    """A JavaScript literal: strings quoted and escaped, ints and booleans bare (what ``json.dumps`` writes)."""
    if type(value) is str:
        return _quoted(value).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if not isinstance(value, str):
        raise TypeError(f"prefs.js cannot carry {type(value).__name__}")
    # json's own string encoder (that of json.dumps with ensure_ascii=False) escapes \\, " and every control
    # character; U+2028/U+2029 end a line in old JS parsers.
    return _quoted(value).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_quoted: Callable[[str], str] = json.encoder.encode_basestring


def custom_provider_finding(device: Device) -> list[Finding]:
    """Thunderbird 153 finds an OAuth2 provider only by the server's host name, in its built-in table or in one
    registered by a WebExtension's ``oauth_provider`` manifest key (``OAuth2Providers.registerProvider``, fed by
    ``chrome/messenger/content/messenger/parent/ext-oauth_provider.js`` in omni.ja); no pref names an issuer for
    IMAP, POP3 or SMTP (the ``experimental.mail.ews.overrideOAuth`` overrides serve Exchange only)."""
    own = device.oauth2
    hosts = sorted({s.host for s in (device.incoming, device.outgoing) if needs_own_provider(s)})
    if own is None or not hosts:
        return []
    return [Finding(
        "thunderbird-oauth2-custom-provider",
        f"Thunderbird knows no identity provider for {' and '.join(hosts)}: the account is set up to sign in with "
        "OAuth2, but Thunderbird can only do so once an extension registers the provider. Deploy a Thunderbird "
        "extension whose manifest.json has an 'oauth_provider' entry (issuer "
        f"{own.issuer}, clientId {own.client_id}, authorizationEndpoint {own.authorization_endpoint}, "
        f"tokenEndpoint {own.token_endpoint}, hostnames {', '.join(hosts)}, scopes '{own.scopes}') through the "
        "ExtensionSettings policy, before users start Thunderbird with this account.",
        device.user.email, device.name, CLIENT)]


def limitations(org: Organization, device: Device) -> list[Finding]:
    """prefs.js expresses the whole pattern but an own identity provider; a user.js cannot add an outgoing server
    to a profile in use."""
    found = custom_provider_finding(device)
    if device.setting("thunderbird_file") != "user.js":
        return found
    smtp = device.outgoing
    return found + [Finding(
        "thunderbird-userjs-smtp",
        "user.js appends the account to the profile's own accounts, but Thunderbird 128 and later no longer "
        "append outgoing servers from prefs (mail.smtpservers.appendsmtpservers is gone), so the account has no "
        f"outgoing server: in Account Settings > Outgoing Server (SMTP), add {smtp.host} port {smtp.port} "
        f"({smtp.security}) and choose it for this account, or deploy the account site-wide instead.",
        device.user.email, device.name, CLIENT)]


def context(org: Organization, device: Device) -> dict[str, object]:
    user = device.user
    incoming, smtp = device.incoming, device.outgoing
    return {
        "org": org,
        "device": device,
        "user": user,
        "incoming": incoming,
        "smtp": smtp,
        "socket_type": SOCKET_TYPE[incoming.security],
        "auth_method": AUTH_METHOD[incoming.auth],
        "smtp_try_ssl": SOCKET_TYPE[smtp.security],
        "smtp_auth_method": AUTH_METHOD[smtp.auth],
        "pop3": device.pop3,
    }


# How the user gets the file in place, by file and handout language (``code`` in backquotes).
INSTALL = {
    "prefs.js": {
        "en": "Thunderbird: IT copies this file into a new Thunderbird profile before its first start (or deploys it "
              "centrally); do not start Thunderbird with this account before.",
        "de": "Thunderbird: Die IT kopiert diese Datei vor dem ersten Start in ein neues Thunderbird-Profil (oder "
              "verteilt sie zentral); starten Sie Thunderbird mit diesem Konto nicht vorher.",
    },
    "user.js": {
        "en": "Thunderbird: IT puts this file into your Thunderbird profile folder; at the next start Thunderbird "
              "adds this account next to the ones you already have.",
        "de": "Thunderbird: Die IT legt diese Datei in Ihren Thunderbird-Profilordner; beim nächsten Start fügt "
              "Thunderbird dieses Konto zu Ihren bisherigen hinzu.",
    },
}


def install(device: Device) -> dict[str, str]:
    return INSTALL[filename(device)]


# prefs.js describes the new profile's only account under Thunderbird's own first keys.
PREFS_KEYS = {"account": "account1", "server": "server1", "identity": "id1", "smtp": "smtp1"}


def keys(device: Device) -> dict[str, str]:
    """user.js: account, server, identity and SMTP keys of its own, stable for the user and device."""
    digest = hashlib.sha256(f"{device.user.email.casefold()}/{device.name.casefold()}".encode()).hexdigest()[:10]
    return {"account": f"mailprofiles_acct_{digest}", "server": f"mailprofiles_srv_{digest}",
            "identity": f"mailprofiles_id_{digest}", "smtp": f"mailprofiles_smtp_{digest}"}


def filename(device: Device) -> str:
    """``thunderbird_file``: prefs.js for a new profile, user.js for one already in use."""
    return str(device.setting("thunderbird_file"))


def render(site: Site, device: Device) -> bytes:
    org = site.organization
    values = context(org, device)
    values["append"] = filename(device) == "user.js"
    values["keys"] = keys(device) if values["append"] else PREFS_KEYS
    text = render_text(site, CLIENT, "prefs.js.j2", values, filters=(("js", js_literal),))
    return text.encode("utf-8")
