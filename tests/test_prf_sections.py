"""The PRF reader cuts the file at lines that start with "[" and reads each piece once per distinct text: it must
read every file as the line-by-line reader does, and refuse what that reader refuses with the same message."""
from __future__ import annotations

import pytest

from generator.errors import ReadBackError
from generator.formats.verify import outlook

BASE = ("; comment\r\n[General]\r\nCustom=1\r\n\r\n[Service List]\r\n\r\n[Internet Account List]\r\n"
        "Account1=I_Mail\r\n\r\n[Account1]\r\nEmailAddress=a@example.com\r\n")

VARIANTS = [
    BASE,
    "[General]\r\nCustom=1\r\n",                                   # no comment before the first section
    BASE.replace("\r\n[Service List]", "\r\n [Service List]"),     # a header after a blank
    BASE.replace("[Account1]", "[ Account1 ]"),
    BASE.replace("Custom=1", "Custom = 1 "),
    BASE + "[general]\r\nx=1\r\n",                                 # a section twice
    BASE + " [general]\r\n",                                       # the same, after a blank
    "x=1\r\n" + BASE,                                              # a key outside any section
    BASE.replace("Custom=1", "Custom"),                            # a line without '='
    BASE.replace("Custom=1", "Custom=1\r\ncustom=2"),              # a key twice
    BASE + "[Account2\r\n",                                        # a malformed header
    BASE + "[",
    BASE + "[X] y\r\n",
    BASE + "[X]\r\n__name__=1\r\n",
]


def _read(read: object, text: str) -> object:
    try:
        return read(text)      # type: ignore[operator]
    except ReadBackError as exc:
        return str(exc)


@pytest.mark.parametrize("text", VARIANTS)
def test_pieces_read_as_lines(text: str) -> None:
    assert _read(outlook.parse.__wrapped__, text.encode("ascii")) == _read(outlook._lines, text)


def test_a_piece_read_twice_is_not_shared() -> None:
    first = outlook.parse.__wrapped__(BASE.encode("ascii"))
    first["general"]["custom"] = ("Custom", "2")
    assert outlook.parse.__wrapped__(BASE.encode("ascii"))["general"]["custom"] == ("Custom", "1")


def test_refusals_say_the_line() -> None:
    with pytest.raises(ReadBackError, match="line 12: section \\[general\\] appears twice"):
        outlook.parse.__wrapped__((BASE + "[general]\r\n").encode("ascii"))
