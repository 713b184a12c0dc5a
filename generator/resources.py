"""Locate the data files (templates, schemas, profiles, examples) shipped with the package.

In a wheel they live in ``generator/_data/``; in a source checkout they are the
top-level folders next to the package.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Return the directory holding the shipped data folder ``name``."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mailprofiles data folder {name!r} is missing from the installation")
