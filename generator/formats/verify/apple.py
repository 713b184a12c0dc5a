""".mobileconfig: its plist read from libxml2's tree (through lxml), then every key checked against Apple's payload
schema.

The plist is read by its own small reader over the element tree, by Apple's DTD (PropertyList-1.0.dtd: ``plist``
holds one value; a ``dict`` holds ``key`` and value pairs; ``array``, ``string``, ``integer``, ``real``, ``true``,
``false``, ``date``, ``data``) and stricter than plistlib where a profile of ours can only be wrong: a key twice, a
key without a value, text between elements, or any other element is refused. The parser loads no DTD, expands no
entity and reaches no network.

The profile holds one account payload, whose type follows from how the device's servers sign in, restated here
from Apple's schema files (apple/device-management, branch ``release``, commit
b6202ca2fbd31286a52eb160b67a4db7b4fe1f1f; copies in tests/apple/): ``com.apple.mail.managed`` for passwords
(its authentication keys list no OAuth method), ``com.apple.eas.account`` with ``OAuth`` true for OAuth2 at
Microsoft 365, ``com.apple.google-oauth`` for OAuth2 at Google ("The payload never contains credentials").
"""
from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from ...errors import ReadBackError
from ...model import Device, Organization
from ...oauth2 import GOOGLE, MICROSOFT_365, provider_for
from . import cms
from .common import Connection, Settings, expect

_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "dictionary": dict, "data": bytes,
          "real": float}
IMAP_ONLY = ("IncomingMailServerIMAPPathPrefix",)
MAIL_TYPE, EAS_TYPE, GOOGLE_TYPE = "com.apple.mail.managed", "com.apple.eas.account", "com.apple.google-oauth"
# The payload for OAuth2 at each known provider, by the provider's name.
OAUTH2_TYPES = {MICROSOFT_365.name: EAS_TYPE, GOOGLE.name: GOOGLE_TYPE}
# Keys that carry a secret, in any of the payloads: never written.
SECRETS = ("IncomingPassword", "OutgoingPassword", "Password", "CertificatePassword", "Certificate")


def expected_type(device: Device) -> str | None:
    """The payload type the device's servers call for; None: no payload can (no file is made)."""
    incoming, outgoing = device.incoming, device.outgoing
    if incoming.auth != "oauth2" and outgoing.auth != "oauth2":
        return MAIL_TYPE
    provider = provider_for(incoming.host) if incoming.auth == "oauth2" else None
    if provider is None or provider_for(outgoing.host) is not provider:
        return None
    return OAUTH2_TYPES.get(provider.name)     # another known provider: Apple has no payload for it


@cache
def rules() -> dict[str, Any]:
    """Key rules derived from Apple's TopLevel, CommonPayloadKeys and payload schema files (one table per payload)."""
    loaded: dict[str, Any] = json.loads((Path(__file__).with_name("apple_rules.json")).read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True, slots=True)
class _Rule:
    type_name: str
    expected: type | None
    rangelist: tuple[Any, ...] | None
    pattern: re.Pattern[str] | None


@cache
def _table(*names: str) -> tuple[tuple[str, ...], dict[str, _Rule]]:
    """(the required keys, each key's rule) of the tables ``names`` of :func:`rules` together, made once."""
    merged: dict[str, Any] = {}
    for name in names:
        merged.update(rules()[name])
    required = tuple(key for key, rule in merged.items() if rule["presence"] == "required")
    return required, {key: _Rule(rule["type"], _TYPES.get(rule["type"]),
                                 tuple(rule["rangelist"]) if "rangelist" in rule else None,
                                 re.compile(rule["format"]) if "format" in rule else None)
                      for key, rule in merged.items()}


@cache
def _plain_types(*names: str) -> tuple[frozenset[str], dict[str, type]]:
    """The required keys of :func:`_table` as a set, and the type of each key whose rule is a type alone (no
    allowed values, no format): a value of exactly that type keeps the rule."""
    required, table = _table(*names)
    return frozenset(required), {key: rule.expected for key, rule in table.items()
                                 if rule.expected is not None and rule.rangelist is None and rule.pattern is None}


