"""``OUT/.mailprofiles``: the run's own state folder (staging files, staged manifest, journal).

It must be a real folder, owned by the user running mailprofiles and writable by nobody
else; anything else there is refused. The journal is the commit point of a run: it lists
the staged files to move in (by number), the stale files to remove with the hash that was
written, and whether the manifest is replaced. A journal is read with bounds and checked
field by field; one that does not parse is never replayed.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator

from ..bounded import read_at_most
from ..errors import OutputError
from ..jsontext import dumps
from ..paths import safe_relative
from .safefs import OutDir, describe

STATE = ".mailprofiles"
STAGING = "staging"
JOURNAL = "journal.json"
PENDING_JOURNAL = "journal.pending"
STAGED_INDEX = "index.staged"      # the run index (generator/index.py), staged
STAGED_MANIFEST = "manifest.json"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class State:
    """``OUT/.mailprofiles``: ours, or refused."""

    def __init__(self, outdir: OutDir, fd: int):
        self.outdir = outdir
        self.fd = fd

    @classmethod
    def open(cls, outdir: OutDir, create: bool) -> State | None:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(STATE, 0o700, dir_fd=outdir.fd)
        try:
            fd = os.open(STATE, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=outdir.fd)
        except FileNotFoundError:
            return None
        except OSError:
            st = os.stat(STATE, dir_fd=outdir.fd, follow_symlinks=False)
            raise OutputError(f"{outdir.shown(STATE)} is {describe(st.st_mode)}, not mailprofiles' state folder; "
                              "move it away and run again") from None
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            os.close(fd)
            raise OutputError(f"{outdir.shown(STATE)} belongs to another user or can be written by others; "
                              "mailprofiles trusts no state it did not make: move it away and run again")
        return cls(outdir, fd)

    def close(self) -> None:
        """Close, removing the folder when it is empty and still the one that was checked."""
        with contextlib.suppress(OSError):
            if os.stat(STATE, dir_fd=self.outdir.fd, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino:
                os.rmdir(STATE, dir_fd=self.outdir.fd)
        os.close(self.fd)

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def staging(self, create: bool) -> int | None:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(STAGING, 0o700, dir_fd=self.fd)
        try:
            return os.open(STAGING, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.fd)
        except FileNotFoundError:
            return None

    def clear(self) -> None:
        """Remove the staging tree, the staged manifest and the journal (the journal last)."""
        remove_tree(self.fd, STAGING)
        for name in (STAGED_MANIFEST, STAGED_INDEX, PENDING_JOURNAL, JOURNAL):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.fd)

    def create(self, name: str, chunks: Iterable[bytes], directory: int | None = None,
               sync: bool = False) -> os.stat_result:
        """Write a new file (never an existing one, never through a link); returns its status as written."""
        fd = self.open_new(name, directory)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
            return os.fstat(fd)
        finally:
            os.close(fd)

    def open_new(self, name: str, directory: int | None = None) -> int:
        return os.open(name, _CREATE, 0o644, dir_fd=self.fd if directory is None else directory)

    def read(self, name: str, limit: int) -> bytes:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > limit:
                raise ValueError(f"{name} is not a regular file of ours below {limit:,} bytes")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return read_at_most(handle, limit + 1)
        finally:
            os.close(fd)


def remove_tree(parent: int, name: str) -> None:
    """Remove the folder ``name`` (in ``parent``) and all below it; links are removed, never followed."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    except FileNotFoundError:
        return
    except OSError:          # not a folder (a link, a file): removed as it is
        os.unlink(name, dir_fd=parent)
        return
    try:
        with os.scandir(fd) as entries:
            found = list(entries)
        for entry in found:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


