"""Execute: do what the reconciler (``reconcile.py``) decides, in one pass over the plan.

For each unit it looks at OUT (what the reconciler needs to decide, as values), renders and
verifies the units that are not up to date (in worker processes when there are many,
``workers.py``), compares each rendered file with the bytes on disk, and stages what changes
and what is removed (``writer.py``; nothing in check mode). The new manifest is produced in
the same pass, entry by entry, into a :class:`~generator.output.manifest.Sink`, and the new
run index beside it. Diffs are made here. What went wrong while rendering (verification
failures, site template errors) is returned in the :class:`Outcome`, for the caller to refuse
the commit.
"""
from __future__ import annotations

import difflib
import os
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic
from ..formats.registry import named, show_text
from ..model import Finding
from ..plan.planner import Item, Plan, Progress, Rendered
from . import reconcile
from .changelog import ChangeLog
from .index import INDEX, Index
from .manifest import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    ArtifactRecord,
    Entry,
    Previous,
    Sink,
    manifest_chunks,
    warning_entries,
)
from .reconcile import CREATED, REMOVED, UNCHANGED, UNSAFE, Carry, Change, Claim, Merge, Retire, Scope, Seen, Slice
from .safefs import OutDir
from .state import STATE
from .workers import Renderer
from .writer import Stage

CHUNK = 64                  # units per task for the workers (rendered format by format: Plan.render_units)
WRITE_ENTRIES = 256         # manifest chunks gathered before they are written
MAX_OUTSIDE_SHOWN = 10      # files changed outside mailprofiles named one by one; the rest are counted
Payload = dict[str, Any] | bytes        # a manifest entry, or its JSON as the index holds it


@dataclass(slots=True)
class Outcome:
    records: list[ArtifactRecord] | None = None       # every planned artifact, when asked for
    changes: ChangeLog = field(default_factory=ChangeLog)  # created, changed and removed files, in path order
    kept: list[str] = field(default_factory=list)         # stale paths that are not ours to delete
    outside: list[str] = field(default_factory=list)      # files changed by someone else since the last run
    unchanged: int = 0
    rendered: int = 0                                     # files rendered (the others were up to date)
    manifest_changed: bool = False
    index_changed: bool = False
    failures: list[str] = field(default_factory=list)     # verification failures: a bug, nothing may be committed
    template_errors: list[Diagnostic] = field(default_factory=list)   # site templates that fail: the same


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


@dataclass(slots=True)
class _Work:
    cut: Slice
    items: list[Item] | None            # the unit's files, when the decision needed them (see ``_look``)
    current: bool                       # every file is up to date: nothing to render
    fresh: str | None                   # the unit's folder when it is not in OUT (every file is created)