def _check_dict(data: dict[str, Any], names: tuple[str, ...], where: str, problems: list[str]) -> None:
    required, table = _table(*names)
    required_set, plain_types = _plain_types(*names)
    if not required_set <= data.keys():
        for key in required:
            if key not in data:
                problems.append(f"{where}: required key {key} is missing")
    for key, value in data.items():
        if type(value) is plain_types.get(key):
            continue
        rule = table.get(key)
        if rule is None:
            problems.append(f"{where}: key {key} is not in Apple's schema")
            continue
        expected = rule.expected
        if expected is not None:
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if not ok:
                problems.append(f"{where}: {key} must be <{rule.type_name}>, found {type(value).__name__}")
                continue
        if rule.rangelist is not None and value not in rule.rangelist:
            problems.append(f"{where}: {key} is {value!r}, allowed: {list(rule.rangelist)}")
        if rule.pattern is not None and isinstance(value, str) and not rule.pattern.match(value):
            problems.append(f"{where}: {key} {value!r} does not match {rule.pattern.pattern}")


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
# The same parser without the text nodes of blanks between elements (libxml2 drops a run of blanks that ends where
# an element starts or ends and is neither an element's only content nor next to other text): for a profile with
# no comment, processing instruction, CDATA section or internal DTD subset, whose blanks the readers below would
# pass over anyway, or where they refuse the element either way.
_LEAN_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                               remove_comments=True, remove_pis=True, remove_blank_text=True)
_INTEGER = re.compile(r"[+-]?(?:[0-9]+|0x[0-9A-Fa-f]+)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")




def _elements(element: Any) -> list[Any]:
    """The elements of a container, refusing any text between them (a plist, dict or array holds only elements
    and blanks)."""
    children = list(element)
    text = element.text
    if text and not text.isspace():
        raise ReadBackError(f"text between the elements of a <{element.tag}>")
    for child in children:
        tail = child.tail
        if tail and not tail.isspace():
            raise ReadBackError(f"text between the elements of a <{element.tag}>")
    return children


def _value(element: Any) -> Any:
    """One plist value, read from its element."""
    tag = element.tag
    if tag == "string":             # most values: read first
        if len(element):
            raise ReadBackError("<string> where a plist value goes")
        return element.text or ""
    if tag == "dict":
        return _dict(element)
    if tag == "array":
        return [_value(child) for child in _elements(element)]
    if not isinstance(tag, str) or len(element):
        raise ReadBackError(f"<{tag if isinstance(tag, str) else 'entity'}> where a plist value goes")
    text = element.text or ""
    if tag in ("true", "false"):
        if text:
            raise ReadBackError(f"<{tag}/> holds text")
        return tag == "true"
    if tag == "integer":
        if not _INTEGER.fullmatch(text.strip()):
            raise ReadBackError(f"<integer> {text[:40]!r} is not an integer")
        return int(text.strip(), 0) if "x" in text else int(text)
    if tag == "real":
        return float(text)
    if tag == "data":
        return binascii.a2b_base64(text.encode("ascii"))
    if tag == "date":
        found = _DATE.fullmatch(text)
        if found is None:
            raise ReadBackError(f"<date> {text[:40]!r} is not YYYY-MM-DDTHH:MM:SSZ")
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    raise ReadBackError(f"<{tag}> is no plist value")


def _dict(element: Any) -> dict[str, Any]:
    children = _elements(element)
    if len(children) % 2:
        raise ReadBackError("a <dict> has a key without a value")
    found: dict[str, Any] = {}
    for key, value in zip(children[::2], children[1::2]):
        if key.tag != "key" or len(key):
            raise ReadBackError(f"<{key.tag}> where a <key> goes in a <dict>")
        name = key.text or ""
        if name in found:
            raise ReadBackError(f"key {name} appears twice in a <dict>")
        found[name] = _value(value)
    return found


def _quick_dict(element: Any) -> dict[str, Any] | None:  # noqa: C901 - the reader above, in one function
    """What :func:`_dict` reads from a <dict> of keys and values that are strings, integers, booleans, arrays and
    dicts, in one pass over the children, taken two at a time; None for anything else, and for anything
    :func:`_dict` refuses (which it then reads again, to say what is wrong)."""
    text = element.text
    if text and not text.isspace():
        return None
    found: dict[str, Any] = {}
    children = iter(element)
    for key, value in zip(children, children):
        if key.tag != "key" or len(key):
            return None
        tail = key.tail
        if tail and not tail.isspace():
            return None
        tail = value.tail
        if tail and not tail.isspace():
            return None
        name = key.text or ""
        if name in found:
            return None
        tag = value.tag
        if tag == "string":
            if len(value):
                return None
            found[name] = value.text or ""
        elif tag == "integer":
            number = value.text
            if len(value) or not number or not number.isdigit() or not number.isascii():
                return None
            found[name] = int(number)
        elif tag == "true" or tag == "false":
            if len(value) or value.text:
                return None
            found[name] = tag == "true"
        elif tag == "dict":
            inner = _quick_dict(value)
            if inner is None:
                return None
            found[name] = inner
        elif tag == "array":
            items = _quick_array(value)
            if items is None:
                return None
            found[name] = items
        else:
            return None
    if len(element) % 2:        # a key without a value: the pairs above left it out
        return None
    return found


