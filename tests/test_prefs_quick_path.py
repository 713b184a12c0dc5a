"""prefs.js: the one-pass reader of the renderer's form reads what the general reader reads, and leaves every
other file to it."""
from __future__ import annotations

import pytest

from generator.errors import ReadBackError
from generator.formats.verify import thunderbird

HEAD = "// Mozilla User Preferences\n\n"
LINES = ('user_pref("mail.a", "x");\n', 'user_pref("mail.b", 3);\n', 'user_pref("mail.c", true);\n')


def _read(text: str, monkeypatch: pytest.MonkeyPatch, quick: bool) -> tuple[str, str]:
    if not quick:
        monkeypatch.setattr(thunderbird, "_quick_prefs", lambda text: None)
    try:
        return "read", repr(thunderbird.parse_prefs.__wrapped__(text.encode("utf-8")))
    except (ReadBackError, ValueError) as exc:
        return type(exc).__name__, str(exc)
    finally:
        monkeypatch.undo()


CASES = [
    HEAD + "".join(LINES),
    "".join(LINES),
    HEAD + 'user_pref("mail.s", "a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\\u2028");\n',
    HEAD + 'user_pref("mail.s", "bad \\q escape");\n',
    HEAD + 'user_pref("mail.s", "\\u12");\n',
    HEAD + 'user_pref("mail.s", "\\ud83d\\uzzzz");\n',
    HEAD + 'user_pref("mail.n", -0);\nuser_pref("mail.m", -12);\n',
    HEAD + LINES[0] + LINES[0],
    HEAD + LINES[0] + "// a comment among the lines\n" + LINES[1],
    HEAD + LINES[0] + LINES[1].rstrip("\n"),
    HEAD + LINES[0] + "  " + LINES[1],
    HEAD + 'user_pref("mail.a",  "x");\n',
    HEAD + 'user_pref("mail.a", 01);\n',
    HEAD + 'user_pref("mail a", 1);\n',
    "x" + HEAD + "".join(LINES),
    "// x\nnot a pref\n" + "".join(LINES),
    HEAD + 'user_pref("mail.a", "raw\tTAB");\n',
    HEAD + 'user_pref("mail.a", "é ü");\n',
    "",
]


@pytest.mark.parametrize("text", CASES)
def test_the_quick_path_reads_what_the_general_reader_reads(text, monkeypatch):
    assert _read(text, monkeypatch, True) == _read(text, monkeypatch, False)


def test_the_renderers_form_takes_the_quick_path_escapes_included():
    text = HEAD + "".join(LINES) + 'user_pref("mail.s", "a\\"b\\nc");\n'
    assert thunderbird._quick_prefs(text) == {"mail.a": "x", "mail.b": 3, "mail.c": True, "mail.s": 'a"b\nc'}
    for other in (text + "// after\n", text.replace("\n", "\r\n"), text + LINES[0], text[:-1]):
        assert thunderbird._quick_prefs(other) is None
