"""What text may reach a generated file: the one place where these rules live.

Rules common to every format (checked when the inventory is validated):

* no control characters (C0, C1, DEL), no line or paragraph separators (U+2028,
  U+2029), no bidirectional control characters (they make a value display
  differently from what it is), no byte-order mark, no lone surrogates, no
  non-characters;
* no leading or trailing blanks (Outlook's INI reader trims them away);
* not wrapped in matching quotes (Outlook's INI reader strips them);
* not starting with a combining mark.

Format-specific escaping, applied by each renderer's escaping filter:

* Thunderbird prefs.js: JavaScript string literal (``json.dumps``); ``\\`` ``"``
  and every control character escaped; non-ASCII written as UTF-8.
* Apple .mobileconfig: XML text, ``& < >`` escaped by Jinja2 autoescaping; the
  rules above already keep out the characters XML 1.0 cannot carry.
* Outlook .prf: an INI value has no escape at all. Anything that ends a line
  (CR, LF, U+2028 ...) would inject a key; the filter refuses such a value.
  Non-ASCII is carried by writing the whole file in UTF-16LE with a BOM.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

_BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FORBIDDEN_SINGLE = set("\ufeff\u2028\u2029\ufffe\uffff")


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why ``value`` may not reach any generated file, or None if it may.

    ``multiline``: the value may hold line breaks, written as LF alone (a YAML block
    scalar); every other rule still applies, to each line and to the whole.
    """
    if value.isascii() and value.isprintable():
        # printable ASCII (most values): none of the characters below, no line break, no combining mark, and the
        # space is its only blank
        if value[:1] == " " or value[-1:] == " ":
            return "has leading or trailing blanks"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            return "is wrapped in quotes, which Outlook would strip"
        return None
    for index, char in enumerate(value):
        code = ord(char)
        category = unicodedata.category(char)
        if multiline and char == "\n":
            continue
        if category == "Cc":
            return f"contains the control character U+{code:04X} at position {index + 1}"
        if category == "Cs":
            return f"contains a lone surrogate U+{code:04X} at position {index + 1}"
        if char in _BIDI_CONTROLS:
            return f"contains the bidirectional control character U+{code:04X} at position {index + 1}"
        if char in _FORBIDDEN_SINGLE or (code & 0xFFFE) == 0xFFFE or 0xFDD0 <= code <= 0xFDEF:
            return f"contains the character U+{code:04X} at position {index + 1}, which no generated file may carry"
    if value != value.strip():
        if multiline and value.endswith("\n"):
            return "ends with a line break (write the block as '|-' to drop the final one)"
        return "has leading or trailing blanks"
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return "is wrapped in quotes, which Outlook would strip"
    if value and unicodedata.combining(value[0]):
        return "starts with a combining mark"
    return None


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")


def hostname_problem(host: str) -> str | None:
    """Why ``host`` is not a host name or IP address, or None."""
    if "://" in host or host.startswith(("http:", "https:", "imap:", "pop:", "smtp:")):
        return "is a URL; give the bare host name"
    if "%" in host:
        return "contains '%' (an IPv6 zone id?); a host is a DNS name or an IP address without a zone"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if ":" in host:
        return "contains ':'; give the port in 'port', not in the host name"
    if len(host) > 253:
        return "is longer than 253 characters"
    if host.endswith("."):
        return "ends with a dot"
    labels = host.split(".")
    for label in labels:
        if not _LABEL.match(label):
            if not label:
                return "has an empty label (two dots in a row?)"
            if not label.isascii():
                return "contains non-ASCII characters; use the IDNA form (xn--...)"
            return f"has an invalid label {label!r} (letters, digits and '-' only)"
    if labels[-1].isdigit():
        return "looks like a malformed IP address"
    return None


def email_problem(email: str) -> str | None:
    """Why ``email`` is not a plain ``local@domain`` address, or None."""
    if email.count("@") != 1:
        return "must contain exactly one '@'"
    local, domain = email.split("@")
    if not local or len(local) > 64:
        return "has an empty or over-long local part (1 to 64 characters)"
    if any(not part or not _ATOM.match(part) for part in local.split(".")):
        return "has characters or dots in the local part that mail clients do not accept"
    problem = _domain_problem(domain)
    if problem is _BARE_IP:
        return f"has an IP address as its domain; RFC 5321 writes it in brackets: {local}@[{domain}]"
    return problem


_BARE_IP = "an IP address"


@functools.lru_cache(maxsize=1024)
def _domain_problem(domain: str) -> str | None:
    """Why the domain of an address is not one (``_BARE_IP``: an IP address without brackets); a roster has
    few domains, so each is judged once."""
    if domain.startswith("[") and domain.endswith("]"):
        return _address_literal_problem(domain[1:-1])
    if _is_ip(domain):
        return _BARE_IP
    problem = hostname_problem(domain)
    if problem:
        return f"has a domain that {problem}"
    if "." not in domain:
        return "has a domain without a dot"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "%" not in text


def _address_literal_problem(inner: str) -> str | None:
    """RFC 5321 address literals: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    if inner.startswith("IPv6:"):
        address = inner[5:]
        if _is_ip(address) and ":" in address:
            return None
        return "has an address literal that is not an IPv6 address after 'IPv6:'"
    if _is_ip(inner) and "." in inner and ":" not in inner:
        return None
    return "has an address literal that is not [IPv4] or [IPv6:address]"


_REVERSE_DNS = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def reverse_dns_problem(identifier: str) -> str | None:
    if not _REVERSE_DNS.match(identifier):
        return "is not a reverse-DNS identifier such as 'com.example'"
    return None


def login_problem(login: str) -> str | None:
    if any(ch.isspace() for ch in login):
        return "contains blanks"
    return None


SAMPLE_LOGIN = "jdoe"


def address_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` (one ``{login}`` and the rest of an address) does not form an address, or None."""
    problem = text_problem(pattern)
    if problem:
        return problem
    sample = pattern.replace("{login}", SAMPLE_LOGIN, 1)
    problem = email_problem(sample)
    if problem:
        shown = repr(sample[:60]) + ("…" if len(sample) > 60 else "")
        return f"does not form an address: with the login {SAMPLE_LOGIN!r}, {shown} {problem}"
    return None
