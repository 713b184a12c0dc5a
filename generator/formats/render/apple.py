"""Apple ``.mobileconfig``: a Configuration profile with one account payload.

Which payload, by how the device's servers sign in (:func:`account_kind`):

- a password (or CRAM-MD5, NTLM): ``com.apple.mail.managed``, an IMAP or POP3 account;
- OAuth2 at Microsoft 365: ``com.apple.eas.account`` (Exchange ActiveSync) with ``OAuth`` true;
- OAuth2 at Google: ``com.apple.google-oauth`` (a Google account; the user signs in on the device);
- OAuth2 anywhere else (the organization's own identity provider), or servers that no one payload covers: no file.

Apple's schema files, apple/device-management, branch ``release``, commit
b6202ca2fbd31286a52eb160b67a4db7b4fe1f1f (copies in tests/apple/):

- ``mdm/profiles/com.apple.mail.managed.yaml``: ``IncomingMailServerAuthentication`` and
  ``OutgoingMailServerAuthentication`` list no OAuth method, and no key names an identity provider, so the mail
  payload cannot carry an OAuth2 sign-in at all.
- ``mdm/profiles/com.apple.eas.account.yaml``: ``OAuth`` ("If enabled, don't specify a password"; iOS 12.0 and
  later), ``OAuthSignInURL`` and ``OAuthTokenRequestURL`` (iOS 13.0 and later). Without ``OAuthSignInURL`` the
  device finds the sign-in by Exchange auto-discovery, which is how Microsoft 365 is found; a sign-in URL would
  also have to be one that Apple's own client registration may use, which the inventory's ``oauth2:`` block
  (the endpoints and client id of the organization's registration) does not say. So the URLs are not written, and
  an own identity provider gets no Exchange payload: it may front no Exchange server at all.
- ``mdm/profiles/com.apple.google-oauth.yaml``: ``EmailAddress`` (required), ``AccountName``,
  ``AccountDescription``; "The payload never contains credentials"; "Google accounts must be installed via MDM or
  by Apple Configurator 2 (if the device is supervised)".

Both OAuth payloads are iOS/iPadOS and visionOS only (``macOS: introduced: n/a``): a Mac refuses them. Whether an
Apple device is a Mac is not in the inventory, so the file is made and the warning says so.
"""
from __future__ import annotations

from collections.abc import Mapping

from ...errors import UnrepresentableValue
from ...model import IMPLICIT_TLS_PORTS, Device, Finding, Organization, Site
from ..engine import render_text
from .apple_oauth2 import (
    CLIENT,
    EXCHANGE,
    GOOGLE_ACCOUNT,
    INSTALL_EXCHANGE,
    INSTALL_GOOGLE,
    MAIL,
    NO_PAYLOAD,
    NONE,
    account_kind,
    oauth2_findings,
)
from .uuids import stable_uuid

TEMPLATES = {MAIL: "apple/mail.mobileconfig.j2", EXCHANGE: "apple/exchange.mobileconfig.j2",
             GOOGLE_ACCOUNT: "apple/google.mobileconfig.j2"}
SKIPS = frozenset({NO_PAYLOAD})
# What the warnings call each payload.
PAYLOAD_NAMES = {MAIL: "Apple's mail payload", EXCHANGE: "Apple's Exchange ActiveSync payload",
                 GOOGLE_ACCOUNT: "Apple's Google account payload"}


ACCOUNT_TYPE = {"imap": "EmailTypeIMAP", "pop3": "EmailTypePOP"}
AUTHENTICATION = {"password": "EmailAuthPassword", "cram-md5": "EmailAuthCRAMMD5", "ntlm": "EmailAuthNTLM"}
# The payload has one boolean per direction: TLS on or off. With it on, the device uses implicit TLS on
# 993/995/465 and STARTTLS on the other ports.
USE_SSL = {"ssl": True, "starttls": True, "none": False}
# How the user installs the profile, by handout language.
INSTALL = {
    "en": "iPhone, iPad or Mac: open the file (from mail or AirDrop), then install it under Settings › General › "
          "VPN & Device Management (on a Mac: System Settings › Privacy & Security › Profiles), or receive it "
          "through your company's device management.",
    "de": "iPhone, iPad oder Mac: Datei öffnen (aus einer E-Mail oder per AirDrop) und unter Einstellungen › "
          "Allgemein › VPN und Geräteverwaltung installieren (am Mac: Systemeinstellungen › Datenschutz & "
          "Sicherheit › Profile), oder sie kommt über die Geräteverwaltung Ihrer Firma.",
}


