"""Apple ``.mobileconfig``: a Configuration profile with one ``com.apple.mail.managed`` payload."""
from __future__ import annotations

from ...model import IMPLICIT_TLS_PORTS, Device, Finding, Organization, Site
from ..engine import render_text
from .uuids import stable_uuid

CLIENT = "apple"

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


def limitations(org: Organization, device: Device) -> list[Finding]:
    found = []
    user, name = device.user.email, device.name
    if device.bcc_self:
        found.append(Finding(
            "apple-no-bcc",
            "Apple's mail payload has no key for a Bcc to the own address. On iPhone/iPad the user must turn on "
            "Settings > Apps > Mail > Always Bcc Myself; in macOS Mail, Settings > Composing > Automatically Bcc "
            "myself. Alternatively the mail server can copy each submitted message to the sender.",
            user, name, CLIENT))
    if device.pop3 is not None:
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
    for server in (device.incoming, device.outgoing):
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
    found.extend(fetch_schedule(device))
    if device.signature is not None:
        found.append(Finding(
            "apple-no-signature",
            "Apple's mail payload has no key for a signature. On iPhone/iPad the user sets it in Settings > Apps > "
            "Mail > Signature; in macOS Mail, Settings > Signatures.",
            user, name, CLIENT))
    return found


# Apple's fixed fetch schedules (iPhone/iPad: Settings > Apps > Mail > Mail Accounts > Fetch New Data; macOS
# Mail offers these and more), by minutes.
FETCH_CHOICES = {15: "Every 15 Minutes", 30: "Every 30 Minutes", 60: "Hourly"}


def fetch_schedule(device: Device) -> list[Finding]:
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
            "Apple's mail payload has no key for when mail is fetched, and the device fetches new mail by itself. "
            f"To fetch only when the user asks, the user must choose Manually {ways}.",
            device.user.email, device.name, CLIENT)]
    minutes = device.check_interval_minutes
    choice = min(FETCH_CHOICES, key=lambda choice: (abs(choice - minutes), -choice))
    return [Finding(
        "apple-no-fetch-schedule",
        f"Apple's mail payload has no key for when mail is fetched: Apple devices that should check every {minutes} "
        f"minutes keep their own schedule (Automatically: when the system sees fit). Where a device must keep to "
        f"the interval, its user chooses {FETCH_CHOICES[choice]} (the nearest fixed choice) {ways}; the handouts do "
        "not ask for it.", None, None, CLIENT)]


def payload(org: Organization, device: Device) -> dict[str, dict[str, object]]:
    """The values of the profile, as plain data for the template."""
    user = device.user
    profile_uuid = stable_uuid(org.identifier, user.email, device.name, "profile")
    mail_uuid = stable_uuid(org.identifier, user.email, device.name, "mail")
    identifier = f"{org.identifier}.mailprofiles.{profile_uuid.lower()}"
    protocol = "IMAP" if device.protocol == "imap" else "POP3"
    return {
        "profile": {
            "display_name": f"{org.name}: {user.email} ({device.name})",
            "description": f"{protocol} mail account {user.email} for {user.name} on device {device.name}.",
            "identifier": identifier,
            "organization": org.name,
            "uuid": profile_uuid,
        },
        "mail": {
            "account_description": f"{org.name} ({user.email})",
            "account_name": user.name,
            "account_type": ACCOUNT_TYPE[device.protocol],
            "address": user.email,
            "in_auth": AUTHENTICATION[device.incoming.auth],
            "in_host": device.incoming.host,
            "in_port": device.incoming.port,
            "in_ssl": USE_SSL[device.incoming.security],
            "in_user": user.login,
            "out_auth": AUTHENTICATION[device.outgoing.auth],
            "out_host": device.outgoing.host,
            "out_port": device.outgoing.port,
            "out_ssl": USE_SSL[device.outgoing.security],
            "out_user": user.login,
            "display_name": f"{protocol} account {user.email}",
            "description": f"Mail account {user.email} ({protocol} {device.incoming.host}, "
                           f"SMTP {device.outgoing.host})",
            "identifier": f"{identifier}.mail",
            "uuid": mail_uuid,
        },
    }


def render(site: Site, device: Device) -> bytes:
    org = site.organization
    text = render_text(site, CLIENT, "mail.mobileconfig.j2", payload(org, device), autoescape=True)
    plist = text.encode("utf-8")
    return site.signer.sign(plist) if site.signer is not None else plist
