"""The plan's files, named and fingerprinted per device once for all of its formats: the same paths and fingerprints
as naming and fingerprinting each file on its own (a rerun skips what an earlier run made)."""
from __future__ import annotations

import hashlib

import pytest
from conftest import ROOT

from generator.formats.registry import DEVICE
from generator.inventory.load import load_inventory
from generator.paths import artifact_path, safe_relative
from generator.plan.fingerprint import device_text, fingerprint, salted_hash
from generator.plan.planner import Plan
from generator.textrules import text_problem


@pytest.mark.parametrize("folder", [ROOT / "examples", ROOT / "examples" / "multi-domain"], ids=lambda f: f.name)
def test_each_device_file_has_the_path_and_fingerprint_of_its_own(folder):
    plan = Plan(load_inventory(folder), None)
    checked = set()
    for unit in plan.units():
        for item in plan.items(unit):
            if item.fmt.scope != DEVICE:
                continue
            device = item.subject
            assert item.record.path == artifact_path(device.user.email, device.name, item.fmt.file_name(device))
            assert item.record.inputs == fingerprint(plan.salt, item.fmt.name, device, device_text(device, {}))
            assert item.record.user == device.user.email and item.record.client == item.fmt.client
            checked.add(item.fmt.name)
    assert len(checked) > 2


def test_a_fingerprint_is_the_salt_the_format_a_nul_and_the_text_hashed():
    """The byte layout is what every run index holds: a change re-renders every file of every output folder."""
    for name, text in (("apple", "Device('a')"), ("handout", "caf\u00e9 \u2028"), ("x", "")):
        layout = hashlib.sha256(b"salt" + name.encode() + b"\0" + text.encode()).hexdigest()[:32]
        digest = salted_hash(b"salt", name).copy()
        digest.update(text.encode())
        assert digest.hexdigest()[:32] == fingerprint(b"salt", name, None, text) == layout
    assert fingerprint(b"salt", "apple", ("a", 1)) == fingerprint(b"salt", "apple", None, "('a', 1)")


@pytest.mark.parametrize(("value", "problem"), [
    ("", None), ("a", None), ("'", None), ('"', None), ("a b", None), ("'a\"", None),
    (" a", "has leading or trailing blanks"), ("a ", "has leading or trailing blanks"), (" ", "has leading or trailing blanks"),
    ("'a'", "is wrapped in quotes, which Outlook would strip"), ('""', "is wrapped in quotes, which Outlook would strip"),
    ("a\tb", "contains the control character U+0009 at position 2"), ("\u00a0a", "has leading or trailing blanks"),
    ("\u0301a", "starts with a combining mark"), ("'\u00e9'", "is wrapped in quotes, which Outlook would strip"),
])
def test_printable_ascii_text_is_held_to_the_same_rules(value, problem):
    assert text_problem(value) == problem
    assert text_problem(value, multiline=True) == problem


@pytest.mark.parametrize(("path", "safe"), [
    ("a/b/c", True), ("a", True), ("a/./b", False), ("a/../b", False), ("a//b", False), ("a/", False), ("/a", False),
    ("", False), ("c:/a", False), ("a\\b", False), ("..", False), ("a/.b", True), ("a/b:c", True),
])
def test_safe_relative_paths(path, safe):
    assert safe_relative(path) is safe
