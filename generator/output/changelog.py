"""The files a run creates, changes and removes, in path order, held in bounded memory.

A cold run over a large roster changes every file it makes: a list of them in memory would
grow with the roster (about 1 KB per user). :class:`ChangeLog` keeps the first ``keep``
changes as objects and writes the rest, one JSON line each, to an anonymous temporary file
(created in the system's temporary folder and unlinked at once: it is never in OUT, nobody
can open it by name, and it goes when it is closed or the process ends). The counts by
status are kept as numbers, so the recap needs no pass over the file; reading the changes
(the list of ``--json``, the console's list, ``--diff``) reads the file again in order.

Changes must arrive sorted by path (the executor hands them over unit by unit, each unit's
sorted; units never interleave). Should one arrive out of order, the log sorts itself when it
is finished, in memory: correct first, bounded memory second.
"""
from __future__ import annotations

import json
import os
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, overload

from ..jsontext import quoted
from .reconcile import CHANGED, CREATED, REMOVED, Change

_QUOTED = {status: quoted(status) for status in (CREATED, CHANGED, REMOVED)}
KEEP = 4096              # changes held as objects before the rest is written to the temporary file


class ChangeLog(Sequence[Change]):
    """Changes in path order; see the module's docstring. Compares equal to any sequence of the same changes."""

    def __init__(self, keep: int | None = None):
        self._keep = KEEP if keep is None else keep
        self._reset()

    def _reset(self) -> None:
        self._head: list[Change] = []
        self._spool: IO[bytes] | None = None
        self._buffer: list[bytes] = []
        self._length = 0
        self._counts: dict[str, int] = {}
        self._last = ""
        self._sorted = True

    def extend(self, changes: Iterable[Change]) -> None:
        """:meth:`append` for each change; once the log spools, the changes' lines are made here in one loop."""
        rest = iter(changes)
        while self._spool is None:
            change = next(rest, None)
            if change is None:
                return
            self.append(change)
        counts, buffer, last, added = self._counts, self._buffer, self._last, 0
        for change in rest:
            path, status = change.path, change.status
            if path < last:
                self._sorted = False
            last = path
            counts[status] = counts.get(status, 0) + 1
            added += 1
            buffer.append(f"[{quoted(path)}, {_QUOTED.get(status) or quoted(status)}, {quoted(change.diff)}]\n"
                          .encode())
        self._last = last
        self._length += added
        if len(buffer) >= 1024:
            self._flush()

    def append(self, change: Change) -> None:
        path, status = change.path, change.status
        if path < self._last:
            self._sorted = False
        self._last = path
        counts = self._counts
        counts[status] = counts.get(status, 0) + 1
        self._length += 1
        if self._spool is None:
            if len(self._head) < self._keep:
                self._head.append(change)
                return
            self._spool = tempfile.TemporaryFile(buffering=0, prefix="mailprofiles-changes-")
            weakref.finalize(self, self._spool.close)     # closed with the log (a result can outlive the run)
        # the text of ``[path, status, diff]`` as JSON, made string by string
        self._buffer.append(f"[{quoted(path)}, {quoted(status)}, {quoted(change.diff)}]\n".encode())
        if len(self._buffer) >= 1024:
            self._flush()

    def finish(self) -> ChangeLog:
        """Every change is in: sorted now if one came out of order. Returns itself."""
        self._flush()
        if not self._sorted:
            everything = sorted(self, key=lambda change: change.path)
            self.close()
            self._reset()
            self.extend(everything)
            self._flush()
        return self

    def count_of(self, status: str) -> int:
        return self._counts.get(status, 0)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _flush(self) -> None:
        if self._spool is not None and self._buffer:
            self._spool.write(b"".join(self._buffer))
            self._buffer.clear()

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Change]:
        yield from self._head
        if self._spool is None:
            return
        self._flush()
        fd, offset, rest = self._spool.fileno(), 0, b""
        while True:
            chunk = os.pread(fd, 1 << 16, offset)
            if not chunk:
                break
            offset += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                path, status, diff = json.loads(line)
                yield Change(path, status, diff)

    @overload
    def __getitem__(self, index: int) -> Change: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Change]: ...

    def __getitem__(self, index: int | slice) -> Change | Sequence[Change]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("change index out of range")
        if index < len(self._head):
            return self._head[index]
        for position, change in enumerate(self):   # spooled: read in order (the lists are read, not indexed)
            if position == index:
                return change
        raise IndexError("change index out of range")  # pragma: no cover - the length says otherwise

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None      # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChangeLog({self._length} changes)"