class JournalWriter:
    """The journal, written line by line while the changes are staged; ``commit`` makes it the journal.

    One JSON value per line: ``{"version": 2}``, then the entries: ``["move", path]`` (the file
    staged at ``staging/path`` goes to ``OUT/path``), ``["tree", folder]`` (a whole new folder staged
    at ``staging/folder`` goes to ``OUT/folder``), ``["remove", path, sha256]``; then
    ``{"end": true, "manifest": ..., "moves": n, "removals": n}``.
    """

    def __init__(self, state: State):
        self.state = state
        self.moves = 0
        self.removals = 0
        self._fd: int | None = None
        self._buffer: list[bytes] = []

    def _line(self, value: object) -> None:
        if self._fd is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(PENDING_JOURNAL, dir_fd=self.state.fd)
            self._fd = self.state.open_new(PENDING_JOURNAL)
            self._buffer.append(b'{"version": 2}\n')
        self._buffer.append(dumps(value).encode() + b"\n")
        if len(self._buffer) >= 512:
            self._flush()

    def _flush(self) -> None:
        if self._fd is not None and self._buffer:
            data = memoryview(b"".join(self._buffer))
            self._buffer.clear()
            while data:
                data = data[os.write(self._fd, data):]

    def move(self, relative: str) -> None:
        self._line(["move", relative])
        self.moves += 1

    def tree(self, folder: str) -> None:
        self._line(["tree", folder])
        self.moves += 1

    def remove(self, relative: str, sha256: str) -> None:
        self._line(["remove", relative, sha256])
        self.removals += 1

    def commit(self, manifest: bool, index: bool) -> None:
        """Close the journal with its end line, flush it to disk and rename it into place: the commit point."""
        self._line({"end": True, "manifest": manifest, "index": index, "moves": self.moves,
                    "removals": self.removals})
        self._flush()
        assert self._fd is not None
        os.fsync(self._fd)
        self.close()
        os.rename(PENDING_JOURNAL, JOURNAL, src_dir_fd=self.state.fd, dst_dir_fd=self.state.fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Journal:
    """A committed journal, checked line by line in one pass, then read again as often as needed."""

    def __init__(self, state: State, manifest: bool, index: bool, moves: int, removals: int):
        self.state = state
        self.manifest = manifest
        self.index = index
        self.moves = moves
        self.removals = removals

    @classmethod
    def open(cls, state: State, limit: int) -> Journal:
        """Check the whole journal (ValueError when any line is wrong or the end line is missing)."""
        moves = removals = 0
        ends: list[dict[str, object]] = []
        for kind, _, _ in _entries(state, limit, ends):
            if kind != "remove":
                moves += 1
            else:
                removals += 1
        end = ends[0] if ends else None
        if end is None or end.get("moves") != moves or end.get("removals") != removals \
                or not isinstance(end.get("manifest"), bool) or not isinstance(end.get("index"), bool):
            raise ValueError("the journal is incomplete")
        return cls(state, bool(end["manifest"]), bool(end["index"]), moves, removals)

    def entries(self, limit: int) -> Iterator[tuple[str, str, str]]:
        """("move", path, ""), ("tree", folder, "") and ("remove", path, sha256), in the order written."""
        return _entries(self.state, limit, [])


def _entries(state: State, limit: int, end: list[dict[str, object]]) -> Iterator[tuple[str, str, str]]:
    fd = os.open(JOURNAL, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=state.fd)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > limit:
            raise ValueError(f"{JOURNAL} is not a regular file of ours below {limit:,} bytes")
        if json.loads(handle.readline(4096) or b"null") != {"version": 2}:
            raise ValueError("not a journal of this version")
        for line in handle:
            item = json.loads(line)
            if isinstance(item, dict):
                if item.get("end") is not True:
                    raise ValueError("bad end line")
                end.append(item)
                if handle.read(1):
                    raise ValueError("lines after the end line")
                return
            if not (isinstance(item, list) and len(item) in (2, 3) and all(isinstance(v, str) for v in item)):
                raise ValueError(f"bad entry {line[:80]!r}")
            kind, first, second = (*item, "") if len(item) == 2 else item
            if kind in ("move", "tree") and len(item) == 2 and safe_relative(first):
                yield kind, first, second
            elif kind == "remove" and safe_relative(first) and _SHA256.match(second):
                yield kind, first, second
            else:
                raise ValueError(f"bad entry {line[:80]!r}")
