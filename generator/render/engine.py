"""The one Jinja2 environment of the renderers: strict, compiled once per template folder.

Values reach a template only as context data and leave it only through the format's
escaping filter (``js`` for prefs.js, XML autoescaping for plists, ``ini`` for PRF
files); no value is ever rendered as a template. Nothing here imports a renderer.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import jinja2

from ..resources import data_dir

Filters = tuple[tuple[str, Callable[..., str]], ...]


@cache
def environment(folder: str, autoescape: bool, filters: Filters) -> jinja2.Environment:
    """A compiled-once Jinja2 environment for one format's template folder."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates") / folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(dict(filters))
    return env


def render_text(folder: str, template: str, context: dict[str, Any], *, autoescape: bool = False,
                filters: Filters = ()) -> str:
    """Render ``template`` of ``folder`` with ``context``; encoding and line endings are the caller's."""
    return environment(folder, autoescape, filters).get_template(template).render(context)
