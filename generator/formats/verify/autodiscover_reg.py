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

Values = dict[str, tuple[str, str | int]]     # lower-cased name -> (name as written, text or dword)


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
    if list(keys) != [KEY.casefold()]:
        return [f"keys {list(keys)}, expected only {KEY!r}"]
    values = keys[KEY.casefold()]
    domain = device.user.domain
    path = f"C:\\ProgramData\\Autodiscover\\{safe_component(device.user.email)}\\autodiscover.xml"
    expect(problems, "PreferLocalXML", values.get("preferlocalxml"), ("PreferLocalXML", 1))
    expect(problems, f"the value named {domain!r}", values.get(domain), (domain, path))
    extra = sorted(set(values) - {"preferlocalxml", domain})
    if extra:
        problems.append(f"values that are not ours: {extra}")
    return problems
