"""Stage 2, the ``oauth2:`` blocks: the organization's own identity provider, checked like every text."""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .. import textrules
from ..errors import FieldPath, Where
from .checks import Report
from .read import format_path


def check_oauth2(block: Mapping[str, Any], where: Where, prefix: FieldPath, report: Report) -> None:
    """An ``oauth2:`` block (the organization's own identity provider): one-line texts, https endpoints, a host name
    as the issuer, and scopes that are words separated by single spaces."""
    for key, value in block.items():
        path = prefix + (key,)
        problem = textrules.text_problem(value)
        if problem is None and key == "issuer":
            problem = textrules.hostname_problem(value)
            problem = f"{value!r} {problem}" if problem else None
        elif problem is None and key.endswith("_endpoint"):
            problem = _https_url_problem(value)
        elif problem is None and key == "scopes" and not _WORDS.match(value):
            problem = "has blanks other than single spaces between scopes, or characters outside printable ASCII"
        elif problem is None and key == "client_id" and not _WORD.match(value):
            problem = "contains blanks or characters outside printable ASCII"
        if problem:
            report.error(problem, where(path), format_path(path),
                         "e.g. 'https://login.example.com/oauth2/authorize'" if problem.startswith("is not an https")
                         else "")


_WORD = re.compile(r"^[!-~]+$")
_WORDS = re.compile(r"^[!-~]+( [!-~]+)*$")


def _https_url_problem(url: str) -> str | None:
    """Why ``url`` is no https URL of a named host (the sign-in page and the token endpoint), or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        return "is not an https URL"
    if not _WORDS.match(url) or " " in url:
        return "contains blanks or characters outside printable ASCII (percent-encode them)"
    if parts.username is not None or parts.password is not None:
        return "carries a user name or password; give the bare URL"
    host = parts.hostname or ""
    problem = textrules.hostname_problem(host) if host else "has no host"
    if problem:
        return f"host {host!r} {problem}" if host else problem
    return None