# Google's payload is installed through device management only (Apple's schema, above).
def install(device: Device) -> Mapping[str, str]:
    """How the user installs the device's profile, by handout language."""
    return {EXCHANGE: INSTALL_EXCHANGE, GOOGLE_ACCOUNT: INSTALL_GOOGLE}.get(account_kind(device), INSTALL)


def templates(device: Device) -> tuple[str, ...]:
    """The template the device's profile is made from (none when no file is made)."""
    kind = account_kind(device)
    return (TEMPLATES[kind],) if kind in TEMPLATES else ()


def limitations(org: Organization, device: Device) -> list[Finding]:
    kind = account_kind(device)
    if kind != MAIL:
        found = oauth2_findings(device, kind)
        if kind == NONE:
            return found
    else:
        found = []
    user, name = device.user.email, device.name
    payload_name = PAYLOAD_NAMES[kind]
    if device.bcc_self:
        found.append(Finding(
            "apple-no-bcc",
            f"{payload_name} has no key for a Bcc to the own address. On iPhone/iPad the user must turn on "
            "Settings > Apps > Mail > Always Bcc Myself; in macOS Mail, Settings > Composing > Automatically Bcc "
            "myself. Alternatively the mail server can copy each submitted message to the sender.",
            user, name, CLIENT))
    if kind == MAIL and device.pop3 is not None:
        pop3 = device.pop3
        if not pop3.leave_on_server:
            wanted = "remove the copy from the server right after retrieving it"
        elif pop3.delete_after_days is None:
            wanted = "never remove the copy from the server"
        else:
            wanted = f"remove the copy from the server after {pop3.delete_after_days} days"
        found.append(Finding(
            "apple-no-pop-retention",
            "Apple's mail payload has no key for how long POP3 mail stays on the server (macOS Mail's own "
            f"default removes it after one week). The user must set the account to {wanted} (Mail > Settings > "
            "Accounts > Advanced), or the server admin must enforce the retention on the server.",
            user, name, CLIENT))
    for server in (device.incoming, device.outgoing) if kind == MAIL else ():
        # The device's guess: implicit TLS on the standard implicit-TLS port, STARTTLS on any other.
        guess = "ssl" if server.port in IMPLICIT_TLS_PORTS[server.protocol] else "starttls"
        if server.security != "none" and server.security != guess:
            found.append(Finding(
                "apple-tls-mode",
                f"Apple's mail payload only says 'use TLS' for {server.protocol} ({server.host}:{server.port}); the "
                "device chooses implicit TLS or STARTTLS by itself, usually by the standard ports (993/995/465 "
                f"implicit, others STARTTLS), so it may not use {server.security!r} here. Check the account on a "
                "device, or offer the standard port for Apple devices.",
                user, name, CLIENT))
    found.extend(fetch_schedule(device, payload_name))
    if device.signature is not None:
        found.append(Finding(
            "apple-no-signature",
            f"{payload_name} has no key for a signature. On iPhone/iPad the user sets it in Settings > Apps > "
            "Mail > Signature; in macOS Mail, Settings > Signatures.",
            user, name, CLIENT))
    return found


# Apple's fixed fetch schedules (iPhone/iPad: Settings > Apps > Mail > Mail Accounts > Fetch New Data; macOS
# Mail offers these and more), by minutes.
FETCH_CHOICES = {15: "Every 15 Minutes", 30: "Every 30 Minutes", 60: "Hourly"}


