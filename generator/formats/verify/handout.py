"""The handout, read back with libxml2's HTML parser (through lxml), as a browser builds the page; a group's
file is its users' handouts, each in its own ``<article>``, each held to the same rules.

A page for a person at a device: self-contained (no script, no frame or object, no event
handler, no style or link or image that loads anything from elsewhere), one ``<html lang>``
that is the user's language, and every setting a manual setup needs (incoming and outgoing
protocol, host, port and security for every device, the login, the user's name) present in its
text, one manual step per warning about a device (a ``<li>`` in the device's ``<section>``'s ``<ol>``:
what its files cannot set), and no password.

The page is parsed once into a tree (C code); what is checked is picked from it with compiled
XPath expressions, so no Python runs per tag. The parser never loads anything (``no_network``)
and keeps what a browser keeps: a second ``<html>`` tag adds nothing a browser would not merge
into the first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ...errors import ReadBackError
from ...model import Organization
from ...oauth2 import sign_in
from ..subjects import GroupUsers, UserDevices

FORBIDDEN_TAGS = ("script", "iframe", "frame", "object", "embed", "link", "img", "base", "form")
LOADING_ATTRIBUTES = ("src", "href", "srcset", "action", "data")
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
_CSS_EXTERNAL = re.compile(r"url\(|@import", re.IGNORECASE)
_PARSER = etree.HTMLParser(no_network=True, default_doctype=False)
# Every attribute of the page (a page has few: picking the ones that run or load something, event handlers, the
# loading attributes and style, from them in Python takes half the time of a predicate in the path).
_ATTRIBUTES = etree.XPath("//@*")
_WATCHED = frozenset(("style", *LOADING_ATTRIBUTES))
_WALKED = ("meta", "style", *FORBIDDEN_TAGS)
# Per <section> the <li> inside an <ol>, in document order (a union of paths is in document order).
_SECTIONS_AND_STEPS = etree.XPath("descendant-or-self::section | descendant-or-self::li[ancestor::ol]")


@dataclass(slots=True)
class Article:
    """One user's handout: an ``<article>`` of the page."""

    lang: str               # its lang attribute
    text: str               # its visible text, blanks folded
    codes: list[str]        # the text of each <code>
    steps: list[int]        # per device <section>: the <li> of its <ol>


@dataclass(slots=True)
class Page:
    lang: list[str]         # the <html lang> values
    problems: list[str]     # what a self-contained page must not have
    articles: list[Article]  # the users' handouts, in order (what is checked of a page is in them)


def _text(element: Any) -> str:
    """The text of an element and all below it (not its tail)."""
    if not len(element):
        return str(element.text or "")
    return str(etree.tostring(element, method="text", encoding=str, with_tail=False))


def _loads(root: Any) -> tuple[list[str], bool]:
    """What makes the page load or run anything: forbidden tags, event handlers, links and styles to elsewhere;
    and whether a style sheet sits in an ``<article>`` (whose text it must not be part of)."""
    problems: list[str] = []
    sheets, meta_equiv = [], False
    # One walk for the forbidden tags (in document order), <meta> and <style>.
    for element in root.iter(*_WALKED):
        tag = element.tag
        if tag == "meta":
            meta_equiv = meta_equiv or element.get("http-equiv") is not None
        elif tag == "style":
            sheets.append(element)
        else:
            problems.append(f"<{tag}> is not allowed in a self-contained page")
    for attribute in _ATTRIBUTES(root):
        name = attribute.attrname
        if not name.startswith("on") and name not in _WATCHED:
            continue
        tag = attribute.getparent().tag
        if name.startswith("on"):
            problems.append(f"<{tag}> has the event handler {name}")
        elif name == "style":
            if _css_loads(attribute):
                problems.append(f"<{tag} style> loads from elsewhere")
        elif _EXTERNAL.match(attribute):
            problems.append(f"<{tag} {name}> loads {str(attribute)[:60]!r} from elsewhere")
    if meta_equiv:
        problems.append("<meta http-equiv> is not allowed")
    if any(_css_loads(_text(sheet)) for sheet in sheets):
        problems.append("the style sheet loads from elsewhere (url() or @import)")
    return problems, any(next(sheet.iterancestors("article"), None) is not None for sheet in sheets)