def _quick_array(element: Any) -> list[Any] | None:
    """What :func:`_value` reads from an <array> of dicts; None for anything else."""
    text = element.text
    if text and not text.isspace():
        return None
    items = []
    for child in element:
        tail = child.tail
        if child.tag != "dict" or (tail and not tail.isspace()):
            return None
        inner = _quick_dict(child)
        if inner is None:
            return None
        items.append(inner)
    return items


@lru_cache(maxsize=16)
def parse(content: bytes) -> dict[str, Any]:
    if not content.startswith(b"<?xml"):
        raise ReadBackError("the profile does not start with an XML declaration")
    try:
        lean = content.count(b"<!") == 1 and content.count(b"<?") == 1 and b"<!DOCTYPE" in content and \
            b"[" not in content
        root = etree.fromstring(content, _LEAN_PARSER if lean else _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ReadBackError(f"the plist cannot be read: {exc}") from None
    if root.tag != "plist" or len(root) != 1:
        raise ReadBackError("the root is not a <plist> holding one value")
    value = root[0]
    tail, text = value.tail, root.text
    if value.tag == "dict" and not (tail and not tail.isspace()) and not (text and not text.isspace()):
        quick = _quick_dict(value)
        if quick is not None:
            return quick
    try:
        data = _value(_elements(root)[0])
    except (ValueError, binascii.Error) as exc:
        raise ReadBackError(f"the plist cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ReadBackError("the profile's root is not a dictionary")
    return data


def _payload(data: dict[str, Any], payload_type: str) -> dict[str, Any]:
    content = data.get("PayloadContent")
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        raise ReadBackError("PayloadContent must hold exactly one payload dictionary")
    if content[0].get("PayloadType") != payload_type:
        raise ReadBackError(f"the payload is not {payload_type}")
    return content[0]


def _mail_payload(data: dict[str, Any]) -> dict[str, Any]:
    return _payload(data, MAIL_TYPE)


def _security(use_ssl: bool) -> str:
    """The payload has one switch per direction: TLS on (the device picks implicit TLS or STARTTLS) or off."""
    return "tls" if use_ssl else "none"


def plain(content: bytes) -> bytes:
    """The profile's plist: the content of a signed profile (after its signature is checked), else the bytes."""
    return cms.unwrap(content)[0] if cms.is_signed(content) else content


def show(content: bytes) -> str:
    """For --diff: the plist, with a first line saying who signed it."""
    if not cms.is_signed(content):
        return content.decode("utf-8", errors="replace")
    try:
        inner, certificate = cms.unwrap(content)
    except ReadBackError as exc:
        return f"(signed profile that does not verify: {exc})\n"
    return f"(signed by {certificate.subject.rfc4514_string()})\n" + inner.decode("utf-8", errors="replace")


def read_settings(content: bytes) -> Settings | None:
    """The IMAP/POP3 and SMTP connection of a mail payload; None for an account payload that names none (Exchange
    ActiveSync, Google): its file has no connection to cross-check against the device's other files."""
    content = plain(content)
    data = parse(content)
    payloads = data.get("PayloadContent")
    if isinstance(payloads, list) and len(payloads) == 1 and isinstance(payloads[0], dict) and \
            payloads[0].get("PayloadType") in (EAS_TYPE, GOOGLE_TYPE):
        return None
    return _mail_settings_of(content)


@lru_cache(maxsize=16)
def _mail_settings_of(content: bytes) -> Settings:
    """The connection of the mail payload of a profile's plist, read once per file (the verifier and
    ``read_settings`` share it: neither changes it)."""
    return _mail_settings(_mail_payload(parse(content)))


def _mail_settings(mail: dict[str, Any]) -> Settings:
    protocol = {"EmailTypeIMAP": "imap", "EmailTypePOP": "pop3"}.get(str(mail.get("EmailAccountType")))
    if protocol is None:
        raise ReadBackError("EmailAccountType is not EmailTypeIMAP or EmailTypePOP")
    in_port = mail.get("IncomingMailServerPortNumber", {"imap": 993, "pop3": 995}[protocol])
    out_port = mail.get("OutgoingMailServerPortNumber", 587)
    incoming = Connection(protocol, mail["IncomingMailServerHostName"], in_port,
                        _security(mail.get("IncomingMailServerUseSSL", False)),
                        mail.get("IncomingMailServerUsername", ""))
    outgoing = Connection("smtp", mail["OutgoingMailServerHostName"], out_port,
                        _security(mail.get("OutgoingMailServerUseSSL", False)),
                        mail.get("OutgoingMailServerUsername", ""))
    return Settings(incoming, outgoing, mail.get("EmailAddress", ""), mail.get("EmailAccountName", ""))


def verify(content: bytes, org: Organization, device: Device) -> list[str]:
    content = plain(content)
    data = parse(content)
    problems: list[str] = []
    _check_dict(data, ("TopLevel",), "profile", problems)
    payload_type = expected_type(device)
    if payload_type is None:
        raise ReadBackError("no Apple payload signs in to this device's servers, so no profile is expected")
    mail = _payload(data, payload_type)
    _check_dict(mail, (payload_type, "CommonPayloadKeys"), f"{payload_type} payload", problems)
    _check_structure(data, mail, org, problems)
    if problems:
        return problems
    if payload_type != MAIL_TYPE:
        _check_oauth2(problems, mail, payload_type, device)
        expect(problems, "PayloadOrganization", data.get("PayloadOrganization"), org.name)
        return problems
    settings = _mail_settings_of(content)
    want_in, want_out = device.incoming, device.outgoing
    got_in, got_out = settings.incoming, settings.outgoing
    expect(problems, "incoming", (got_in.protocol, got_in.host, got_in.port, got_in.tls(), got_in.login),
           (device.protocol, want_in.host, want_in.port, want_in.security != "none", device.user.login))
    expect(problems, "outgoing", (got_out.host, got_out.port, got_out.tls(), got_out.login),
           (want_out.host, want_out.port, want_out.security != "none", device.user.login))
    auth = {"password": "EmailAuthPassword", "cram-md5": "EmailAuthCRAMMD5", "ntlm": "EmailAuthNTLM"}
    expect(problems, "IncomingMailServerAuthentication", mail.get("IncomingMailServerAuthentication"),
           auth[want_in.auth])
    expect(problems, "OutgoingMailServerAuthentication", mail.get("OutgoingMailServerAuthentication"),
           auth[want_out.auth])
    expect(problems, "EmailAddress", settings.email, device.user.email)
    expect(problems, "EmailAccountName", settings.name, device.user.name)
    expect(problems, "PayloadOrganization", data.get("PayloadOrganization"), org.name)
    return problems


def _check_oauth2(problems: list[str], account: dict[str, Any], payload_type: str, device: Device) -> None:
    """An OAuth2 account payload says what the device's user and servers say."""
    user = device.user
    expect(problems, "EmailAddress", account.get("EmailAddress"), user.email)
    if payload_type == EAS_TYPE:
        # OAuth: "If enabled, don't specify a password"; SSL defaults to false; UserName is "Required for
        # noninteractive installations like MDM in iOS" (com.apple.eas.account.yaml).
        expect(problems, "OAuth", account.get("OAuth"), True)
        expect(problems, "SSL", account.get("SSL"), True)
        expect(problems, "Host", account.get("Host"), device.incoming.host)
        expect(problems, "UserName", account.get("UserName"), user.login)
    else:
        expect(problems, "AccountName", account.get("AccountName"), user.name)


def _check_structure(data: dict[str, Any], mail: dict[str, Any], org: Organization, problems: list[str]) -> None:
    """UUIDs and identifiers of the profile and its payload, ports in range, keys by account type, no secrets."""
    uuids = [data.get("PayloadUUID"), mail.get("PayloadUUID")]
    for value in uuids:
        if not isinstance(value, str) or not _UUID.match(value):
            problems.append(f"PayloadUUID {value!r} is not a UUID")
    if len(set(uuids)) != len(uuids):
        problems.append("PayloadUUIDs are not unique")
    identifiers = [data.get("PayloadIdentifier"), mail.get("PayloadIdentifier")]
    if len(set(identifiers)) != len(identifiers):
        problems.append("PayloadIdentifiers are not unique")
    if not str(identifiers[0]).startswith(org.identifier + "."):
        problems.append(f"PayloadIdentifier {identifiers[0]!r} does not start with {org.identifier}.")
    for key in ("IncomingMailServerPortNumber", "OutgoingMailServerPortNumber"):
        port = mail.get(key)
        if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
            problems.append(f"{key} {port!r} is outside 1..65535")
    if mail.get("EmailAccountType") == "EmailTypePOP":
        for key in IMAP_ONLY:
            if key in mail:
                problems.append(f"IMAP-only key {key} in a POP account")
    for key in SECRETS:
        if key in mail:
            problems.append(f"{key} must not be written")
