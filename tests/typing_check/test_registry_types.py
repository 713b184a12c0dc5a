"""mypy holds every registry entry to its scope's subject: the lines of ``registry_entries.py`` whose comment
says "wrong" are refused, the others accepted (run as the project runs mypy: its configuration, from the checkout)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

ENTRIES = Path(__file__).with_name("registry_entries.py")


def test_mypy_refuses_a_format_whose_functions_take_another_subject():
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-error-summary",
                             str(ENTRIES)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    refused = {int(m.group(1)) for m in re.finditer(r"registry_entries\.py:(\d+): error:", result.stdout)}
    lines = ENTRIES.read_text(encoding="utf-8").splitlines()
    marked = {number for number, line in enumerate(lines, 1) if re.search(r"#\s*wrong", line)}
    assert marked and refused == marked, result.stdout + result.stderr
