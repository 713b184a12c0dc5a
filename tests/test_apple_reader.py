"""The plist reader of the Apple verifier: its one-pass path reads what its general reader reads, on the shapes
where the two could part (a key without a value, an element inside a key or a scalar, text between elements)."""
from __future__ import annotations

from typing import Any

import pytest

from generator.errors import ReadBackError
from generator.formats.verify import apple

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n')


def _plist(body: str) -> bytes:
    return (HEAD + body + "\n</plist>\n").encode("utf-8")


def _outcome(content: bytes) -> tuple[str, Any]:
    try:
        return "read", apple.parse.__wrapped__(content)
    except ReadBackError as exc:
        return "refused", str(exc)


PLAIN = ("<dict>\n\t<key>A</key>\n\t<string>x &amp; y</string>\n\t<key>B</key>\n\t<integer>993</integer>\n"
         "\t<key>C</key>\n\t<true/>\n\t<key>D</key>\n\t<array>\n\t\t<dict>\n\t\t\t<key>E</key>\n\t\t\t<false/>\n"
         "\t\t</dict>\n\t</array>\n\t<key></key>\n\t<string></string>\n</dict>")

CASES = {
    "plain": PLAIN,
    "a key without a value": "<dict><key>A</key><string>x</string><key>B</key></dict>",
    "a key without a value, inner": "<dict><key>A</key><array><dict><key>B</key></dict></array></dict>",
    "a value without a key": "<dict><string>x</string></dict>",
    "a key twice": "<dict><key>A</key><string>x</string><key>A</key><string>y</string></dict>",
    "an element inside a key": "<dict><key>A<b/></key><string>x</string></dict>",
    "an element inside a string": "<dict><key>A</key><string>x<b/></string></dict>",
    "an element inside an integer": "<dict><key>A</key><integer>1<b/></integer></dict>",
    "an element inside a boolean": "<dict><key>A</key><true><b/></true></dict>",
    "text in a boolean": "<dict><key>A</key><true>x</true></dict>",
    "text after a key": "<dict><key>A</key>x<string>y</string></dict>",
    "text after a value": "<dict><key>A</key><string>y</string>x</dict>",
    "text before the first key": "<dict>x<key>A</key><string>y</string></dict>",
    "an unusual blank after a value": "<dict><key>A</key><string>y</string>\u2028</dict>",
    "a signed integer": "<dict><key>A</key><integer>+1</integer></dict>",
    "a hexadecimal integer": "<dict><key>A</key><integer>0x1F</integer></dict>",
    "a real": "<dict><key>A</key><real>1.5</real></dict>",
    "an empty dict": "<dict></dict>",
    "an array of strings": "<dict><key>A</key><array><string>x</string></array></dict>",
    "an unknown element": "<dict><key>A</key><foo/></dict>",
}


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_one_pass_reader_reads_what_the_general_reader_reads(monkeypatch, body):
    content = _plist(body)
    with_quick = _outcome(content)
    monkeypatch.setattr(apple, "_quick_dict", lambda *args: None)
    assert with_quick == _outcome(content)


def test_one_pass_reader_takes_plain_profiles_and_leaves_the_rest():
    tree = apple.etree.fromstring(_plist(PLAIN), apple._PARSER)
    assert apple._quick_dict(tree[0]) == {"A": "x & y", "B": 993, "C": True, "D": [{"E": False}], "": ""}
    for name in ("a key without a value", "a key without a value, inner", "an element inside a key",
                 "an element inside a string", "text after a value", "a signed integer"):
        tree = apple.etree.fromstring(_plist(CASES[name]), apple._PARSER)
        assert apple._quick_dict(tree[0]) is None, name


def test_a_key_without_a_value_is_refused():
    assert _outcome(_plist(CASES["a key without a value"])) == ("refused", "a <dict> has a key without a value")


BLANKS = {
    "blanks as a string's only content": "<dict><key>A</key><string>  </string></dict>",
    "blanks before an entity": "<dict><key>A</key><string>  &amp;  </string></dict>",
    "blanks before a character reference": "<dict><key>A</key><string> &#32;</string></dict>",
    "blanks before a CDATA section": "<dict><key>A</key><string>  <![CDATA[x]]></string></dict>",
    "blanks before a comment": "<dict><key>A</key><string>  <!-- c -->x</string></dict>",
    "blanks before a processing instruction": "<dict><key>A</key><string>  <?p?>x</string></dict>",
    "blanks in a boolean": "<dict><key>A</key><true> </true></dict>",
    "blanks in an empty dict": "<dict>\n\t</dict>",
    "text between elements": "<dict>\n\t<key>A</key> x <string>y</string></dict>",
}


@pytest.mark.parametrize("body", BLANKS.values(), ids=BLANKS.keys())
def test_blanks_read_as_with_every_text_node(body: str) -> None:
    """Profiles are parsed without the text nodes of blanks between elements where that changes no value read:
    what is read (or refused) is what the parser that keeps every text node gives."""
    content = _plist(body)
    try:
        full: tuple[str, Any] = ("read", apple._value(apple._elements(apple.etree.fromstring(content, apple._PARSER))[0]))
    except ReadBackError as exc:
        full = ("refused", str(exc))
    assert _outcome(content) == full
