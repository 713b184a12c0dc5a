"""The handout: one printable HTML page per user, in the user's language (``en`` or ``de``), one device per
printed page; and, when the organization asks for it (``group_handouts``), one file per group with the
handouts of all its users, to print at once.

For every device: which file to install and how, the settings for a manual setup (never a
password), and every manual step that the run's warnings call for on that device, as an
instruction to the user. The wording lives in ``templates/handout/lang/<language>.j2``
(a site may override it); the page has no scripts and no external fonts, images or styles.
"""
from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from markupsafe import Markup

from ...model import Device, DeviceFile, Finding, Organization, Pop3Policy, Server, Site
from ...oauth2 import device_sign_ins
from ..engine import render_text
from ..subjects import GroupUsers, UserDevices

FOLDER = "handout"
SECURITY_WORDS = {"ssl": "ssl", "starttls": "starttls", "none": "none"}


def inline_code(text: str) -> Markup:
    """Plain text from the format registry (``&``, ``<``, ``>`` escaped; quotes need no escape between
    elements), with ``code`` in backquotes shown as <code>. Most texts are the same on every page: each is
    made once (a text that names the user is made per user, and the remembered ones are let go now and then)."""
    made = _INLINE_CODE.get(text)
    if made is None:
        parts = [escape(part, quote=False) for part in text.split("`")]
        made = Markup("".join(part if index % 2 == 0 else f"<code>{part}</code>" for index, part in enumerate(parts)))
        if len(_INLINE_CODE) >= 1024:
            _INLINE_CODE.clear()
        _INLINE_CODE[text] = made
    return made


_INLINE_CODE: dict[str, Markup] = {}


def _server(server: Server) -> tuple[str, str, int, str]:
    """How the page shows a server: protocol, host, port and security word."""
    return server.protocol.upper(), server.host, server.port, SECURITY_WORDS[server.security]


def _sign_in(device: Device) -> tuple[str, str, bool, bool] | None:
    """Where the device signs in through the browser (OAuth2): the provider's name and host, whether the
    organization must approve the app, and whether a password is typed too; None for passwords."""
    found = device_sign_ins(device)
    if not found:
        return None
    _, first = found[0]
    return (first.known.name if first.known is not None else device.user.domain, first.issuer,
            first.known is not None and first.known.organization_approval, len(found) < 2)


def _device(device: Device, files: tuple[DeviceFile, ...], findings: list[Finding], later: bool,
            lang: str, full: bool) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """What ``page.j2`` reads of a device, as one tuple in the order its loop unpacks it (``later``: not the page's
    first device, whose section names the user again; ``lang``: the page's language); with ``full``, also the
    device as a dict, what a site's own templates read (None without)."""
    # A client with no file at all: one line saying so; a file not made beside others of its client (Outlook: a PRF
    # where the Autodiscover pair is made) is named as left out.
    clients_made = {file.format for file in files if file.made}
    name, seen = device.name, set()
    # (path, install, instead, skipped, format) of each file named
    file_rows = []
    for file in files:
        format_, made = file.format, file.made
        if made or format_ in clients_made or format_ not in seen:
            file_rows.append((f"{name}/{file.name}", file.install, not made and format_ in clients_made, not made,
                              format_))
        seen.add(format_)
    pop3, login = device.pop3, device.user.login
    # (code, client, days, message) of each manual step
    step_rows = [(f.code, f.client, _step_days(f, pop3), f.message) for f in findings if f.client is not None]
    incoming, outgoing, sign_in = _server(device.incoming), _server(device.outgoing), _sign_in(device)
    archive, days = pop3 is not None and pop3.leave_on_server, pop3.delete_after_days if pop3 is not None else None
    bcc = device.bcc_self
    # The arguments of page.j2's ``servers`` macro, the login, whether the password hint is shown, the sign-in's
    # arguments: unpacked, not looked up value by value
    row = (later, name, device.profile, file_rows, (lang, *incoming, *outgoing), login,
           sign_in is None or sign_in[3], None if sign_in is None else sign_in[:3], step_rows, archive, days, bcc)
    if not full:
        return row, None
    return row, {
        "name": name,
        "profile": device.profile,
        "files": [{"format": format_, "path": path, "install": install, "skipped": skipped, "instead": instead}
                  for path, install, instead, skipped, format_ in file_rows],
        "file_rows": file_rows,
        "incoming": dict(zip(_SERVER_KEYS, (*incoming, login))),
        "outgoing": dict(zip(_SERVER_KEYS, (*outgoing, login))),
        "archive": archive,
        "days": days,
        "bcc": bcc,
        "sign_in": None if sign_in is None else dict(zip(("provider", "issuer", "tenant", "password_too"), sign_in)),
        "steps": [{"code": code, "client": client, "message": message, "days": days}
                  for code, client, days, message in step_rows],
        "step_rows": step_rows,
    }


