""".prf: read back as the Windows INI reader would, then checked against the PRF rules."""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain
from typing import Any

from ...errors import ReadBackError
from ...model import Device, Organization
from .common import Connection, Settings, check_connection, expect

# Section 7 tags as documented (Account Management API ids); restated here, not imported from the renderer.
COMMON_TAGS = {
    "accountname": "PT_UNICODE,0x0002", "displayname": "PT_UNICODE,0x000B", "emailaddress": "PT_UNICODE,0x000C",
    "replyemailaddress": "PT_UNICODE,0x0103", "organization": "PT_UNICODE,0x0107",
    "smtpserver": "PT_UNICODE,0x0200", "smtpport": "PT_LONG,0x0201", "smtpsecureconnection": "PT_LONG,0x020A",
    "smtpuseauth": "PT_LONG,0x0203", "smtpauthmethod": "PT_LONG,0x0208", "smtpusername": "PT_UNICODE,0x0204",
    "smtpusespa": "PT_LONG,0x0207", "connectiontype": "PT_LONG,0x000F", "connectionoid": "PT_UNICODE,0x0010",
    "servertimeout": "PT_LONG,0x0209",
}
TYPE_TAGS = {
    "POP3": {"pop3server": "PT_UNICODE,0x0100", "pop3username": "PT_UNICODE,0x0101", "pop3port": "PT_LONG,0x0104",
             "pop3usessl": "PT_LONG,0x0105", "pop3usespa": "PT_LONG,0x0108", "leaveonserver": "PT_LONG,0x1000"},
    "IMAP": {"imapserver": "PT_UNICODE,0x0100", "imapusername": "PT_UNICODE,0x0101", "imapport": "PT_LONG,0x0104",
             "imapusessl": "PT_LONG,0x0105", "imapusespa": "PT_LONG,0x0108", "checknewimap": "PT_LONG,0x1100",
             "rootfolder": "PT_UNICODE,0x1101"},
}
TOKENS = {"i_mail": "POP3", "imap_i_mail": "IMAP"}
_TAGS = {kind: {**COMMON_TAGS, **tags} for kind, tags in TYPE_TAGS.items()}     # every tag of an account type
INSTRUCTIONS = {"uniqueservice", "defaultaccount"}
_NOT_MAPPED = frozenset({"__name__", "accounttype"})      # a mapping section's name and its account type
_NOT_VALUES = frozenset({"__name__", *INSTRUCTIONS})     # an account section's name and instructions
SMTP_SECURITY = {0: "none", 1: "ssl", 2: "starttls"}
LEAVE, REMOVE_AFTER, REMOVE_ON_NUKE = 0x1, 0x2, 0x4


def decode(content: bytes) -> str:
    """ASCII without BOM, or UTF-16LE with the FF FE BOM; nothing else."""
    if content.startswith(b"\xff\xfe"):
        try:
            return content[2:].decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise ReadBackError(f"invalid UTF-16LE at byte {exc.start + 2}") from None
    if content.startswith(b"\xef\xbb\xbf"):
        raise ReadBackError("UTF-8 BOM: the INI reader would not see the first section")
    if not content.isascii():
        raise ReadBackError("non-ASCII bytes without a UTF-16LE BOM would be read in the ANSI code page")
    return content.decode("ascii")


Section = dict[str, Any]           # lower-cased key -> (key as written, value); "__name__" -> the name
Sections = dict[str, Section]
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_HEX = re.compile(r"0x[0-9A-Fa-f]+")
_DECIMAL = re.compile(r"-?[0-9]+")


@lru_cache(maxsize=16)
def parse(content: bytes) -> Sections:
    """Sections (lower-cased name) -> {lower-cased key: (key, value)}, by the INI reader's rules plus policy."""
    text = decode(content)
    pairs = text.count("\r\n")
    if text.count("\r") != pairs or text.count("\n") != pairs:
        raise ReadBackError("a line ends without CRLF (bare CR or LF)")
    for char in ("\u2028", "\u2029", "\x85"):
        if char in text:
            raise ReadBackError(f"U+{ord(char):04X} in the file")
    joined = text.replace("\r\n", "")
    # Printable ASCII holds no control character: the search is needed only for other text.
    control = None if joined.isascii() and joined.isprintable() else _CONTROL.search(joined)
    if control:
        raise ReadBackError(f"control character U+{ord(control.group()):04X} in the file")
    # A line that starts with "[" opens a section: the file cut there, each piece read once per distinct text.
    pieces = ("\r\n" + text).split("\r\n[")
    if _preamble(pieces[0]):
        sections: Sections = {}
        for piece in pieces[1:]:
            read = _piece(piece)
            if read is None or read[0] in sections:
                break
            sections[read[0]] = dict(read[1])
        else:
            return sections
    return _lines(text)