def _css_loads(css: str) -> bool:
    """CSS that loads from elsewhere: ``url(`` or ``@import`` (neither is there without its ``(`` or ``@``)."""
    return ("(" in css or "@" in css) and _CSS_EXTERNAL.search(css) is not None


def _steps(root: Any) -> list[int]:
    """Per <section>, in document order: the <li> inside an <ol> up to the next <section>."""
    steps: list[int] = []
    for element in _SECTIONS_AND_STEPS(root):
        if element.tag == "section":
            steps.append(0)
        elif steps:
            steps[-1] += 1
    return steps


def _folded(article: Any) -> str:
    """The article's text, its blanks (what ``str.split`` takes for one) folded to one space. Where the text has
    no blank but XML's four (space, tab, CR, LF), libxml2's ``normalize-space`` says the same without a Python
    string per word; the bytes that could be part of another blank are picked out first, in C."""
    raw = etree.tostring(article, method="text", encoding="utf-8", with_tail=False)
    picked = raw.translate(None, _NOT_IN_OTHER_BLANKS)
    if picked and _ANY_OTHER_BLANK.search(picked) is not None:
        return " ".join(raw.decode("utf-8").split())
    return str(_NORMALIZED(article))


# Every character ``str.split`` takes as a blank beside XML's four; a test holds the list to the Unicode data of
# the Python that runs it. A text without any byte of their UTF-8 has none of them (with such bytes, it may).
OTHER_BLANKS = "\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
               "\u200a\u2028\u2029\u202f\u205f\u3000"
_OTHER_BLANKS_UTF8 = tuple(blank.encode("utf-8") for blank in OTHER_BLANKS)
_NOT_IN_OTHER_BLANKS = bytes(sorted(set(range(256)) - set(b"".join(_OTHER_BLANKS_UTF8))))
# Any of their UTF-8 forms, in one search of the picked bytes (a few dozen where the text has typographic marks).
_ANY_OTHER_BLANK = re.compile(b"|".join(re.escape(blank) for blank in _OTHER_BLANKS_UTF8))
_NORMALIZED = etree.XPath("normalize-space(.)", smart_strings=False)


def read(content: bytes) -> Page:
    """The page as a browser reads it (UTF-8, as its ``<meta charset>`` says)."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadBackError(f"the page is not UTF-8 (byte {exc.start})") from None
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.LxmlError as exc:
        raise ReadBackError(f"the page cannot be parsed: {exc}") from None
    if root is None or root.tag != "html":
        raise ReadBackError("the page has no <html> element")
    problems, sheet_in_article = _loads(root)
    if sheet_in_article:
        etree.strip_elements(root, "style", with_tail=False)     # the style sheet is no text on the page
    # A <code> without child elements (each of a page's) is its .text (None where it is empty)
    articles = [Article(article.get("lang") or "", _folded(article),
                        [code.text or "" if not len(code) else _text(code) for code in article.iter("code")],
                        _steps(article))
                for article in root.iter("article")]
    return Page([root.get("lang") or ""], problems, articles)


# How the page names the security after the port: the same words in every language, but for "none".
SECURITY_WORDS = {"ssl": "SSL/TLS", "starttls": "STARTTLS"}


def verify(content: bytes, org: Organization, subject: UserDevices) -> list[str]:
    """One user's page: in the user's language, with one article, the user's handout."""
    if not content.startswith(b"<!DOCTYPE html>"):
        return ["the page does not start with <!DOCTYPE html>"]
    page = read(content)
    problems = list(page.problems)
    if page.lang != [subject.user.language]:
        problems.append(f"<html lang> is {page.lang}, expected [{subject.user.language!r}]")
    if len(page.articles) != 1:
        return [*problems, f"the page has {len(page.articles)} <article> handouts, expected 1"]
    return problems + _check_user(page.articles[0], subject)


