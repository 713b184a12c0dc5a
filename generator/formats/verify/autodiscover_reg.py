"""``autodiscover.reg``, read back as Registry Editor reads an import file, then checked against the model.

The rules are restated from Microsoft's description of .reg files (support article 310516) and regedit's own
export: UTF-16LE with the FF FE byte-order mark, CRLF line ends, the header ``Windows Registry Editor Version
5.00``, ``[key]`` lines, and value lines ``"name"=dword:XXXXXXXX`` or ``"name"="text"`` where ``\\\\`` stands for a
backslash and ``\\"`` for a quote. Anything else on a line (an injected value, a second key, a stray quote) is a
problem, never skipped. The expected path is restated from the README (not imported from the renderer): the user's
``autodiscover.xml`` in ``C:\\ProgramData\\Autodiscover\\<user folder>\\``.
"""
from __future__ import annotations

import re
from functools import lru_cache

from ...errors import ReadBackError
from ...model import Device, Organization
from ...paths import safe_component
from .common import Settings, expect

HEADER = "Windows Registry Editor Version 5.00"
KEY = "HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook\\AutoDiscover"
_QUOTED = r'"((?:[^"\\]|\\[\\"])*)"'
_VALUE = re.compile(_QUOTED + r"=(?:dword:([0-9a-f]{8})|" + _QUOTED + r")")
_UNESCAPE = re.compile(r"\\([\\\"])")
_KEY_FOLDED = KEY.casefold()
_PREFER_LOCAL = ("PreferLocalXML", 1)

Values = dict[str, tuple[str, str | int]]     # lower-cased name -> (name as written, text or dword)
# The file in its plain form: the header, the one key, PreferLocalXML and one text value, each line as regedit
# writes it. Such a file is read by one match (it has no other line to read, no bare CR or LF: every character of
# a quoted string is neither); any other goes through the line-by-line reading.
_QUICK = re.compile(re.escape(f"{HEADER}\r\n\r\n[{KEY}]\r\n\"PreferLocalXML\"=dword:00000001\r\n")
                    + r'"((?:[^"\\\r\n]|\\[\\"])*)"="((?:[^"\\\r\n]|\\[\\"])*)"\r\n\r\n')


def _quick_read(text: str) -> dict[str, Values] | None:
    """What :func:`read` reads from the decoded text of a file in its plain form; None for any other."""
    match = _QUICK.fullmatch(text)
    if match is None:
        return None
    name, data = match.groups()
    if "\\" in name:
        name = _UNESCAPE.sub(r"\1", name)
    if "\\" in data:
        data = _UNESCAPE.sub(r"\1", data)
    folded = name.casefold()
    if folded == "preferlocalxml":
        return None         # a value set twice: the line-by-line reading says so
    return {_KEY_FOLDED: {"preferlocalxml": ("PreferLocalXML", 1), folded: (name, data)}}


@lru_cache(maxsize=16)
def read(content: bytes) -> dict[str, Values]:
    """Every key of the file with its values: {key: {lower-cased name: (name, str for REG_SZ | int for DWORD)}};
    read once per file (the verifier and ``read_settings`` share it: neither changes it)."""
    if not content.startswith(b"\xff\xfe"):
        raise ReadBackError("the file does not start with the UTF-16LE byte-order mark (FF FE) of regedit's files")
    try:
        text = content[2:].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise ReadBackError(f"invalid UTF-16LE at byte {exc.start + 2}") from None
    quick = _quick_read(text)
    if quick is not None:
        return quick
    if re.search(r"\r(?!\n)|(?<!\r)\n", text):
        raise ReadBackError("a line ends without CRLF (bare CR or LF)")
    lines = text.split("\r\n")
    if lines[:2] != [HEADER, ""] or lines[-2:] != ["", ""]:
        raise ReadBackError(f"the file must start with {HEADER!r} and a blank line, and end with a blank line")
    keys: dict[str, Values] = {}
    current: Values | None = None
    for number, line in enumerate(lines[2:-2], start=3):
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1]
            if name.casefold() in keys:
                raise ReadBackError(f"line {number}: key {name!r} appears twice")
            current = keys[name.casefold()] = {}
            continue
        match = _VALUE.fullmatch(line)
        if match is None or current is None:
            raise ReadBackError(f"line {number} is no value of a key: {line[:80]!r}")
        value_name = _UNESCAPE.sub(r"\1", match.group(1))
        if value_name.casefold() in current:
            raise ReadBackError(f"line {number}: value {value_name!r} is set twice")
        data: str | int = int(match.group(2), 16) if match.group(2) is not None \
            else _UNESCAPE.sub(r"\1", match.group(3))
        current[value_name.casefold()] = (value_name, data)
    return keys


def read_settings(content: bytes) -> Settings | None:
    """The file names no connection (only where the answer that does is): None, after reading it."""
    read(content)
    return None


def verify(content: bytes, org: Organization, device: Device) -> list[str]:
    keys = read(content)
    problems: list[str] = []
    if len(keys) != 1 or _KEY_FOLDED not in keys:
        return [f"keys {list(keys)}, expected only {KEY!r}"]
    values = keys[_KEY_FOLDED]
    domain = device.user.domain
    path = f"C:\\ProgramData\\Autodiscover\\{safe_component(device.user.email)}\\autodiscover.xml"
    found = values.get("preferlocalxml")
    if found != _PREFER_LOCAL:
        expect(problems, "PreferLocalXML", found, _PREFER_LOCAL)
    found = values.get(domain)
    if found != (domain, path):
        expect(problems, f"the value named {domain!r}", found, (domain, path))
    extra = values.keys() - {"preferlocalxml", domain}
    if extra:
        problems.append(f"values that are not ours: {sorted(extra)}")
    return problems
