"""Reconcile: the plan against what the earlier runs wrote, as decisions. Pure: no I/O.

The plan's units and the run index's lines (``index.py``: what the earlier runs wrote, in our
own state folder) are both sorted by path, so they are merged like two sorted lists
(:class:`Merge`); the old manifest's entries ride along, only to say what it lists that
mailprofiles has no record of writing (anyone could have edited it, so no entry of the new
one is ever taken from its text). What OUT holds is given to this module as values
(:class:`Seen`, the bytes of a file) by the executor (``execute.py``), which looks; here it
is only decided:

- a unit is **up to date** when every file has a line in the run index with the same input
  fingerprint and is on disk as it was written (a regular file of ours with the recorded size
  and modification time, older than the index): it is not rendered, and its entries are the
  plan's with the hash the index recorded (:func:`unchanged_entry`); otherwise it is rendered,
  and each file is created, changed or unchanged by its bytes (:func:`classify`);
- a file in the index the plan does not produce is **carried** (its entry kept) when
  ``--limit`` or the run's kinds leave it out of scope, else **retired**: removed when it
  still has the bytes we wrote (:func:`stale`). A file of a kind that no format makes any
  more belongs to no command, so it is in every run's scope (:class:`Scope`);
- an old manifest entry the index does not list is **claimed**: never removed, only reported.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..jsontext import quoted
from ..model import quick_init
from ..paths import safe_relative
from ..plan.planner import Item, Unit
from ..plan.selection import Patterns, matches
from .index import Index
from .manifest import ArtifactRecord, Entry

CREATED, CHANGED, UNCHANGED, REMOVED = "created", "changed", "unchanged", "removed"
_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(ArtifactRecord))
_INDEX_ONLY = 4                 # fields of an up-to-date file's index line beyond its manifest entry: inputs, size,
                                # mtime_ns, check


@quick_init
@dataclass(frozen=True, slots=True)
class Change:
    path: str
    status: str
    diff: str = ""

    def to_json(self) -> dict[str, str]:
        """The change as the recap lists it (its diff is listed apart)."""
        return {"path": self.path, "status": self.status}

    def text(self) -> str:
        """``to_json`` as JSON text, made without building the dict: one per file a cold run writes."""
        return '{"path": ' + quoted(self.path) + ', "status": ' + quoted(self.status) + "}"


@dataclass(frozen=True, slots=True)
class Seen:
    """A path in OUT as ``lstat`` found it."""

    regular: bool
    uid: int
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Scope:
    """Which files a run may remove: of its own ``kinds`` (or of a kind outside ``known``, which no command
    makes any more), and within ``--limit`` (``groups``: each user's groups by casefolded address)."""

    kinds: frozenset[str]
    known: frozenset[str]
    patterns: Patterns = None
    groups: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def covers(self, entry: Mapping[str, Any]) -> bool:
        kind = entry.get("kind", "device")
        if self.kinds and kind not in self.kinds and kind in self.known:
            return False
        if self.patterns:
            user = entry.get("user")
            return isinstance(user, str) and matches(user, str(entry.get("device") or "") or None,
                                                     self.groups.get(user.casefold(), ()), self.patterns)
        return True


@dataclass(frozen=True, slots=True)
class Carry:
    """A file out of the run's scope: its entry and index line go on unchanged."""

    entry: dict[str, Any]
    line: bytes


@dataclass(frozen=True, slots=True)
class Retire:
    """A stale file in scope: removed if it is still the file we wrote (``sha256``)."""

    path: str
    sha256: str
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Claim:
    """An old manifest entry the index does not list: reported when the file is there, never removed."""

    path: str
    sha256: str


UNSAFE = "unsafe"               # an old manifest entry whose path leaves OUT: never used, counted as malformed


def stale(line: Entry, scope: Scope) -> Carry | Retire | None:
    """A file in the index the plan does not produce (None: its path was never ours to use)."""
    entry = line[0]
    if not safe_relative(entry["path"]):
        return None
    if not scope.covers(entry):
        return Carry(ArtifactRecord(**{k: v for k, v in entry.items() if k in _RECORD_FIELDS}).to_json(), line[1])
    return Retire(entry["path"], entry["sha256"], entry)


def claim(line: Entry, scope: Scope) -> Claim | str | None:
    """An old manifest entry for a file the index does not list: :data:`UNSAFE`, a claim, or None (out of scope)."""
    entry = line[0]
    if not safe_relative(entry["path"]):
        return UNSAFE
    return Claim(entry["path"], entry["sha256"]) if scope.covers(entry) else None


def _inside(unit: Unit, path: str) -> bool:
    return path.startswith(unit.key) if unit.key.endswith("/") else path == unit.key


@dataclass(slots=True)
class Slice:
    """A unit with what the index and the old manifest say about it."""

    position: int
    unit: Unit
    before: list[Entry]                 # index lines sorted before the unit: not produced by this plan
    inside: dict[str, Entry]            # index lines within the unit's folder or at its path
    claims: list[Entry]                 # old manifest entries before the unit and within it


class Merge:
    """The index and the old manifest, cut along the plan's units (both sorted by path)."""

    def __init__(self, index: Iterable[Entry], manifest: Iterable[Entry]):
        self._index, self._manifest = iter(index), iter(manifest)
        self._line, self._claim = next(self._index, None), next(self._manifest, None)

    def cut(self, position: int, unit: Unit) -> Slice:
        """The next unit's slice; units come in the order of their keys."""
        found = Slice(position, unit, [], {}, [])
        while self._line is not None and self._line[0]["path"] < unit.key:
            found.before.append(self._line)
            self._line = next(self._index, None)
        while self._line is not None and _inside(unit, self._line[0]["path"]):
            found.inside[self._line[0]["path"]] = self._line
            self._line = next(self._index, None)
        while self._claim is not None and (self._claim[0]["path"] < unit.key or _inside(unit, self._claim[0]["path"])):
            found.claims.append(self._claim)
            self._claim = next(self._manifest, None)
        return found

    def rest(self) -> Iterator[Entry]:
        """The index lines after the last unit."""
        while self._line is not None:
            yield self._line
            self._line = next(self._index, None)

    def rest_claims(self, ours: set[str]) -> Iterator[Entry]:
        """The old manifest's entries after the last unit whose paths are not in ``ours`` (the index's)."""
        while self._claim is not None:
            if self._claim[0]["path"] not in ours:
                yield self._claim
            self._claim = next(self._manifest, None)


def expected(items: list[Item], inside: Mapping[str, Entry]) -> list[dict[str, Any]] | None:
    """The index lines of the unit's files when every one has the same input fingerprint (the unit may be up to
    date: its files are then looked at), else None."""
    found = []
    for item in items:
        line = inside.get(item.record.path)
        if line is None or item.record.inputs is None or line[0].get("inputs") != item.record.inputs:
            return None
        found.append(line[0])
    return found or None


def up_to_date(lines: list[dict[str, Any]], seen: Mapping[str, Seen | None], uid: int, index_ns: int) -> bool:
    """Is every file as it was written (regular, ours, same size and time, older than the index ``index_ns``)?

    A file as recent as the index could have changed within the same clock tick: it is compared by its bytes."""
    for line in lines:
        st = seen.get(line["path"])
        if (st is None or not st.regular or st.uid != uid or st.size != line["size"]
                or st.mtime_ns != line["mtime_ns"] or st.mtime_ns >= index_ns):
            return False
    return True


def unchanged_entry(item: Item, line: Entry) -> dict[str, Any] | bytes:
    """An up-to-date file's manifest entry: the plan's, with the hash the index recorded for the bytes on disk
    (the line's own bytes when they say the same)."""
    indexed, written = line
    entry = item.record.to_json()
    entry["sha256"] = indexed["sha256"]
    if indexed.get("signed"):
        entry["signed"] = True
    same = len(indexed) == len(entry) + _INDEX_ONLY and entry.items() <= indexed.items()
    return Index.manifest_entry(written) if same else entry


def unchanged_record(item: Item, line: Entry) -> ArtifactRecord:
    """An up-to-date file's full record, as the index describes it."""
    indexed = line[0]
    return dataclasses.replace(item.record, sha256=indexed["sha256"], signed=indexed.get("signed"),
                               size=indexed["size"], mtime_ns=indexed["mtime_ns"])


def classify(old: bytes | None, content: bytes, written: str | None) -> tuple[str, bool]:
    """A rendered file against the bytes on disk: its status, and whether someone else changed it since we wrote
    the bytes whose hash is ``written``."""
    if old == content:
        return UNCHANGED, False
    outside = old is not None and written is not None and hashlib.sha256(old).hexdigest() != written
    return (CREATED if old is None else CHANGED), outside


def fresh_folder(unit: Unit) -> str | None:
    """The folder a unit's files go to, when it has one of its own (moved in with one rename if it is new)."""
    return unit.key[:-1] if unit.key.endswith("/") else None