class Executor:
    """One pass over the plan, the run index and the previous manifest; see the module's docstring."""

    def __init__(self, plan: Plan, outdir: OutDir | None, previous: Previous, index: Index, diff: bool,
                 stage: Stage | None, keep_records: bool):
        self.plan, self.outdir, self.previous, self.diff, self.stage = plan, outdir, previous, diff, stage
        self.index = index
        self._index_lines: list[bytes] = []
        self.result = Outcome(records=[] if keep_records else None)
        self.uid = os.geteuid()
        groups = {d.user.email.casefold(): d.user.groups for d in plan.inventory.devices} if plan.patterns else {}
        self.scope = Scope(plan.kinds, plan.known_kinds(), plan.patterns, groups)
        self._outside = 0
        self._pending: list[Change] = []    # the changes of the unit at hand, handed to the log sorted

    def _settle(self) -> None:
        """Hand the changes found since the last call to the log, sorted by path."""
        if self._pending:
            self._pending.sort(key=lambda change: change.path)
            self.result.changes.extend(self._pending)
            self._pending.clear()

    def run(self, findings: tuple[Finding, ...], jobs: int, progress: Progress | None,
            old_index: int | None) -> Outcome:
        """``old_index``: a descriptor on the old index (closed here), to compare the new one with."""
        stage = self.stage
        sink = Sink(self.outdir.open_regular(MANIFEST, MAX_MANIFEST_BYTES) if self.outdir is not None else None,
                    stage.manifest_file if stage is not None else None)
        index_sink = Sink(old_index, stage.index_file if stage is not None else None)
        index_sink.write(self.index.header)
        try:
            warnings = warning_entries(self.plan.command, findings, lambda: self.previous.others(self.plan.command))
            chunks: list[bytes] = []       # written a few hundred entries at a time (the same bytes)
            for chunk in manifest_chunks(self._entries(jobs, progress), warnings):
                chunks.append(chunk)
                if len(chunks) >= WRITE_ENTRIES:
                    self._write(sink, index_sink, chunks)
            self._write(sink, index_sink, chunks)
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
        self._settle()
        self.result.changes.finish()
        return self.result

    def _write(self, sink: Sink, index_sink: Sink, chunks: list[bytes]) -> None:
        """The manifest's chunks so far, and the index lines made meanwhile."""
        if chunks:
            sink.write(b"".join(chunks))
            chunks.clear()
        lines = self._index_lines
        if lines:
            lines.append(b"")
            index_sink.write(b"\n".join(lines))
            lines.clear()

    def _entries(self, jobs: int, progress: Progress | None) -> Iterator[Payload]:
        """The new manifest's artifact entries, in path order, while rendering and staging."""
        units = self.plan.units()
        merge = Merge(self.index, self.previous)        # the old manifest: claims only (see reconcile.py)
        stage = self.stage
        renderer = Renderer(self.plan, units, jobs,
                            stage.staging_fd if stage is not None and not self.diff else None,
                            self.index.entry_and_line, self.result.records is not None)
        window: deque[tuple[list[_Work], Any]] = deque()
        batch: list[_Work] = []
        done = 0
        try:
            for position, unit in enumerate(units):
                batch.append(self._look(merge.cut(position, unit)))
                if len(batch) >= CHUNK or position == len(units) - 1:
                    asked = [w for w in batch if not w.current]
                    tasks = [(w.cut.position, w.fresh is not None and stage is not None) for w in asked]
                    window.append((batch, renderer.submit(tasks, len(units) - position - 1, [w.items for w in asked])))
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
        for line in merge.rest():
            ours.add(line[0]["path"])
            carried = self._stale(line)
            self._settle()
            if carried is not None:
                self._index_lines.append(carried.line)
                yield carried.entry
        for line in merge.rest_claims(ours):
            self._claimed(line)

    def _look(self, cut: Slice) -> _Work:
        """Look at what the reconciler needs to know of the unit's files on disk, and let it decide.

        A unit of which the index lists no file is rendered whatever its files are: its list of files (with their
        fingerprints) is then made where it is rendered, not here too."""
        current, fresh, outdir = False, None, self.outdir
        items = self.plan.items(cut.unit) if outdir is not None and cut.inside else None
        lines = reconcile.expected(items, cut.inside) if items is not None else None
        if outdir is not None and lines is not None:
            seen = {line["path"]: _seen(outdir, line["path"]) for line in lines}
            current = reconcile.up_to_date(lines, seen, self.uid, self.index.written_ns)
        folder = reconcile.fresh_folder(cut.unit)
        if not current and outdir is not None and folder is not None and outdir.lstat(folder) is None:
            fresh = folder       # not in OUT: moved in with one rename
        return _Work(cut, items, current, fresh)

    @staticmethod
    def _rendered(works: list[_Work], results: list[Rendered]) -> Iterator[Rendered | None]:
        it = iter(results)
        for work in works:
            yield None if work.current else next(it)

    def _finish(self, work: _Work, rendered: Rendered | None) -> Iterator[Payload]:
        cut = work.cut
        for line in cut.before:
            carried = self._stale(line)
            if carried is not None:
                self._index_lines.append(carried.line)
                yield carried.entry
        out: list[tuple[str, Payload, bytes | None]] = []
        produced = self._carried_over(work, out) if rendered is None else self._made(work, rendered, out)
        for path, line in cut.inside.items():
            if path not in produced:
                carried = self._stale(line)
                if carried is not None:
                    out.append((path, carried.entry, carried.line))
        ours = produced | cut.inside.keys() | {line[0]["path"] for line in cut.before}
        for entry in cut.claims:
            if entry[0]["path"] not in ours:
                self._claimed(entry)
        out.sort(key=lambda triple: triple[0])
        self._settle()
        for _, payload, index_line in out:
            if index_line is not None:
                self._index_lines.append(index_line)
            yield payload

    def _carried_over(self, work: _Work, out: list[tuple[str, Payload, bytes | None]]) -> set[str]:
        """An up-to-date unit: its entries from the plan and the index line of each file, nothing rendered."""
        assert work.current and work.items is not None
        result, cut = self.result, work.cut
        result.unchanged += len(work.items)
        for item in work.items:
            line = cut.inside[item.record.path]
            out.append((item.record.path, reconcile.unchanged_entry(item, line), line[1]))
            if result.records is not None:
                result.records.append(reconcile.unchanged_record(item, line))
        return {item.record.path for item in work.items}

    def _made(self, work: _Work, rendered: Rendered, out: list[tuple[str, Payload, bytes | None]]) -> set[str]:
        """A rendered unit: each file compared with the disk (or adopted from a worker's staging), its entry made."""
        result, cut, stage, fresh, made = self.result, work.cut, self.stage, work.fresh, self.index.entry_and_line
        result.failures.extend(rendered.failures)
        result.template_errors.extend(rendered.template_errors)
        records, pending = result.records, self._pending
        produced = set()
        if rendered.staged:              # written by a worker, entries and index lines made there
            assert stage is not None and fresh is not None
            stage.adopt(rendered.staged[0][0], fresh)     # the folder is journaled once, at its first file
            for path, entry, index_line, written in rendered.staged:
                pending.append(Change(path, CREATED))
                produced.add(path)
                out.append((path, entry, index_line))
                if records is not None and written is not None:
                    records.append(written)
            result.rendered += len(rendered.staged)
        for planned in rendered.planned:
            path = planned.record.path
            record = self._compare(planned.record, planned.content, planned.format.show, planned.template,
                                   cut.inside.get(path), fresh)
            produced.add(path)
            entry, line = made(record, record.size, record.mtime_ns)   # no line: not written (check mode)
            out.append((path, entry, line))
            if records is not None:
                records.append(record)
        result.rendered += len(rendered.planned)
        return produced

    def _compare(self, record: ArtifactRecord, content: bytes, show: Any, template: str,
                 previous: Entry | None, fresh: str | None) -> ArtifactRecord:
        """One rendered file against the disk: unchanged, or staged as created or changed."""
        path, outdir = record.path, self.outdir
        old = outdir.read(path) if outdir is not None and fresh is None else None
        status, outside = reconcile.classify(old, content, previous[0]["sha256"] if previous is not None else None)
        if status == UNCHANGED:
            self.result.unchanged += 1
            st = outdir.lstat(path) if outdir is not None else None
            return record if st is None else record.written(st.st_size, st.st_mtime_ns)
        if outside:
            self._outside += 1
            if self._outside <= MAX_OUTSIDE_SHOWN:
                shown = outdir.shown(path) if outdir is not None else path
                self.result.outside.append(
                    f"{shown} was changed outside mailprofiles since the last run; it "
                    f"{'would be' if self.stage is None else 'is'} replaced by the generated file")
        shown_diff = (f"# {path}: made from template {template}\n" + unified_diff(
            path, show(old) if old is not None else None, show(content))) if self.diff else ""
        self._pending.append(Change(path, status, shown_diff))
        if self.stage is not None:
            size, mtime_ns = self.stage.add(path, content, fresh)
            return record.written(size, mtime_ns)
        return record

    def _stale(self, line: Entry) -> Carry | None:
        """A file in the index the plan does not produce: carried (returned), removed or kept."""
        decision = reconcile.stale(line, self.scope)
        if not isinstance(decision, Retire):
            return decision
        outdir, path = self.outdir, decision.path
        reason = outdir.still_ours(path, decision.sha256) if outdir is not None else ""
        if reason:
            self.result.kept.append(f"kept {outdir.shown(path) if outdir else path}: {reason}")
        elif reason is None and outdir is not None:
            old = outdir.read(path) if self.diff else None
            shown = unified_diff(path, _show(decision.entry, old), None) if old is not None else ""
            self._pending.append(Change(path, REMOVED, shown))
            if self.stage is not None:
                self.stage.remove(path, decision.sha256)
        return None

    def _claimed(self, line: Entry) -> None:
        """An old manifest entry for a file the index does not list: never removed, and said so when it is there."""
        decision = reconcile.claim(line, self.scope)
        if decision == UNSAFE:
            self.previous.unsafe()       # never used: counted as malformed
            return
        if self.outdir is None or not isinstance(decision, Claim):
            return
        reason = self.outdir.still_ours(decision.path, decision.sha256)
        if reason is None:
            reason = f"{MANIFEST} lists it, but mailprofiles has no record of writing it, so it is not removed"
        if reason:
            self.result.kept.append(f"kept {self.outdir.shown(decision.path)}: {reason}")


def _seen(outdir: OutDir, path: str) -> Seen | None:
    st = outdir.lstat(path)
    return None if st is None else Seen(stat.S_ISREG(st.st_mode), st.st_uid, st.st_size, st.st_mtime_ns)
