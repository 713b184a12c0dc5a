"""The one Jinja2 environment of the renderers: sandboxed, strict, compiled once per template folder.

Values reach a template only as context data and leave it only through the format's
escaping filter (``js`` for prefs.js, XML autoescaping for plists, ``ini`` for PRF files,
HTML autoescaping for pages); no value is ever rendered as a template. A site's template
folder (``templates_dir``) is searched first, so a site overrides any template by placing
a file of the same relative name there; with a site folder, every template runs in Jinja's
immutable sandbox.
Nothing here imports a renderer.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..model import Site
from ..resources import data_dir

Filters = tuple[tuple[str, Callable[..., str]], ...]


@cache
def environment(folder: str, autoescape: bool, filters: Filters, site_dir: str | None) -> jinja2.Environment:
    """A compiled-once environment for one format's template folder, the site's copy first."""
    roots = ([str(Path(site_dir) / folder)] if site_dir else []) + [str(data_dir("templates") / folder)]
    # Site templates are the site's code: they run in the sandbox. The built-in ones are ours and run without
    # its per-attribute checks (a third of the rendering time).
    kind = ImmutableSandboxedEnvironment if site_dir else jinja2.Environment
    env = kind(
        loader=jinja2.FileSystemLoader(roots),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(dict(filters))
    return env


def render_text(site: Site, folder: str, template: str, context: dict[str, Any], *, autoescape: bool = False,
                filters: Filters = ()) -> str:
    """Render ``folder/template`` with ``context``; encoding and line endings are the caller's."""
    return environment(folder, autoescape, filters, site.templates_dir).get_template(template).render(context)


def template_origin(site: Site, relative: str) -> str:
    """Where the template ``folder/name`` comes from: the site's file, or ``built-in``."""
    if site.templates_dir:
        candidate = Path(site.templates_dir) / relative
        if candidate.is_file():
            return str(candidate)
    return "built-in"
