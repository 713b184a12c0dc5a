"""The handout: one printable HTML page per user, in the user's language (``en`` or ``de``).

For every device: which file to install and how, the settings for a manual setup (never a
password), and every manual step that the run's warnings call for on that device, as an
instruction to the user. The wording lives in ``templates/handout/lang/<language>.j2``
(a site may override it); the page has no scripts and no external fonts, images or styles.
"""
from __future__ import annotations

from typing import Any

from ..model import Device, Finding, Site
from .engine import render_text

FOLDER = "handout"
SECURITY_WORDS = {"ssl": "ssl", "starttls": "starttls", "none": "none"}
# How each device format is installed, by format name (the wording is in the language template).
INSTALL = {"thunderbird": "thunderbird-prefs", "apple": "apple", "outlook": "outlook"}
FILES = {"thunderbird": "prefs.js", "apple": "mail.mobileconfig", "outlook": "outlook.prf"}


def _server(server: Any, login: str) -> dict[str, Any]:
    return {"protocol": server.protocol.upper(), "host": server.host, "port": server.port,
            "security": SECURITY_WORDS[server.security], "login": login}


def _device(device: Device, findings: list[Finding]) -> dict[str, Any]:
    skipped = {f.client for f in findings if f.code == "outlook-incoming-starttls"}
    names = dict(FILES, thunderbird=str(device.setting("thunderbird_file")))
    install = dict(INSTALL, thunderbird="thunderbird-" + names["thunderbird"].split(".")[0])
    files = [{"format": client, "path": f"{device.name}/{names[client]}", "install": install[client],
              "skipped": client in skipped} for client in device.clients]
    pop3 = device.pop3
    return {
        "name": device.name,
        "profile": device.profile,
        "files": files,
        "incoming": _server(device.incoming, device.user.login),
        "outgoing": _server(device.outgoing, device.user.login),
        "archive": pop3 is not None and pop3.leave_on_server,
        "days": pop3.delete_after_days if pop3 is not None else None,
        "bcc": device.bcc_self,
        "steps": [{"code": f.code, "client": f.client, "message": f.message} for f in findings
                  if f.client is not None],
    }


def render(site: Site, subject: Any) -> bytes:
    """``subject``: the user, the user's devices and the findings of those devices."""
    user = subject.user
    by_device: dict[str, list[Finding]] = {}
    for finding in subject.findings:
        if finding.device is not None:
            by_device.setdefault(finding.device, []).append(finding)
    context = {
        "org": site.organization,
        "user": user,
        "lang": user.language,
        "devices": [_device(d, by_device.get(d.name, [])) for d in subject.devices],
        "notices": [{"code": f.code, "message": f.message} for f in subject.findings if f.device is None],
    }
    text = render_text(site, FOLDER, "handout.html.j2", context, autoescape=True)
    return text.encode("utf-8")
