"""Which Apple payload signs a device in, when its servers use OAuth2, and what that changes for the user.

See ``apple.py`` for the payloads and Apple's schema files they follow. This module decides (:func:`account_kind`)
and words the warnings and install texts; ``apple.py`` renders.
"""
from __future__ import annotations

from ...model import Device, Finding
from ...oauth2 import GOOGLE, MICROSOFT_365, provider_for

CLIENT = "apple"
MAIL, EXCHANGE, GOOGLE_ACCOUNT, NONE = "mail", "exchange", "google", "none"
# The payload each OAuth2 provider gets, by the provider's name (``generator/oauth2.py``).
OAUTH2_KINDS = {MICROSOFT_365.name: EXCHANGE, GOOGLE.name: GOOGLE_ACCOUNT}
NO_PAYLOAD = "apple-no-oauth2-payload"


def account_kind(device: Device) -> str:
    """The payload the device's servers call for: MAIL, EXCHANGE, GOOGLE_ACCOUNT, or NONE (no file).

    An OAuth2 payload is made when the incoming server signs in with OAuth2 at a known provider and the outgoing
    server is that provider's too (the account then sends through the provider: neither OAuth2 payload has a key
    for another SMTP server). Any other mix with OAuth2 has no payload, nor has a provider other than Microsoft 365
    and Google (Yahoo, Fastmail and the rest of ``generator/oauth2.py``).
    """
    incoming, outgoing = device.incoming, device.outgoing
    if "oauth2" not in (incoming.auth, outgoing.auth):
        return MAIL
    provider = provider_for(incoming.host) if incoming.auth == "oauth2" else None
    if provider is None or provider_for(outgoing.host) is not provider:
        return NONE
    return OAUTH2_KINDS.get(provider.name, NONE)     # another known provider: Apple has no payload for it

INSTALL_GOOGLE = {
    "en": "iPhone or iPad: this file is installed through your company's device management (Apple does not let a "
          "Google account be installed by opening the file); then sign in to Google when the device asks.",
    "de": "iPhone oder iPad: Diese Datei wird über die Geräteverwaltung Ihrer Firma installiert (Apple erlaubt nicht, "
          "ein Google-Konto durch Öffnen der Datei zu installieren); danach bei Google anmelden, wenn das Gerät "
          "danach fragt.",
}


# Exchange's payload installs on iPhone and iPad only (Apple's schema, above).
INSTALL_EXCHANGE = {
    "en": "iPhone or iPad: open the file (from mail or AirDrop), then install it under Settings › General › VPN & "
          "Device Management, or receive it through your company's device management; then sign in to Microsoft "
          "when the device asks.",
    "de": "iPhone oder iPad: Datei öffnen (aus einer E-Mail oder per AirDrop) und unter Einstellungen › Allgemein › "
          "VPN und Geräteverwaltung installieren, oder sie kommt über die Geräteverwaltung Ihrer Firma; danach bei "
          "Microsoft anmelden, wenn das Gerät danach fragt.",
}


def oauth2_findings(device: Device, kind: str) -> list[Finding]:
    """What changes for the user when the account signs in with OAuth2, or why there is no file."""
    user, name = device.user.email, device.name
    if kind == NONE:
        own = [server.host for server in (device.incoming, device.outgoing)
               if server.auth == "oauth2" and provider_for(server.host) is None]
        others = [f"{server.host} ({found.name}, {found.issuer})" for server in (device.incoming, device.outgoing)
                  if server.auth == "oauth2" and (found := provider_for(server.host)) is not None
                  and found.name not in OAUTH2_KINDS]
        if own:
            why = (f"{' and '.join(dict.fromkeys(own))} signs in with OAuth2 at the organization's own identity "
                   "provider, and Apple's mail payload has no OAuth2 sign-in (only passwords, CRAM-MD5, NTLM)")
        elif others:
            why = (f"{' and '.join(dict.fromkeys(others))} signs in with OAuth2, and Apple's profiles can carry an "
                   "OAuth2 sign-in only for a Microsoft 365 (Exchange) or Google account; its mail payload has none "
                   "(only passwords, CRAM-MD5, NTLM)")
        else:
            why = (f"its servers mix sign-ins that no one Apple payload covers ({device.incoming.protocol} "
                   f"{device.incoming.host}: {device.incoming.auth}, smtp {device.outgoing.host}: "
                   f"{device.outgoing.auth}; Apple's mail payload has no OAuth2 sign-in, and its Exchange and Google "
                   "payloads send only through their own provider)")
        if others and not own:
            advice = ("Set the account up by hand on the device (iPhone/iPad: Settings > Apps > Mail > Mail Accounts > "
                      "Add Account, choosing the provider where the list names it; Mac: System Settings > Internet "
                      "Accounts), with the settings in the handout.")
        else:
            advice = ("Set the account up by hand on the device (iPhone/iPad: Settings > Apps > Mail > Mail Accounts > "
                      "Add Account; Mac: System Settings > Internet Accounts), with the settings in the handout; if "
                      "the identity provider fronts a Microsoft Exchange server, configure the servers as Exchange "
                      "Online or with the Exchange host instead.")
        return [Finding(NO_PAYLOAD, f"No Apple profile is made for this device: {why}. {advice}", user, name, CLIENT)]
    if kind == EXCHANGE:
        account = (f"an Exchange ActiveSync account ({device.incoming.host}, signed in with OAuth through Microsoft; "
                   "iOS 12 or later; it also syncs contacts, calendars, reminders and notes unless the user turns them "
                   "off), instead of")
    else:
        account = "a Google account (the user signs in to Google on the device), instead of"
    if device.protocol == "pop3":
        archive = ("this device is no POP3 archive: the POP3 retention (leave on server, delete after N days) does "
                   "not apply, the device keeps no copy beyond what the server keeps, and the pattern's archive must "
                   "be kept another way (another device's POP3 account, or the provider's retention or archive)")
    else:
        archive = "the account shows the mailbox on the server, as IMAP would"
    return [Finding(
        f"apple-oauth2-{kind}",
        f"Apple's mail payload has no OAuth2 sign-in, so this device's Apple profile sets up {account} the "
        f"{device.protocol.upper()} account the device profile asks for. Another protocol: {archive}; a Bcc to "
        "the own address is still not in the profile. Apple's schema lists this payload for iPhone, iPad and Apple "
        "Vision Pro only: a Mac refuses it, so on a Mac add the account by hand under System Settings > Internet "
        "Accounts. No password is in the profile: the user signs in when the device asks.",
        user, name, CLIENT)]
