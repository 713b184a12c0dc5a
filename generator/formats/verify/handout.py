"""The handout, read back with the standard library's HTML parser.

A page for a person at a device: self-contained (no script, no frame or object, no event
handler, no style or link or image that loads anything from elsewhere), one ``<html lang>``
that is the user's language, and every setting a manual setup needs (incoming and outgoing
protocol, host, port and security for every device, the login, the user's name) present in its
text, one manual step per warning about a device (a ``<li>`` in the device's ``<section>``'s ``<ol>``:
what its files cannot set), and no password.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

from ...model import Organization
from ...oauth2 import sign_in
from ..subjects import UserDevices

FORBIDDEN_TAGS = {"script", "iframe", "frame", "object", "embed", "link", "img", "base", "form", "meta-refresh"}
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
_CSS_EXTERNAL = re.compile(r"url\(|@import", re.IGNORECASE)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.lang: list[str] = []
        self.steps: list[int] = []       # per <section>: the <li> of its <ol>
        self.codes: list[str] = []       # the text of each <code>
        self._in_style = False
        self._in_code = False
        self._in_ol = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> is not allowed in a self-contained page")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag}> has the event handler {name}")
            if name in ("src", "href", "srcset", "action", "data") and value and _EXTERNAL.match(value):
                self.problems.append(f"<{tag} {name}> loads {value[:60]!r} from elsewhere")
            if name == "style" and value and _CSS_EXTERNAL.search(value):
                self.problems.append(f"<{tag} style> loads from elsewhere")
        if tag == "meta" and any(n == "http-equiv" for n, _ in attrs):
            self.problems.append("<meta http-equiv> is not allowed")
        if tag == "html":
            self.lang.append(dict(attrs).get("lang") or "")
        if tag == "section":
            self.steps.append(0)
        elif tag == "ol":
            self._in_ol = True
        elif tag == "li" and self._in_ol and self.steps:
            self.steps[-1] += 1
        if tag == "code":
            self._in_code = True
            self.codes.append("")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if tag == "ol":
            self._in_ol = False
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            if _CSS_EXTERNAL.search(data):
                self.problems.append("the style sheet loads from elsewhere (url() or @import)")
            return
        if self._in_code:
            self.codes[-1] += data
        self.text.append(data)


def _read(content: bytes) -> _Reader:
    reader = _Reader()
    reader.feed(content.decode("utf-8"))
    reader.close()
    return reader


def read_text(content: bytes) -> tuple[str, list[str], list[str]]:
    """(visible text with blanks folded, the html lang values, structural problems)."""
    reader = _read(content)
    text = " ".join(" ".join(reader.text).split())
    return text, reader.lang, reader.problems


# How the page names the security after the port: the same words in every language, but for "none".
SECURITY_WORDS = {"ssl": "SSL/TLS", "starttls": "STARTTLS"}


def verify(content: bytes, org: Organization, subject: UserDevices) -> list[str]:
    if not content.startswith(b"<!DOCTYPE html>"):
        return ["the page does not start with <!DOCTYPE html>"]
    reader = _read(content)
    text, langs, problems = " ".join(" ".join(reader.text).split()), reader.lang, reader.problems
    user = subject.user
    if langs != [user.language]:
        problems.append(f"<html lang> is {langs}, expected [{user.language!r}]")
    for needed in (user.email, user.name):
        if needed not in text:
            problems.append(f"{needed!r} is not on the page")
    if user.login not in reader.codes:
        problems.append(f"the login {user.login!r} is not on the page (as code)")
    for device in subject.devices:
        if device.name not in text:
            problems.append(f"device {device.name!r} is not on the page")
        for server in (device.incoming, device.outgoing):
            shown = re.search(r"\(" + server.protocol.upper() + r"\)\s*" + re.escape(server.host) + r"\s*,\s*\w+\s+"
                              + str(server.port) + r"\s*,\s*(\S+)", text)
            if not shown:
                problems.append(f"{device.name}: {server.protocol} {server.host}:{server.port} is not on the page")
            elif (shown.group(1) if shown.group(1) in SECURITY_WORDS.values() else "none") != \
                    SECURITY_WORDS.get(server.security, "none"):
                problems.append(f"{device.name}: {server.protocol} {server.host}:{server.port} is shown with "
                                f"{shown.group(1)!r}, the security is {server.security}")
    for device in subject.devices:
        issuers = {found.issuer for found in (sign_in(s, device.oauth2) for s in (device.incoming, device.outgoing))
                   if found is not None}
        for issuer in sorted(issuers - set(reader.codes)):
            problems.append(f"{device.name}: signs in with OAuth2 at {issuer}, which the page does not name (as code)")
    wanted = [len([f for f in subject.findings if f.device == device.name and f.client is not None])
              for device in subject.devices]
    if reader.steps != wanted:
        problems.append(f"manual steps per device: {reader.steps}, expected {wanted} (one per warning)")
    return problems
