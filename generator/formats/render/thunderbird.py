"""Thunderbird ``prefs.js``: ``user_pref()`` lines creating account, identity and SMTP server."""
from __future__ import annotations

import hashlib
import json

from ...model import Device, Finding, Organization, Site
from ..engine import render_text

CLIENT = "thunderbird"

# nsMsgSocketType: incoming socketType and SMTP try_ssl. 1 (legacy "if available") is never generated.
SOCKET_TYPE = {"none": 0, "starttls": 2, "ssl": 3}
# nsMsgAuthMethod, as in the account settings UI.
AUTH_METHOD = {"password": 3, "cram-md5": 4, "ntlm": 6}


def js_literal(value: object) -> str:
    """A JavaScript literal: strings quoted and escaped, ints and booleans bare."""
    if isinstance(value, bool) or isinstance(value, int):
        return json.dumps(value)
    if not isinstance(value, str):
        raise TypeError(f"prefs.js cannot carry {type(value).__name__}")
    # json.dumps escapes \\, " and every control character; U+2028/U+2029 end a line in old JS parsers.
    return json.dumps(value, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def limitations(org: Organization, device: Device) -> list[Finding]:
    """prefs.js expresses the whole pattern; a user.js cannot add an outgoing server to a profile in use."""
    if device.setting("thunderbird_file") != "user.js":
        return []
    smtp = device.outgoing
    return [Finding(
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
