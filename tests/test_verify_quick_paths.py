"""The verifiers' one-pass readers (a file in the renderer's plain form) read what their general readers read.

Each reader with a quick path is run over the example inventory's files and over mutants of them, once as it is and
once with the quick path turned off: the values read, or the error raised, must be the same.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from conftest import EXAMPLES

from generator import load_inventory
from generator.errors import ReadBackError
from generator.formats.verify import apple, autodiscover, thunderbird
from generator.plan.planner import Plan

PIECES = ["<", ">", "&", "&amp;", "&lt;", "&#34;", "&#x41;", "&foo;", "\r", "\n", "\t", " ", "\x0b", "\x85", "\xa0",
          "\u2028", "\\", '"', "'", "//", "=", "user_pref(", ");", "-1", "0x1", "true", "false", "<key>", "</key>",
          "<string>", "</string>", "<dict>", "</dict>", "<array>", "</array>", "<true/>", "<false/>", "<true>x</true>",
          "<integer>1</integer>", "<integer>+1</integer>", "<integer> 2</integer>", "<key>a</key>", "<string/>",
          "<!-- c -->", "<![CDATA[x]]>", "<data>AA==</data>", "<real>1.5</real>", "<Port>", "</Port>",
          "<SPA>on</SPA>", "<SPA> on</SPA>", "<Type>SMTP</Type>", "<Protocol>", "</Protocol>", "<Foo/>", "x", "é"]

# (format, the reader, the module attribute holding its quick path)
READERS: list[tuple[str, Callable[[bytes], Any], Any, str]] = [
    ("apple", apple.parse.__wrapped__, apple, "_quick_dict"),
    ("outlook-autodiscover", autodiscover.read.__wrapped__, autodiscover, "_quick_read"),
    ("thunderbird", thunderbird.parse_prefs.__wrapped__, thunderbird, "_quick_prefs"),
]


@pytest.fixture(scope="module")
def files() -> dict[str, list[bytes]]:
    plan = Plan(load_inventory(EXAMPLES), None)
    found: dict[str, list[bytes]] = {}
    for unit in plan.units():
        for item in plan.items(unit, inputs=False):
            found.setdefault(item.fmt.name, []).append(item.fmt.render(plan.site, item.subject))
    return found


def _mutants(contents: list[bytes], count: int, seed: int) -> list[bytes]:
    chance = random.Random(seed)
    made = []
    for _ in range(count):
        text = chance.choice(contents).decode("utf-8")
        for _ in range(chance.randint(1, 3)):
            at = chance.randrange(len(text))
            piece = chance.choice(PIECES)
            how = chance.random()
            if how < 0.4:
                text = text[:at] + piece + text[at:]
            elif how < 0.7:
                text = text[:at] + text[at + chance.randint(1, 12):]
            else:
                text = text[:at] + piece + text[at + chance.randint(1, 8):]
        made.append(text.encode("utf-8"))
    return made


def _outcome(reader: Callable[[bytes], Any], content: bytes) -> Any:
    try:
        value = reader(content)
    except ReadBackError as exc:
        return ("refused", str(exc))
    return ("read", repr(value))


@pytest.mark.parametrize(("fmt", "reader", "module", "quick"), READERS, ids=[r[0] for r in READERS])
def test_quick_path_reads_what_the_general_reader_reads(files, monkeypatch, fmt, reader, module, quick):
    contents = files[fmt]
    assert contents
    taken = []
    original = getattr(module, quick)

    def counted(*args: Any) -> Any:
        found = original(*args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(module, quick, counted)
    # The renderer's own files take the quick path.
    for content in contents:
        taken.clear()
        reader(content)
        assert taken and all(taken), f"{fmt}: a rendered file did not take the quick path"
    cases = contents + _mutants(contents, 1500, seed=len(fmt))
    with_quick = [_outcome(reader, content) for content in cases]
    quick_reads = sum(1 for outcome in with_quick if outcome[0] == "read")
    monkeypatch.setattr(module, quick, lambda *args: None)
    without = [_outcome(reader, content) for content in cases]
    assert with_quick == without
    # Both kinds of outcome are exercised: files read, and files refused.
    assert len(contents) <= quick_reads < len(cases)
