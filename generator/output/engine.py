"""Compare: the plan against what is in OUT and in the run index, in one pass.

The plan's units and the run index's lines (``generator/index.py``: what the earlier runs
wrote, in our own state folder) are both sorted by path, so they are merged like two sorted
lists, and the new manifest is produced in the same pass, entry by entry, into a
:class:`~generator.manifest.Sink`. The old manifest is only read to say what it lists that
mailprofiles has no record of writing: anyone could have edited it, so no entry of the new
one is ever taken from its text. For each unit:

- **up to date**: every file has a line in the run index with the same input fingerprint,
  and is on disk as it was written (a regular file of ours with the recorded size and
  modification time): nothing is rendered or read; its entry is the plan's, with the sha256
  the index recorded for those bytes;
- otherwise it is rendered and verified (in worker processes when there are many), and each
  file is created, changed or unchanged by its bytes. A file whose bytes on disk are not
  what the previous run wrote was changed by someone else: it is replaced, and said so.

Each file in the index the plan no longer produces is removed (when it still has the bytes
we wrote), unless ``--limit`` or the run's kinds (``generate`` and ``fleet`` share an output
folder) leave it out of scope: then its entry is carried. Diffs are made here. Nothing is
written but through the stage (none in check mode).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..formats.registry import named, show_text
from ..model import Finding
from ..paths import safe_relative
from ..plan.planner import Item, Plan, Progress, Rendered, Unit
from ..plan.selection import matches
from .index import INDEX, Index
from .manifest import MANIFEST, MAX_MANIFEST_BYTES, ArtifactRecord, Entry, Previous, Sink, manifest_chunks
from .safefs import OutDir
from .state import STATE
from .workers import Renderer
from .writer import Stage

CREATED, CHANGED, UNCHANGED, REMOVED = "created", "changed", "unchanged", "removed"
CHUNK = 16                  # units per task for the workers
MAX_OUTSIDE_SHOWN = 10      # files changed outside mailprofiles named one by one; the rest are counted


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    status: str
    diff: str = ""


@dataclass(slots=True)
class Comparison:
    records: list[ArtifactRecord] | None = None       # every planned artifact, when asked for
    changes: list[Change] = field(default_factory=list)    # created, changed and removed files
    kept: list[str] = field(default_factory=list)         # stale paths that are not ours to delete
    outside: list[str] = field(default_factory=list)      # files changed by someone else since the last run
    unchanged: int = 0
    rendered: int = 0                                     # files rendered (the others were up to date)
    manifest_changed: bool = False
    index_changed: bool = False


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


def _inside(unit: Unit, path: str) -> bool:
    return path.startswith(unit.key) if unit.key.endswith("/") else path == unit.key


@dataclass(slots=True)
class _Work:
    index: int
    unit: Unit
    items: list[Item]
    before: list[Entry]                 # index lines sorted before the unit
    inside: dict[str, Entry]            # index lines within the unit's folder or at its path
    claims: list[Entry]                 # old manifest entries before the unit and within it
    current: bool                       # every file is up to date: nothing to render
    fresh: str | None                   # the unit's folder when it is not in OUT (every file is created)


_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(ArtifactRecord))
_INDEX_ONLY = 4                 # fields of an up-to-date file's index line beyond its manifest entry: inputs, size,
                                # mtime_ns, check


class Comparer:
    """One pass over the plan and the previous manifest; see the module's docstring."""

    def __init__(self, plan: Plan, outdir: OutDir | None, previous: Previous, index: Index, diff: bool,
                 stage: Stage | None, keep_records: bool):
        self.plan, self.outdir, self.previous, self.diff, self.stage = plan, outdir, previous, diff, stage
        self.index = index
        self._index_lines: list[bytes] = []
        self.result = Comparison(records=[] if keep_records else None)
        self.uid = os.geteuid()
        self._groups: dict[str, tuple[str, ...]] | None = None
        self._outside = 0

    def run(self, findings: tuple[Finding, ...], jobs: int, progress: Progress | None,
            old_index: int | None) -> Comparison:
        """``old_index``: a descriptor on the old index (closed here), to compare the new one with."""
        stage = self.stage
        sink = Sink(self.outdir.open_regular(MANIFEST, MAX_MANIFEST_BYTES) if self.outdir is not None else None,
                    stage.manifest_file if stage is not None else None)
        index_sink = Sink(old_index, stage.index_file if stage is not None else None)
        index_sink.write(self.index.header)
        try:
            for chunk in manifest_chunks(self._entries(jobs, progress), (f.to_json() for f in findings)):
                sink.write(chunk)
                for line in self._index_lines:
                    index_sink.write(line + b"\n")
                self._index_lines.clear()
            self.result.manifest_changed = sink.finish()
            self.result.index_changed = index_sink.finish()
            if self.index.dropped and self.outdir is not None:
                self.result.outside.append(
                    f"{self.outdir.shown(f'{STATE}/{INDEX}')}: {self.index.dropped:,} lines were not written by "
                    "mailprofiles (edited by hand?); their files are compared by their bytes and never removed")
        finally:
            sink.close()
            index_sink.close()
        if self._outside > MAX_OUTSIDE_SHOWN:
            self.result.outside.append(f"... and {self._outside - MAX_OUTSIDE_SHOWN:,} more files changed outside "
                                       "mailprofiles")
        self.result.changes.sort(key=lambda c: c.path)
        return self.result

    # the merge ---------------------------------------------------------------------------------------

    def _entries(self, jobs: int, progress: Progress | None) -> Iterator[dict[str, Any] | bytes]:
        """The new manifest's artifact entries, in path order, while comparing and staging."""
        units = self.plan.units()
        previous = iter(self.previous)          # claims only: see the module's docstring
        pending: Entry | None = next(previous, None)
        index = iter(self.index)
        indexed: Entry | None = next(index, None)
        stage = self.stage
        renderer = Renderer(self.plan, units, jobs,
                            stage.staging_fd if stage is not None and not self.diff else None)
        window: deque[tuple[list[_Work], Any]] = deque()
        batch: list[_Work] = []
        done = 0
        try:
            for position, unit in enumerate(units):
                before: list[Entry] = []
                while indexed is not None and indexed[0]["path"] < unit.key:
                    before.append(indexed)
                    indexed = next(index, None)
                inside: dict[str, Entry] = {}
                while indexed is not None and _inside(unit, indexed[0]["path"]):
                    inside[indexed[0]["path"]] = indexed
                    indexed = next(index, None)
                claims: list[Entry] = []
                while pending is not None and (pending[0]["path"] < unit.key or _inside(unit, pending[0]["path"])):
                    claims.append(pending)
                    pending = next(previous, None)
                items = self.plan.items(unit)
                current = self._current(items, inside)
                fresh = None         # the unit's folder, when it is not in OUT: moved in with one rename
                if not current and self.outdir is not None and unit.key.endswith("/") and \
                        self.outdir.lstat(unit.key[:-1]) is None:
                    fresh = unit.key[:-1]
                batch.append(_Work(position, unit, items, before, inside, claims, current, fresh))
                if len(batch) >= CHUNK or position == len(units) - 1:
                    tasks = [(w.index, w.fresh is not None and stage is not None) for w in batch if not w.current]
                    window.append((batch, renderer.submit(tasks, len(units) - position - 1)))
                    batch = []
                while window and (len(window) > renderer.depth or position == len(units) - 1):
                    works, handle = window.popleft()
                    for work, rendered in zip(works, self._rendered(works, renderer.result(handle))):
                        yield from self._finish(work, rendered)
                    done += len(works)
                    if progress is not None:
                        progress(done, len(units))
        finally:
            renderer.close()
        ours: set[str] = set()
        while indexed is not None:
            ours.add(indexed[0]["path"])
            carried = self._gone(indexed)
            if carried is not None:
                self._index_lines.append(indexed[1])
                yield carried
            indexed = next(index, None)
        while pending is not None:
            if pending[0]["path"] not in ours:
                self._claimed(pending)
            pending = next(previous, None)

    @staticmethod
    def _rendered(works: list[_Work], results: list[Rendered]) -> Iterator[Rendered | None]:
        it = iter(results)
        for work in works:
            yield None if work.current else next(it)

    def _current(self, items: list[Item], lines: dict[str, Entry]) -> bool:
        """Is every file of the unit up to date (see the module's docstring)?"""
        if self.outdir is None or not items:
            return False
        for item in items:
            line = lines.get(item.record.path)
            if line is None or item.record.inputs is None:
                return False
            indexed = line[0]
            if indexed.get("inputs") != item.record.inputs:
                return False
            st = self.outdir.lstat(item.record.path)
            if (st is None or not stat.S_ISREG(st.st_mode) or st.st_uid != self.uid or st.st_size != indexed["size"]
                    or st.st_mtime_ns != indexed["mtime_ns"] or st.st_mtime_ns >= self.index.written_ns):
                return False    # changed, or written in the same clock tick as the index: compared by bytes
        return True

    def _finish(self, work: _Work, rendered: Rendered | None) -> Iterator[dict[str, Any] | bytes]:
        for line in work.before:
            carried = self._gone(line)
            if carried is not None:
                self._index_lines.append(line[1])
                yield carried
        out: list[tuple[str, dict[str, Any] | bytes, bytes | None]] = []
        if rendered is None:
            assert work.current
            self.result.unchanged += len(work.items)
            for item in work.items:       # the plan's entry, with the hash the index recorded for the bytes on disk
                indexed, written = work.inside[item.record.path]
                entry = item.record.to_json()
                entry["sha256"] = indexed["sha256"]
                if indexed.get("signed"):
                    entry["signed"] = True
                same = len(indexed) == len(entry) + _INDEX_ONLY and entry.items() <= indexed.items()
                out.append((item.record.path, Index.manifest_entry(written) if same else entry, written))
                if self.result.records is not None:
                    self.result.records.append(dataclasses.replace(
                        item.record, sha256=indexed["sha256"], signed=indexed.get("signed"), size=indexed["size"],
                        mtime_ns=indexed["mtime_ns"]))
            produced = {item.record.path for item in work.items}
        else:
            self.plan.failures.extend(rendered.failures)
            self.plan.template_errors.extend(rendered.template_errors)
            produced = set()
            inputs = {item.record.path: item.record.inputs for item in work.items}   # workers leave them out
            for planned in rendered.planned:
                if planned.staged:           # a worker wrote it to the staging folder already
                    assert self.stage is not None and work.fresh is not None
                    self.stage.adopt(planned.record.path, work.fresh)
                    self.result.changes.append(Change(planned.record.path, CREATED))
                    record = planned.record
                else:
                    record = self._compare(planned.record, planned.content, planned.format.show,
                                           planned.template, work.inside.get(planned.record.path), work.fresh)
                self.result.rendered += 1
                produced.add(record.path)
                fields = dataclasses.replace(record, inputs=inputs.get(record.path)).index_json()
                out.append((record.path, record.to_json(), self.index.line(fields) if fields is not None else None))
                if self.result.records is not None:
                    self.result.records.append(record)
        for path, line in work.inside.items():
            if path not in produced:
                carried = self._gone(line)
                if carried is not None:
                    out.append((path, carried, line[1]))
        ours = produced | work.inside.keys() | {line[0]["path"] for line in work.before}
        for claim in work.claims:
            if claim[0]["path"] not in ours:
                self._claimed(claim)
        out.sort(key=lambda triple: triple[0])
        for _, payload, index_line in out:
            if index_line is not None:
                self._index_lines.append(index_line)
            yield payload

    def _compare(self, record: ArtifactRecord, content: bytes, show: Any, template: str,
                 previous: Entry | None, fresh: str | None) -> ArtifactRecord:
        """One rendered file against the disk: unchanged, or staged as created or changed."""
        path, outdir = record.path, self.outdir
        old = outdir.read(path) if outdir is not None and fresh is None else None
        if old == content:
            self.result.unchanged += 1
            st = outdir.lstat(path) if outdir is not None else None
            return record if st is None else dataclasses.replace(record, size=st.st_size, mtime_ns=st.st_mtime_ns)
        if old is not None and previous is not None and hashlib.sha256(old).hexdigest() != previous[0]["sha256"]:
            self._outside += 1
            if self._outside <= MAX_OUTSIDE_SHOWN:
                shown = outdir.shown(path) if outdir is not None else path
                self.result.outside.append(
                    f"{shown} was changed outside mailprofiles since the last run; it "
                    f"{'would be' if self.stage is None else 'is'} replaced by the generated file")
        shown_diff = (f"# {path}: made from template {template}\n" + unified_diff(
            path, show(old) if old is not None else None, show(content))) if self.diff else ""
        self.result.changes.append(Change(path, CREATED if old is None else CHANGED, shown_diff))
        if self.stage is not None:
            size, mtime_ns = self.stage.add(path, content, fresh)
            return dataclasses.replace(record, size=size, mtime_ns=mtime_ns)
        return record

    def _in_scope(self, entry: dict[str, Any]) -> bool:
        """Is a file the plan does not produce this run's to remove (not left out by --limit or the run's kinds)?"""
        plan = self.plan
        if plan.kinds and entry.get("kind", "device") not in plan.kinds:
            return False
        user = entry.get("user")
        if plan.patterns:
            if self._groups is None:
                self._groups = {d.user.email.casefold(): d.user.groups for d in plan.inventory.devices}
            if not (isinstance(user, str) and matches(user, str(entry.get("device") or "") or None,
                                                      self._groups.get(user.casefold(), ()), plan.patterns)):
                return False
        return True

    def _gone(self, line: Entry) -> dict[str, Any] | None:
        """A file in the index the plan does not produce: carried (its manifest entry is returned), removed or kept."""
        entry = line[0]
        path = entry["path"]
        if not safe_relative(path):
            return None                  # never written by us: never used
        if not self._in_scope(entry):    # outside --limit or the run's kinds: left as it is, even if stale
            return ArtifactRecord(**{k: v for k, v in entry.items() if k in _RECORD_FIELDS}).to_json()
        outdir = self.outdir
        reason = outdir.still_ours(path, entry["sha256"]) if outdir is not None else ""
        if reason:
            self.result.kept.append(f"kept {outdir.shown(path) if outdir else path}: {reason}")
        elif reason is None and outdir is not None:
            old = outdir.read(path) if self.diff else None
            shown = unified_diff(path, _show(entry, old), None) if old is not None else ""
            self.result.changes.append(Change(path, REMOVED, shown))
            if self.stage is not None:
                self.stage.remove(path, entry["sha256"])
        return None

    def _claimed(self, claim: Entry) -> None:
        """An old manifest entry for a file the index does not list: never removed, and said so when it is there."""
        entry = claim[0]
        path = entry["path"]
        if not safe_relative(path):
            self.previous.unsafe()       # never used: counted as malformed
            return
        if self.outdir is None or not self._in_scope(entry):
            return
        reason = self.outdir.still_ours(path, entry["sha256"])
        if reason is None:
            reason = f"{MANIFEST} lists it, but mailprofiles has no record of writing it, so it is not removed"
        if reason:
            self.result.kept.append(f"kept {self.outdir.shown(path)}: {reason}")