@lru_cache(maxsize=4)
def _preamble(piece: str) -> bool:
    """Whether the lines before the first line that starts with "[" are all comments or blank."""
    for line in piece.split("\r\n"):
        first = line.strip()[:1]
        if first and first != ";":
            return False
    return True


@lru_cache(maxsize=256)
def _piece(piece: str) -> tuple[str, Section] | None:
    """(lower-cased name, section) of a section header without its "[" and the lines up to the next line that
    starts with "[", read as :func:`_lines` reads them; None for anything :func:`_lines` would refuse or read
    otherwise (a header later in a line's text), which it then reads, to say what is wrong."""
    lines = piece.split("\r\n")
    header = ("[" + lines[0]).strip()
    if header[-1] != "]":
        return None
    name = header[1:-1].strip()
    section: Section = {"__name__": name}
    for line in lines[1:]:
        first = line.strip()[:1]
        if first == ";" or not first:
            continue
        if first == "[":
            return None
        key, equals, value = line.partition("=")
        if not equals:
            return None
        key = key.strip()
        lower = key.lower()
        if lower in section:
            return None
        section[lower] = (key, value.strip())
    return name.lower(), section


def _lines(text: str) -> Sections:
    """The sections of the file, line by line, saying where a line breaks the rules."""
    sections: Sections = {}
    current: Section | None = None
    for number, line in enumerate(text.split("\r\n"), start=1):
        stripped = line.strip()
        first = stripped[:1]
        if first == ";" or not first:
            continue
        if first == "[":
            if stripped[-1] != "]":
                raise ReadBackError(f"line {number}: malformed section header")
            name = stripped[1:-1].strip()
            lower = name.lower()
            if lower in sections:
                raise ReadBackError(f"line {number}: section [{name}] appears twice")
            current = sections[lower] = {"__name__": name}
            continue
        if current is None:
            raise ReadBackError(f"line {number}: text outside any section")
        key, equals, value = line.partition("=")
        if not equals:
            raise ReadBackError(f"line {number}: line without '='")
        key = key.strip()
        lower = key.lower()
        if lower in current:
            raise ReadBackError(f"line {number}: key {key} appears twice in [{current['__name__']}]")
        current[lower] = (key, value.strip())
    return sections


def _section(sections: Sections, name: str) -> Section:
    if name.lower() not in sections:
        raise ReadBackError(f"section [{name}] is missing")
    return sections[name.lower()]


def _long(section: Section, key: str) -> int:
    if key not in section:
        raise ReadBackError(f"key {key} is missing")
    text = section[key][1]
    if key == "leaveonserver":
        if not _HEX.fullmatch(text):
            raise ReadBackError(f"LeaveOnServer {text!r} is not 0x-hex")
        return int(text, 16)
    if text.isdigit() and text.isascii():      # ASCII digits only: what the pattern below takes without a sign
        return int(text)
    if not _DECIMAL.fullmatch(text):
        raise ReadBackError(f"{section[key][0]} {text!r} is not a decimal integer")
    return int(text)


def _account(sections: Sections) -> tuple[str, Section]:
    listing = _section(sections, "Internet Account List")
    entries = [(k, v) for k, v in listing.items() if k != "__name__"]
    if len(entries) != 1:
        raise ReadBackError(f"expected one entry in [Internet Account List], found {len(entries)}")
    values_name, token = entries[0][1]
    kind = TOKENS.get(token.lower())
    if kind is None:
        raise ReadBackError(f"account token {token!r} is not I_Mail or IMAP_I_Mail")
    values = _section(sections, values_name)
    mapping = _section(sections, token)
    account_type = mapping.get("accounttype", ("", ""))[1]
    if account_type != kind:
        raise ReadBackError(f"[{token}] AccountType is {account_type!r}, expected {kind}")
    tags = _TAGS[kind]
    for key, entry in mapping.items():
        if key not in _NOT_MAPPED:
            shown, tag = entry
            if tags.get(key) != tag:
                raise ReadBackError(f"[{token}] maps {shown} to {tag!r}, expected {tags.get(key)!r}")
    if not values.keys() - mapping.keys() <= _NOT_VALUES:      # then the first such key, in the file's order
        for key, entry in values.items():
            if key not in mapping and key not in _NOT_VALUES:
                raise ReadBackError(f"[{values_name}] key {entry[0]} has no mapping line in [{token}]: Outlook "
                                    "ignores it")
    return kind, values


