"""The fast tier's list of system tests names real tests (a renamed test would silently join the fast tier)."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import SYSTEM_MODULES, SYSTEM_TESTS

HERE = Path(__file__).resolve().parent


def _tests(module: str) -> set[str]:
    tree = ast.parse((HERE / module).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_system_test_named_exists():
    for module in SYSTEM_MODULES:
        assert (HERE / module).is_file(), module
    for test in SYSTEM_TESTS:
        module, _, name = test.partition("::")
        assert name in _tests(module), f"{test} is not a test: the system tier's list is out of date"