def fetch_schedule(device: Device, payload_name: str = PAYLOAD_NAMES[MAIL]) -> list[Finding]:
    """The payload has no key for when mail is fetched: the device keeps its own schedule, "Automatically".

    Not fetching automatically is something the device would not do by itself: a warning on the device, so its
    handout asks the user to choose "Manually". Fetching automatically is what Apple's own schedule does; only
    the interval is the device's choice. That holds for nearly every Apple device (every built-in profile asks
    for it), and a step on each of their handouts would bury the steps that matter, so the interval is said
    once per run and interval (no user, no device: the admin's warning, not a handout's step).
    """
    ways = ("(iPhone/iPad: Settings > Apps > Mail > Mail Accounts > Fetch New Data; macOS Mail: Settings > General "
            "> Check for new messages)")
    if not device.fetch_automatically:
        return [Finding(
            "apple-no-fetch-schedule",
            f"{payload_name} has no key for when mail is fetched, and the device fetches new mail by itself. "
            f"To fetch only when the user asks, the user must choose Manually {ways}.",
            device.user.email, device.name, CLIENT)]
    minutes = device.check_interval_minutes
    choice = min(FETCH_CHOICES, key=lambda choice: (abs(choice - minutes), -choice))
    return [Finding(
        "apple-no-fetch-schedule",
        f"{payload_name} has no key for when mail is fetched: Apple devices that should check every {minutes} "
        f"minutes keep their own schedule (Automatically: when the system sees fit). Where a device must keep to "
        f"the interval, its user chooses {FETCH_CHOICES[choice]} (the nearest fixed choice) {ways}; the handouts do "
        "not ask for it.", None, None, CLIENT)]


# What the device shows of the profile (PayloadDisplayName, PayloadDescription), in the user's language
# (the organization's unless the user sets one), like the handout that goes with it.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "profile": "{what} {email} for {name} on device {device}.",
        "imap": "IMAP mail account", "pop3": "POP3 mail account",
        "mail_display": "{protocol} account {email}",
        "mail_description": "Mail account {email} ({protocol} {in_host}, SMTP {out_host})",
        "exchange": "Exchange ActiveSync account (OAuth)",
        "exchange_display": "Exchange account {email}",
        "exchange_description": "Exchange ActiveSync account {email} ({host}, OAuth)",
        "google": "Google account",
        "google_display": "Google account {email}",
        "google_description": "Google account {email}",
    },
    "de": {
        "profile": "{what} {email} für {name} auf dem Gerät {device}.",
        "imap": "IMAP-E-Mail-Konto", "pop3": "POP3-E-Mail-Konto",
        "mail_display": "{protocol}-Konto {email}",
        "mail_description": "E-Mail-Konto {email} ({protocol} {in_host}, SMTP {out_host})",
        "exchange": "Exchange-ActiveSync-Konto (OAuth)",
        "exchange_display": "Exchange-Konto {email}",
        "exchange_description": "Exchange-ActiveSync-Konto {email} ({host}, OAuth)",
        "google": "Google-Konto",
        "google_display": "Google-Konto {email}",
        "google_description": "Google-Konto {email}",
    },
}


def _text(device: Device, key: str, **values: object) -> str:
    """One of the texts the device shows, in the user's language; values are put in as they are (the
    template escapes them for the plist)."""
    template = TEXTS[device.user.language][key]
    return template.format_map({"email": device.user.email, "name": device.user.name, "device": device.name,
                                **values})