_SERVER_KEYS = ("protocol", "host", "port", "security", "login")


def _step_days(finding: Finding, pop3: Pop3Policy | None) -> int | None:
    """The days a step names: the POP3 days (None: never delete); for Outlook's Autodiscover retention step 0 where
    nothing is left on the server (the step then says it in the warning's words)."""
    if pop3 is None:
        return None
    if finding.code == "outlook-autodiscover-pop-retention" and not pop3.leave_on_server:
        return 0
    return pop3.delete_after_days


AUTH_NAMES = {"cram-md5": "CRAM-MD5 (encrypted password)", "ntlm": "NTLM"}


def limitations(org: Organization, subject: UserDevices) -> list[Finding]:
    """The page names no authentication method (a manual setup's default is a normal password): said once per
    run and method for servers that ask for another, to the admin, not on each page."""
    return _no_auth(subject.devices)


def group_limitations(org: Organization, subject: GroupUsers) -> list[Finding]:
    """A group's file holds its users' pages: what they cannot say (the same warning, said once)."""
    return _no_auth([device for user in subject.users for device in user.devices])


def _no_auth(devices: Iterable[Device]) -> list[Finding]:
    methods = sorted({(server.protocol, server.auth) for device in devices
                      for server in (device.incoming, device.outgoing) if server.auth in AUTH_NAMES})
    return [Finding(
        "handout-no-auth",
        f"the handouts do not name the authentication method: users who set up a {protocol.upper()} account by "
        f"hand must choose {AUTH_NAMES[auth]} instead of a normal password; tell them, or set it in the files "
        "you deploy.", None, None, FOLDER) for protocol, auth in methods]


def _page(subject: UserDevices, full: bool) -> dict[str, Any]:
    """One user's handout as plain data for ``page.j2`` (its rows); with ``full`` (a site folder, whose templates
    may read them), also its devices and notices as dicts."""
    by_device: dict[str, list[Finding]] = {}
    for finding in subject.findings:
        if finding.device is not None:
            by_device.setdefault(finding.device, []).append(finding)
    lang = subject.user.language
    devices = [_device(d, files, by_device.get(d.name, []), index > 0, lang, full)
               for index, (d, files) in enumerate(zip(subject.devices, subject.files))]
    notice_rows = [(f.code, f.message) for f in subject.findings if f.device is None]
    page: dict[str, Any] = {"user": subject.user, "lang": lang}
    if full:
        page["devices"] = [device for _, device in devices]
        page["notices"] = [{"code": code, "message": message} for code, message in notice_rows]
    page["device_rows"], page["notice_rows"] = [row for row, _ in devices], notice_rows
    return page


def render(site: Site, subject: UserDevices) -> bytes:
    """``subject``: the user, the user's devices and the findings of those devices."""
    page = _page(subject, bool(site.templates_dir))
    # ``user``, ``lang``, ``devices`` and ``notices`` also at the top: what a site's own handout.html.j2 reads
    context = {"org": site.organization, "pages": [page], **page}
    text = render_text(site, FOLDER, "handout.html.j2", context, autoescape=True, filters=(("code", inline_code),))
    return text.encode("utf-8")


def render_group(site: Site, subject: GroupUsers) -> bytes:
    """A group's handouts in one file: each user's page (``page.j2``) in the user's language, one after the
    other; a site template's bounds grow with the number of users."""
    full = bool(site.templates_dir)
    context = {"org": site.organization, "lang": subject.language, "group": subject.group,
               "pages": [_page(user, full) for user in subject.users]}
    text = render_text(site, FOLDER, "group.html.j2", context, autoescape=True, filters=(("code", inline_code),),
                       scale=max(1, len(subject.users)))
    return text.encode("utf-8")


def group_templates(subject: GroupUsers) -> tuple[str, ...]:
    """The templates a group's file is made from: the shell, the page and the wording of each user's language."""
    languages = sorted({subject.language, *(page.user.language for page in subject.users)})
    return ("handout/group.html.j2", "handout/page.j2", *(f"handout/lang/{language}.j2" for language in languages))