@lru_cache(maxsize=16)
def _account_of(content: bytes) -> tuple[str, Section]:
    """:func:`_account` of the file, read once per file (the verifier and ``read_settings`` share it: neither
    changes it)."""
    return _account(parse(content))


@lru_cache(maxsize=16)
def read_settings(content: bytes) -> Settings:
    kind, values = _account_of(content)
    p = kind.lower()
    in_ssl = _long(values, f"{p}usessl")
    if in_ssl not in (0, 1):
        raise ReadBackError(f"{kind}UseSSL {in_ssl} is not 0 or 1")
    smtp_sec = _long(values, "smtpsecureconnection")
    if smtp_sec not in SMTP_SECURITY:
        raise ReadBackError(f"SMTPSecureConnection {smtp_sec} is not 0, 1 or 2")

    def text(key: str) -> str:
        if key not in values:
            raise ReadBackError(f"key {key} is missing")
        return str(values[key][1])

    incoming = Connection("pop3" if kind == "POP3" else "imap", text(f"{p}server"), _long(values, f"{p}port"),
                        "ssl" if in_ssl else "none", text(f"{p}username"))
    method = _long(values, "smtpauthmethod")
    login = text("smtpusername") if method == 1 else incoming.login
    outgoing = Connection("smtp", text("smtpserver"), _long(values, "smtpport"), SMTP_SECURITY[smtp_sec], login)
    return Settings(incoming, outgoing, text("emailaddress"), text("displayname"))


def decode_leave_on_server(value: int) -> tuple[int, int]:
    """(flags, days) of a PROP_POP_LEAVE_ON_SERVER value."""
    return value & 0xFFFF, value >> 16


def verify(content: bytes, org: Organization, device: Device) -> list[str]:
    sections = parse(content)
    problems: list[str] = []
    general = _section(sections, "General")
    expect(problems, "[General] Custom", general.get("custom", ("", ""))[1], "1")
    _section(sections, "Service List")
    kind, values = _account_of(content)
    settings = read_settings(content)
    check_connection(problems, settings, device)
    expect(problems, "EmailAddress", settings.email, device.user.email)
    expect(problems, "DisplayName", settings.name, device.user.name)
    expect(problems, "SMTPUseAuth", _long(values, "smtpuseauth"), 1)
    # Secure Password Authentication is NTLM; a plain password (or CRAM-MD5, which a PRF cannot ask for) is 0.
    p = kind.lower()
    expect(problems, f"{kind}UseSPA", _long(values, f"{p}usespa"), 1 if device.incoming.auth == "ntlm" else 0)
    expect(problems, "SMTPUseSPA", _long(values, "smtpusespa"), 1 if device.outgoing.auth == "ntlm" else 0)
    defaults = [s for s in sections.values() if "defaultaccount" in s]
    if len(defaults) > 1:
        problems.append("more than one DefaultAccount")
    if kind == "POP3":
        flags, days = decode_leave_on_server(_long(values, "leaveonserver"))
        if flags & ~(LEAVE | REMOVE_AFTER | REMOVE_ON_NUKE):
            problems.append(f"LeaveOnServer has unknown bits 0x{flags:X}")
        if flags & (REMOVE_AFTER | REMOVE_ON_NUKE) and not flags & LEAVE:
            problems.append("LeaveOnServer removal bits without the leave bit")
        if flags & REMOVE_AFTER and days < 1:
            problems.append("LeaveOnServer remove-after with 0 days")
        pop3 = device.pop3
        if pop3 is None:
            return problems + [f"a POP3 account for a {device.protocol.upper()} device"]
        if not pop3.leave_on_server:
            want = (0, 0)
        elif pop3.delete_after_days is None:
            want = (LEAVE, 0)
        else:
            want = (LEAVE | REMOVE_AFTER, pop3.delete_after_days)
        expect(problems, "LeaveOnServer (flags, days)", (flags, days), want)
    else:
        expect(problems, "CheckNewImap", _long(values, "checknewimap"), 1 if device.fetch_automatically else 0)
    # Keys hold no line break (a line ends only with CRLF): one look at them all, then the ones that say it.
    if "password" in "\n".join(chain.from_iterable(sections.values())):
        for section in sections.values():
            problems.extend(f"key {section[key][0]} carries a password" for key in section if "password" in key)
    return problems
