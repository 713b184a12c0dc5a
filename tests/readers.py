"""Test-side readers, written independently of both the renderers and the built-in verifiers."""
from __future__ import annotations

import json
import plistlib
import re

PREF = re.compile(r'^user_pref\("([A-Za-z0-9._-]+)", (.+)\);$')


def read_prefs(data: bytes) -> dict:
    """Strict user_pref reader: every non-comment line must be one user_pref call; no pref twice."""
    prefs = {}
    for line in data.decode("utf-8").split("\n"):
        if not line or line.startswith("//"):
            continue
        match = PREF.match(line)
        assert match, f"not a user_pref line: {line!r}"
        name, literal = match.groups()
        assert name not in prefs, f"pref {name} set twice"
        value = json.loads(literal)  # a JS string/int/bool literal as generated is valid JSON
        prefs[name] = value
    return prefs


def read_prf(data: bytes) -> dict:
    """INI reader by the PRF rules: ASCII or UTF-16LE+BOM, CRLF, ';' comments, first '=' splits,
    case-insensitive names, no duplicate sections or keys, nothing outside a section."""
    if data.startswith(b"\xff\xfe"):
        text = data[2:].decode("utf-16-le")
    else:
        text = data.decode("ascii")
    assert "\n" not in text.replace("\r\n", ""), "bare LF"
    assert "\r" not in text.replace("\r\n", ""), "bare CR"
    sections: dict = {}
    current = None
    for line in text.split("\r\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            name = stripped[1:-1].lower()
            assert name not in sections, f"duplicate section {name}"
            current = sections[name] = {}
            continue
        assert current is not None, f"line outside a section: {line!r}"
        assert "=" in line, f"line without '=': {line!r}"
        key, value = line.split("=", 1)
        key = key.strip().lower()
        assert key not in current, f"duplicate key {key}"
        current[key] = value.strip()
    return sections


def read_plist(data: bytes) -> dict:
    return plistlib.loads(data)
