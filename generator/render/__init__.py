"""Renderers: one module per client format. Each takes only the resolved model.

A renderer module provides ``CLIENT``, ``FILENAME``, ``limitations(org, device)``
(what the format cannot express, as findings; a finding whose code is listed in
``SKIPS`` means the artifact is not produced) and ``render(org, device) -> bytes``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import jinja2

from ..resources import data_dir
from . import apple, outlook, thunderbird

RENDERERS = {module.CLIENT: module for module in (thunderbird, apple, outlook)}


class UnrepresentableValue(ValueError):
    """A value that the target format cannot carry; the validator should have refused it."""


@lru_cache(maxsize=None)
def environment(client: str, autoescape: bool, filters: tuple[tuple[str, Callable], ...]) -> jinja2.Environment:
    """A compiled-once Jinja2 environment for one client's template folder."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates") / client)),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(dict(filters))
    return env