def payload(org: Organization, device: Device) -> dict[str, dict[str, object]]:
    """The values of the profile, as plain data for the template."""
    user = device.user
    email, login, org_name = user.email, user.login, org.name
    incoming, outgoing = device.incoming, device.outgoing
    in_host, out_host = incoming.host, outgoing.host
    kind = device.protocol
    texts = TEXTS[user.language]
    # What the texts put in (each takes the values it names), as :func:`_text` does.
    values = {"email": email, "name": user.name, "device": device.name,
              "protocol": "IMAP" if kind == "imap" else "POP3", "in_host": in_host, "out_host": out_host}
    values["what"] = texts[kind].format_map(values)
    profile_uuid = stable_uuid(org.identifier, email, device.name, "profile")
    identifier = f"{org.identifier}.mailprofiles.{profile_uuid.lower()}"
    return {
        "profile": {
            "display_name": f"{org_name}: {email} ({device.name})",
            "description": texts["profile"].format_map(values),
            "identifier": identifier,
            "organization": org_name,
            "uuid": profile_uuid,
        },
        "mail": {
            "account_description": f"{org_name} ({email})",
            "account_name": user.name,
            "account_type": ACCOUNT_TYPE[kind],
            "address": email,
            "in_auth": AUTHENTICATION[incoming.auth],
            "in_host": in_host,
            "in_port": incoming.port,
            "in_ssl": USE_SSL[incoming.security],
            "in_user": login,
            "out_auth": AUTHENTICATION[outgoing.auth],
            "out_host": out_host,
            "out_port": outgoing.port,
            "out_ssl": USE_SSL[outgoing.security],
            "out_user": login,
            "display_name": texts["mail_display"].format_map(values),
            "description": texts["mail_description"].format_map(values),
            "identifier": f"{identifier}.mail",
            "uuid": stable_uuid(org.identifier, email, device.name, "mail"),
        },
    }


def _profile(org: Organization, device: Device, kind: str) -> tuple[dict[str, object], str]:
    """The outer profile's values, and the identifier its payload's identifier starts with."""
    user = device.user
    profile_uuid = stable_uuid(org.identifier, user.email, device.name, "profile")
    identifier = f"{org.identifier}.mailprofiles.{profile_uuid.lower()}"
    return {
        "display_name": f"{org.name}: {user.email} ({device.name})",
        "description": _text(device, "profile", what=_text(device, kind)),
        "identifier": identifier,
        "organization": org.name,
        "uuid": profile_uuid,
    }, identifier


def exchange_payload(org: Organization, device: Device) -> dict[str, dict[str, object]]:
    """Exchange ActiveSync with OAuth (``com.apple.eas.account``): host, address and user name; no password.

    ``UserName`` is "Required for noninteractive installations like MDM in iOS" (Apple's schema): the login.
    """
    user = device.user
    profile, identifier = _profile(org, device, "exchange")
    return {
        "profile": profile,
        "account": {
            "address": user.email,
            "host": device.incoming.host,
            "user": user.login,
            "display_name": _text(device, "exchange_display"),
            "description": _text(device, "exchange_description", host=device.incoming.host),
            "identifier": f"{identifier}.exchange",
            "uuid": stable_uuid(org.identifier, user.email, device.name, "exchange"),
        },
    }


def google_payload(org: Organization, device: Device) -> dict[str, dict[str, object]]:
    """A Google account (``com.apple.google-oauth``): the address and the name; the user signs in on the device."""
    user = device.user
    profile, identifier = _profile(org, device, "google")
    return {
        "profile": profile,
        "account": {
            "account_description": f"{org.name} ({user.email})",
            "account_name": user.name,
            "address": user.email,
            "display_name": _text(device, "google_display"),
            "description": _text(device, "google_description"),
            "identifier": f"{identifier}.google",
            "uuid": stable_uuid(org.identifier, user.email, device.name, "google"),
        },
    }


PAYLOADS = {MAIL: payload, EXCHANGE: exchange_payload, GOOGLE_ACCOUNT: google_payload}


def render(site: Site, device: Device) -> bytes:
    org = site.organization
    kind = account_kind(device)
    if kind not in PAYLOADS:
        # Not produced (``SKIPS``): the plan makes no file for such a device; a caller that asks anyway is told why.
        raise UnrepresentableValue(f"no Apple payload signs in to {device.incoming.host} with OAuth2 "
                                   f"({NO_PAYLOAD})")
    template = TEMPLATES[kind].partition("/")[2]
    text = render_text(site, CLIENT, template, PAYLOADS[kind](org, device), autoescape=True)
    plist = text.encode("utf-8")
    return site.signer.sign(plist) if site.signer is not None else plist