def verify_group(content: bytes, org: Organization, subject: GroupUsers) -> list[str]:
    """A group's file: in the organization's language, one article per user of the group in order, each a
    complete handout in its user's language."""
    if not content.startswith(b"<!DOCTYPE html>"):
        return ["the page does not start with <!DOCTYPE html>"]
    page = read(content)
    problems = list(page.problems)
    if page.lang != [subject.language]:
        problems.append(f"<html lang> is {page.lang}, expected [{subject.language!r}]")
    if len(page.articles) != len(subject.users):
        return [*problems, f"the file has {len(page.articles)} <article> handouts, expected {len(subject.users)} "
                           f"(the users of group {subject.group!r})"]
    for article, user in zip(page.articles, subject.users):
        problems.extend(f"{user.user.email}: {problem}" for problem in _check_user(article, user))
    return problems


def _check_user(article: Article, subject: UserDevices) -> list[str]:
    """Every rule of one user's handout, against the article that holds it."""
    problems: list[str] = []
    text, user = article.text, subject.user
    if article.lang != user.language:
        problems.append(f"<article lang> is {article.lang!r}, expected {user.language!r}")
    for needed in (user.email, user.name):
        if needed not in text:
            problems.append(f"{needed!r} is not on the page")
    if user.login not in article.codes:
        problems.append(f"the login {user.login!r} is not on the page (as code)")
    # A user's devices mostly share their servers: each server is looked for once on the page
    found: dict[tuple[str, str, int], re.Match[str] | None] = {}
    for device in subject.devices:
        if device.name not in text:
            problems.append(f"device {device.name!r} is not on the page")
        for server in (device.incoming, device.outgoing):
            key = (server.protocol, server.host, server.port)
            if key in found:
                shown = found[key]
            else:
                shown = found[key] = _shown(*key).search(text)
            if not shown:
                problems.append(f"{device.name}: {server.protocol} {server.host}:{server.port} is not on the page")
            elif (shown.group(1) if shown.group(1) in SECURITY_WORDS.values() else "none") != \
                    SECURITY_WORDS.get(server.security, "none"):
                problems.append(f"{device.name}: {server.protocol} {server.host}:{server.port} is shown with "
                                f"{shown.group(1)!r}, the security is {server.security}")
    for device in subject.devices:
        issuers = {found.issuer for found in (sign_in(s, device.oauth2) for s in (device.incoming, device.outgoing))
                   if found is not None}
        for issuer in sorted(issuers - set(article.codes)):
            problems.append(f"{device.name}: signs in with OAuth2 at {issuer}, which the page does not name (as code)")
    wanted = [len([f for f in subject.findings if f.device == device.name and f.client is not None])
              for device in subject.devices]
    if article.steps != wanted:
        problems.append(f"manual steps per device: {article.steps}, expected {wanted} (one per warning)")
    return problems


def _shown(protocol: str, host: str, port: int) -> re.Pattern[str]:
    """How the page shows a server: ``(PROTOCOL) host, <word> port, <security>``; compiled once per server."""
    key = (protocol, host, port)
    pattern = _SHOWN.get(key)
    if pattern is None:
        if len(_SHOWN) >= 1024:
            _SHOWN.clear()
        pattern = _SHOWN[key] = re.compile(r"\(" + protocol.upper() + r"\)\s*" + re.escape(host) + r"\s*,\s*\w+\s+"
                                           + str(port) + r"\s*,\s*(\S+)")
    return pattern


_SHOWN: dict[tuple[str, str, int], re.Pattern[str]] = {}
