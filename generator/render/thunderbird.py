"""Thunderbird ``prefs.js``: ``user_pref()`` lines creating account, identity and SMTP server."""
from __future__ import annotations

import json

from ..model import Device, Finding, Organization, Site
from .engine import render_text

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
    """Thunderbird's prefs express the whole pattern."""
    return []


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


def render(site: Site, device: Device) -> bytes:
    org = site.organization
    text = render_text(site, CLIENT, "prefs.js.j2", context(org, device), filters=(("js", js_literal),))
    return text.encode("utf-8")
