"""Outlook's Autodiscover answer (POX), read back with libxml2 (through lxml: no DTD, no entity expanded, no network)
and checked against the model; the reading of one file is made once and shared by the verifier and ``read_settings``.

The vocabulary is restated from Microsoft's specification ([MS-OXDSCLI] 2.2.4, the POX response, and Microsoft's
"POX Autodiscover XML elements" pages), not imported from the renderer: the two namespaces, ``AccountType`` email,
``Action`` settings, the ``Protocol`` elements and their on/off values, and ``Encryption`` None / SSL / TLS / Auto,
which overrides ``SSL``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lxml import etree

from ...errors import ReadBackError
from ...model import Device, Organization, Server
from ..subjects import DomainDevices
from .common import Connection, Settings, check_connection, expect

NS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
NS_A = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
TYPES = {"IMAP": "imap", "POP3": "pop3", "SMTP": "smtp"}
# Encryption: None (clear), SSL (implicit TLS), TLS (STARTTLS); Auto lets the client choose.
ENCRYPTION = {"None": "none", "SSL": "ssl", "TLS": "starttls", "Auto": "tls"}
ON_OFF = ("on", "off")
# Every child a Protocol of ours may have: one each; those in ONE_OF_EACH must be there.
PROTOCOL_CHILDREN = ("Type", "Server", "Port", "DomainRequired", "LoginName", "SPA", "SSL", "Encryption",
                     "AuthRequired", "UsePOPAuth", "SMTPLast")
ONE_OF_EACH = ("Type", "Server", "Port", "DomainRequired", "SPA", "SSL", "Encryption", "AuthRequired")
SMTP_ONLY = {"UsePOPAuth": "on", "SMTPLast": "off"}
SPA_FOR = {"ntlm": "on"}       # SPA is NTLM; every other login is a plain one inside TLS
_PROTOCOL_TAGS = frozenset(NS_A + tag for tag in PROTOCOL_CHILDREN)
# Comments and processing instructions are no part of the answer (as Outlook and ElementTree read it); an entity is
# never expanded, nothing is loaded, and a document type declaration is refused after parsing.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
Element = Any       # an lxml element


def parse(content: bytes) -> Element:
    if not content.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n'):
        raise ReadBackError("the file does not start with an XML declaration in UTF-8")
    if b"\r" in content:
        raise ReadBackError("a line ends with CR: the file is written with LF")
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ReadBackError(f"the XML cannot be read: {exc}") from None
    # A document type declaration is written out as "<!DOCTYPE" in the UTF-8 text: only then is there one to see.
    if b"<!DOCTYPE" in content and root.getroottree().docinfo.doctype:
        raise ReadBackError("the XML cannot be read: it has a document type declaration (DTD), which an "
                            "Autodiscover answer never has")
    return root


def _children(parent: Element) -> dict[str, list[Element]]:
    """The elements below ``parent``, by tag (one pass over them)."""
    found: dict[str, list[Element]] = {}
    for child in parent:
        found.setdefault(child.tag, []).append(child)
    return found


def _text(parent: Element, tag: str, required: bool = True, children: dict[str, list[Element]] | None = None) \
        -> str | None:
    """The text of the one ``tag`` below ``parent`` (``children``: its elements by tag, where already known)."""
    found = (children if children is not None else _children(parent)).get(NS_A + tag, [])
    if len(found) > 1 or (required and not found):
        raise ReadBackError(f"<{parent.tag.split('}')[-1]}> needs exactly one <{tag}>")
    if not found:
        return None
    element = found[0]
    if len(element):
        raise ReadBackError(f"<{tag}> holds elements, not text")
    text = element.text or ""
    if not text or text != text.strip():
        raise ReadBackError(f"<{tag}> is empty or has blanks around its text: {text!r}")
    return text


# The answer in its plain form: the layout the renderer writes, each value one or more words of characters that
# need no escape in XML text, or one of the five escapes XML predefines (as ``&amp;`` and ``&#39;``), with single
# spaces between the words. Such a file is read in one pass of these patterns, without a parser: what it says is
# plain in its text (no comment, no CDATA, no other entity, no character XML forbids, no blank around a value). Any
# other file goes to libxml2 (:func:`read`'s general path), which reads it or says what is wrong.
_ESCAPES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#34;": '"', "&apos;": "'", "&#39;": "'"}
_CHARACTERS = r"[^\s<>&\x00-\x1f\x7f-\x9f\ufffe\uffff]"
_ENTITY = "&(?:amp|lt|gt|quot|#34|apos|#39);"
# A word: characters and escapes, read without going back (a run of characters ends only at an escape).
_WORD = f"(?:{_CHARACTERS}|{_ENTITY}){_CHARACTERS}*(?:{_ENTITY}{_CHARACTERS}*)*"
_VALUE = f"({_WORD}(?: {_WORD})*)"
_ESCAPE = re.compile("|".join(_ESCAPES))


def _element(indent: int, tag: str, value: str = _VALUE) -> str:
    return f"{' ' * indent}<{tag}>{value}</{tag}>\n"


_QUICK_HEAD = re.compile(
    '<\\?xml version="1\\.0" encoding="utf-8"\\?>\n'
    f'<Autodiscover xmlns="{re.escape(NS[1:-1])}">\n'
    f'  <Response xmlns="{re.escape(NS_A[1:-1])}">\n'
    f"(?:    <User>\n{_element(6, 'DisplayName')}{_element(6, 'AutoDiscoverSMTPAddress')}    </User>\n)?"
    f"    <Account>\n{_element(6, 'AccountType', 'email')}{_element(6, 'Action', 'settings')}")
# One <Protocol>: its elements in the order of PROTOCOL_CHILDREN, the optional ones (LoginName; UsePOPAuth with
# SMTPLast) in their places.
_QUICK_PROTOCOL = re.compile(
    "      <Protocol>\n"
    + "".join(_element(8, tag) for tag in PROTOCOL_CHILDREN[:4])
    + f"(?:{_element(8, 'LoginName')})?"
    + "".join(_element(8, tag) for tag in PROTOCOL_CHILDREN[5:9])
    + f"(?:{_element(8, 'UsePOPAuth')}{_element(8, 'SMTPLast')})?"
    + "      </Protocol>\n")
_QUICK_TAIL = "    </Account>\n  </Response>\n</Autodiscover>\n"


def _unescaped(value: str) -> str:
    return _ESCAPE.sub(lambda found: _ESCAPES[found[0]], value)


def _quick_read(content: bytes) -> tuple[dict[str, str] | None, list[dict[str, str]]] | None:
    """What :func:`read` reads from an answer in its plain form (see above), in one pass; None for any other file
    (which :func:`read` then reads with libxml2, to read it or say what is wrong)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _QUICK_HEAD.match(text)
    if head is None:
        return None
    escaped = "&" in text
    name, email = head.groups()
    user = None if name is None else {"name": _unescaped(name), "email": _unescaped(email)} if escaped \
        else {"name": name, "email": email}
    protocols = []
    at = head.end()
    match = _QUICK_PROTOCOL.match(text, at)
    while match is not None:
        protocols.append({tag: _unescaped(value) if escaped else value
                          for tag, value in zip(PROTOCOL_CHILDREN, match.groups()) if value is not None})
        at = match.end()
        match = _QUICK_PROTOCOL.match(text, at)
    if text[at:] != _QUICK_TAIL:
        return None
    return user, protocols


