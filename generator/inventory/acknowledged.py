"""``acknowledge:`` blocks (top level and per group): the warning codes an inventory accepts, each with a reason."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..codes import WARNING_CODES
from ..errors import FieldPath, Where, close_matches, excerpt
from ..model import Acknowledged
from ..textrules import text_problem
from .checks import Report
from .read import format_path

UNKNOWN_HINT = "the README's Policy warnings section lists every code"


def _block(block: Any, path: FieldPath, where: Where, key_where: Where, report: Report) -> Acknowledged:
    """One block's (code, reason) pairs; an unknown code or an empty reason is an error."""
    found: list[tuple[str, str]] = []
    for code, reason in (block or {}).items():
        field_path = path + (code,)
        if code not in WARNING_CODES:
            report.error(f"unknown warning code {excerpt(code)}", key_where(field_path), format_path(field_path),
                         close_matches(code, WARNING_CODES) or UNKNOWN_HINT)
            continue
        problem = "the reason is empty: say why the warning is accepted" if not reason.strip() else text_problem(reason)
        if problem:
            report.error(problem, where(field_path), format_path(field_path))
            continue
        found.append((code, reason.strip()))
    return tuple(found)


def check_acknowledge(data: Mapping[str, Any], where: Where, key_where: Where, usable: Callable[[str], bool],
                      report: Report) -> tuple[Acknowledged, tuple[tuple[str, Acknowledged], ...]]:
    """The organization's acknowledged codes, and each group's (groups without any left out)."""
    top = _block(data["acknowledge"], ("acknowledge",), where, key_where, report) if usable("acknowledge") else ()
    groups: list[tuple[str, Acknowledged]] = []
    if usable("groups"):
        for name, group in (data["groups"] or {}).items():
            if (group or {}).get("acknowledge"):
                block = _block(group["acknowledge"], ("groups", name, "acknowledge"), where, key_where, report)
                if block:
                    groups.append((name, block))
    return top, tuple(groups)
