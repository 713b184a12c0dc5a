"""Compare: the plan against what is in OUT and in the previous manifest.

Each planned artifact is created, changed or unchanged; each artifact of the previous
manifest that the plan no longer produces is removed, unless ``--limit`` leaves it out
of scope (then it is carried into the new manifest as it is). Diffs are made here.
Nothing is written: changed content is handed to ``on_change`` (the stage, or nothing
in check mode).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .formats import named, show_text
from .limit import Patterns, matches
from .manifest import ArtifactRecord
from .model import Inventory
from .plan import Planned
from .safefs import OutDir

CREATED, CHANGED, UNCHANGED, REMOVED = "created", "changed", "unchanged", "removed"


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    status: str
    diff: str = ""


@dataclass(slots=True)
class Comparison:
    records: list[ArtifactRecord] = field(default_factory=list)     # every planned artifact
    changes: list[Change] = field(default_factory=list)             # created, changed and removed files
    removals: list[tuple[str, str]] = field(default_factory=list)   # (path, sha256 we wrote)
    carried: list[dict[str, Any]] = field(default_factory=list)     # previous entries outside --limit
    kept: list[str] = field(default_factory=list)                   # stale paths that are not ours to delete
    unchanged: int = 0


def unified_diff(path: str, old: str | None, new: str | None) -> str:
    before = old.splitlines(keepends=True) if old is not None else []
    after = new.splitlines(keepends=True) if new is not None else []
    lines = difflib.unified_diff(before, after, f"a/{path}" if old is not None else "/dev/null",
                                 f"b/{path}" if new is not None else "/dev/null")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).replace("\r\n", "\n")


def _show(entry: dict[str, Any], content: bytes) -> str:
    """A removed file as text, by the format that wrote it when it is still registered."""
    try:
        return named(str(entry.get("client") or entry.get("kind") or "")).show(content)
    except KeyError:
        return show_text(content)


def compare(planned: Iterable[Planned], outdir: OutDir | None, previous: list[dict[str, Any]],
            inventory: Inventory, patterns: Patterns, diff: bool,
            on_change: Callable[[str, bytes], None] | None, kinds: frozenset[str] = frozenset()) -> Comparison:
    """``kinds``: the manifest kinds this run makes; previous entries of other kinds (``generate`` and ``fleet``
    share an output folder) are carried as they are."""
    """Classify every planned artifact and every previous one; ``outdir`` None: OUT does not exist yet."""
    result = Comparison()
    produced: set[str] = set()
    for item in planned:
        path = item.record.path
        result.records.append(item.record)
        produced.add(path)
        old = outdir.read(path) if outdir is not None else None
        if old == item.content:
            result.unchanged += 1
            continue
        shown = (f"# {path}: made from template {item.template}\n" + unified_diff(
            path, item.format.show(old) if old is not None else None, item.format.show(item.content))) if diff else ""
        result.changes.append(Change(path, CREATED if old is None else CHANGED, shown))
        if on_change is not None:
            on_change(path, item.content)
    groups = {d.user.email.casefold(): d.user.groups for d in inventory.devices} if patterns else {}
    for entry in previous:
        path = entry["path"]
        if path in produced:
            continue
        user = entry.get("user")
        if kinds and entry.get("kind", "device") not in kinds:
            result.carried.append(entry)
            continue
        if patterns and not (isinstance(user, str) and
                             matches(user, str(entry.get("device") or "") or None,
                                     groups.get(user.casefold(), ()), patterns)):
            result.carried.append(entry)     # outside --limit: left as it is, even if stale
            continue
        reason = outdir.still_ours(path, entry["sha256"]) if outdir is not None else ""
        if reason:
            result.kept.append(f"kept {outdir.shown(path) if outdir else path}: {reason}")
        elif reason is None and outdir is not None:
            old = outdir.read(path) if diff else None
            shown = unified_diff(path, _show(entry, old), None) if old is not None else ""
            result.changes.append(Change(path, REMOVED, shown))
            result.removals.append((path, entry["sha256"]))
    result.records.sort(key=lambda r: r.path)
    result.carried.sort(key=lambda e: str(e["path"]))
    result.changes.sort(key=lambda c: c.path)
    return result