@lru_cache(maxsize=16)
def read(content: bytes) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
    """(the <User> as {name, email} or None, each <Protocol> as {element: text}); read once per file (the verifier
    and ``read_settings`` share it: neither changes it)."""
    quick = _quick_read(content)
    if quick is not None:
        return quick
    root = parse(content)
    if root.tag != NS + "Autodiscover" or set(root.attrib):
        raise ReadBackError(f"the root is {root.tag}, not <Autodiscover> in the 2006 response namespace")
    if [child.tag for child in root] != [NS_A + "Response"]:
        raise ReadBackError("<Autodiscover> must hold exactly one <Response> in the outlook/2006a namespace")
    response = root[0]
    tags = [child.tag for child in response]
    if tags not in ([NS_A + "Account"], [NS_A + "User", NS_A + "Account"]):
        raise ReadBackError(f"<Response> holds {[t.split('}')[-1] for t in tags]}, expected [User,] Account")
    user = None
    if tags[0] == NS_A + "User":
        element = response[0]
        if sorted(child.tag for child in element) != [NS_A + "AutoDiscoverSMTPAddress", NS_A + "DisplayName"]:
            raise ReadBackError("<User> must hold exactly <DisplayName> and <AutoDiscoverSMTPAddress>")
        in_user = _children(element)
        user = {"name": str(_text(element, "DisplayName", children=in_user)),
                "email": str(_text(element, "AutoDiscoverSMTPAddress", children=in_user))}
    account = response[-1]
    in_account = _children(account)
    if _text(account, "AccountType", children=in_account) != "email" or \
            _text(account, "Action", children=in_account) != "settings":
        raise ReadBackError("<Account> must say <AccountType>email</AccountType> and <Action>settings</Action>")
    protocols = []
    for child in account:
        if child.tag in (NS_A + "AccountType", NS_A + "Action"):
            continue
        if child.tag != NS_A + "Protocol":
            raise ReadBackError(f"<Account> holds <{child.tag.split('}')[-1]}>, which is no POP3/IMAP account's")
        children: dict[str, list[Element]] = {}
        unknown = set()
        for element in child:       # one pass: each element's tag read once
            tag = element.tag
            if tag in _PROTOCOL_TAGS:
                children.setdefault(tag, []).append(element)
            else:
                unknown.add(tag.split("}")[-1])
        if unknown:
            raise ReadBackError(f"<Protocol> holds elements we never write: {sorted(unknown)}")
        values = {tag: _text(child, tag, tag in ONE_OF_EACH, children) for tag in PROTOCOL_CHILDREN}
        protocols.append({tag: value for tag, value in values.items() if value is not None})
    return user, protocols


_ON_OFF_TAGS = ("DomainRequired", "SPA", "SSL", "AuthRequired", *SMTP_ONLY)


def _connection(protocol: dict[str, str], problems: list[str]) -> tuple[Connection, str]:
    """The connection a Protocol describes, and its SPA value; rule breaks go to ``problems`` (each message made
    only where there is one)."""
    kind = protocol["Type"]
    if kind not in TYPES:
        raise ReadBackError(f"<Type>{kind}</Type> is not IMAP, POP3 or SMTP")
    port = protocol["Port"]
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ReadBackError(f"{kind} <Port> {port!r} is not 1..65535")
    security = ENCRYPTION.get(protocol["Encryption"])
    if security is None:
        raise ReadBackError(f"{kind} <Encryption> {protocol['Encryption']!r} is not None, SSL, TLS or Auto")
    for tag in _ON_OFF_TAGS:
        value = protocol.get(tag)
        if value is not None and value not in ON_OFF:
            problems.append(f"{kind} <{tag}> is {value!r}, not on or off")
    # Encryption overrides SSL; SSL still says whether TLS is used, for a client that reads only SSL.
    ssl = "off" if security == "none" else "on"
    if protocol["SSL"] != ssl:
        expect(problems, f"{kind} <SSL>", protocol["SSL"], ssl)
    if protocol["DomainRequired"] != "off":
        expect(problems, f"{kind} <DomainRequired>", protocol["DomainRequired"], "off")
    if protocol["AuthRequired"] != "on":
        expect(problems, f"{kind} <AuthRequired>", protocol["AuthRequired"], "on")
    smtp = kind == "SMTP"
    for tag, wanted in SMTP_ONLY.items():
        found = protocol.get(tag)
        if found != (wanted if smtp else None):
            expect(problems, f"{kind} <{tag}>", found, wanted if smtp else None)
    return Connection(TYPES[kind], protocol["Server"], int(port), security, protocol.get("LoginName", "")), \
        protocol["SPA"]


@lru_cache(maxsize=16)
def _connections(content: bytes) -> tuple[tuple[tuple[Connection, str], ...], tuple[str, ...]]:
    """:func:`_connection` of each <Protocol> of the file, and the rule breaks they show; read once per file."""
    problems: list[str] = []
    connections = tuple(_connection(p, problems) for p in read(content)[1])
    return connections, tuple(problems)


@lru_cache(maxsize=16)
def read_settings(content: bytes) -> Settings:
    """The connection of a user's answer (read once per file: the verifier's reading and the cross-check's)."""
    user, protocols = read(content)
    if user is None:
        raise ReadBackError("a user's answer has a <User>")
    connections = [connection for connection, _ in _connections(content)[0]]
    if [c.protocol for c in connections] not in (["imap", "smtp"], ["pop3", "smtp"]):
        raise ReadBackError(f"a user's answer lists {[c.protocol for c in connections]}, expected IMAP or POP3, "
                            "then SMTP")
    return Settings(connections[0], connections[1], user["email"], user["name"])


def verify_device(content: bytes, org: Organization, device: Device) -> list[str]:
    connections, found = _connections(content)     # reads the file first: what cannot be read is said first
    settings = read_settings(content)
    problems = list(found)
    check_connection(problems, settings, device)
    user = device.user
    if settings.email != user.email:
        expect(problems, "<AutoDiscoverSMTPAddress>", settings.email, user.email)
    if settings.name != user.name:
        expect(problems, "<DisplayName>", settings.name, user.name)
    for what, (_, value), server in zip(("incoming", "outgoing"), connections, (device.incoming, device.outgoing)):
        wanted = SPA_FOR.get(server.auth, "off")
        if value != wanted:
            expect(problems, f"{what} <SPA>", value, wanted)
    return problems


def verify_domain(content: bytes, org: Organization, subject: DomainDevices) -> list[str]:
    user, protocols = read(content)
    problems: list[str] = []
    if user is not None:
        problems.append("a domain's answer names a <User>: it is the same for every user")
    used: dict[str, set[Server]] = {}
    for device in subject.devices:
        used.setdefault(device.protocol, set()).add(device.incoming)
        used.setdefault("smtp", set()).add(device.outgoing)
    kinds = []
    for protocol in protocols:
        connection, spa = _connection(protocol, problems)
        kinds.append(connection.protocol)
        if connection.login:
            problems.append(f"{connection.protocol} has a <LoginName> {connection.login!r}: a domain's answer is no "
                            "user's")
        servers = [s for s in used.get(connection.protocol, ())
                   if (s.host, s.port, s.security) == (connection.host, connection.port, connection.security)
                   and SPA_FOR.get(s.auth, "off") == spa]
        if not servers:
            problems.append(f"{connection.protocol} {connection.host}:{connection.port} {connection.security} "
                            f"SPA {spa} is no device's server")
    wanted = [p for p in ("imap", "pop3", "smtp") if p in used]
    if kinds != wanted:
        problems.append(f"protocols listed {kinds}, expected {wanted}")
    return problems
