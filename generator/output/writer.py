"""Apply: write the changes atomically, inside OUT, through a journal.

The run's own state lives in ``OUT/.mailprofiles/``, a folder that must be a real folder
owned by the running user and writable by nobody else; anything else there is refused.
Nothing is ever kept next to OUT, so whoever can write OUT's parent cannot plant state.

1. The run holds an exclusive lock on OUT's folder itself (``flock`` on its descriptor),
   so two runs through different spellings of the same folder cannot run at once.
2. Every changed artifact is written into ``.mailprofiles/staging/`` (a tree that mirrors OUT, on the
   same file system, so moves are renames), and the new manifest beside it; the journal's
   lines (moves, removals with the hash that was written) go to ``journal.pending`` as the
   changes are found, so nothing of the size of the output is held in memory.
3. When every artifact is rendered and verified, the journal gets its end line (whether the
   manifest is replaced, how many entries), is flushed and renamed to ``journal.json``: the
   commit point.
4. The moves are done (a link at a target is replaced, never followed), each removal is done
   only if the file is still a regular file with the hash we wrote, the manifest is moved in
   last, and the staging files and the journal go.

Steps 1-3, and the recovery of an interrupted run, are here; step 4 (also when it is replayed)
is ``replay.py``. A run killed before step 3 leaves OUT untouched; its staging files are deleted by the next
run. A run killed after it is completed by the next run, which replays the journal, but only
if every staged entry is a regular file in our staging folder. A failure during step 4
writes a manifest that describes what is on disk and says that a rerun completes it.

A rename cannot cross file systems: a folder of OUT that is a mount point (another file
system, or a bind mount) cannot receive staged files. Each move's target is checked against
the mount table while staging, so such a run is refused before the commit point, naming the
folder. Should a move still fail that way (the folder became a mount point after the check,
or between a kill and the replay), it is dropped, never retried: every other change is
completed, the manifest describes the disk, the journal goes, and the next run renders the
dropped files again (and refuses, naming the folder, while it is still a mount point).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError
from ..paths import safe_relative
from .index import INDEX
from .manifest import MANIFEST, MAX_MANIFEST_BYTES
from .replay import another, apply_journal
from .safefs import OutDir
from .state import JOURNAL, PENDING_JOURNAL, STAGED_INDEX, STAGED_MANIFEST, STAGING, STATE, Journal, JournalWriter, State

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def locked(out: Path) -> Iterator[OutDir]:
    """OUT, created if needed, opened and exclusively locked for the duration of a run.

    On the way out OUT is removed when this run created it and leaves it empty (a run that failed
    before writing anything leaves no trace).
    """
    created = not out.exists()
    outdir = OutDir.open(out, create=True)
    assert outdir is not None
    try:
        try:
            import fcntl
            fcntl.flock(outdir.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory locks, runs are not serialised
            pass
        except OSError:
            raise OutputError(f"another mailprofiles run is writing {out}") from None
        yield outdir
    finally:
        outdir.close()
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()


class Stage:
    """The staging area of one run, in OUT/.mailprofiles."""

    def __init__(self, outdir: OutDir):
        self.outdir = outdir
        state = State.open(outdir, create=True)
        assert state is not None
        self.state = state
        self.journal = JournalWriter(state)
        self._staging: StagingTree | None = None      # staging/, a tree that mirrors OUT
        self._fresh: str | None = None
        self._reached: tuple[str, ...] | None = None    # the last target folder found reachable by a rename
        self._open = True

    def add(self, relative: str, content: bytes, fresh: str | None = None) -> tuple[int, int]:
        """Stage a file at ``staging/relative``; returns its size and modification time (a rename keeps both).

        ``fresh``: a folder of ``relative`` that does not exist in OUT: the whole staged folder is moved in
        with one rename (journaled once, before its first file).
        """
        self.staging_fd()
        assert self._staging is not None
        self.adopt(relative, fresh)
        return self._staging.add(relative, content)

    def adopt(self, relative: str, fresh: str | None) -> None:
        """Journal a file staged at ``staging/relative`` (by :meth:`add`, or by a worker process)."""
        if fresh is not None and fresh != self._fresh:
            self._reachable(fresh)
            self.journal.tree(fresh)
            self._fresh = fresh
        elif fresh is None:
            self._reachable(relative)
            self.journal.move(relative)

    def _reachable(self, relative: str) -> None:
        """Refuse, before the commit point, a target that no rename from the staging folder can reach."""
        parents, _ = self.outdir.split(relative)
        if parents == self._reached:
            return
        foreign = self.outdir.foreign(f"{STATE}/{STAGING}", "/".join(parents))
        if foreign is not None:
            raise OutputError(f"{self.outdir.shown(foreign)} is {another(self.outdir)}; nothing was written: the output is "
                              f"intact. Make {self.outdir.shown(foreign)} a plain folder on the same file system "
                              "as the output folder (or mount that file system at the output folder itself), and "
                              "run again")
        self._reached = parents

    def staging_fd(self) -> int:
        """The staging folder (created now), for worker processes that stage files themselves."""
        if self._staging is None:
            fd = self.state.staging(create=True)
            assert fd is not None
            self._staging = StagingTree(fd)
        return self._staging.fd

    def remove(self, relative: str, sha256: str) -> None:
        self.journal.remove(relative, sha256)

    def manifest_file(self) -> int:
        """A new, empty staged manifest, open for writing (the caller closes it)."""
        return self._new(STAGED_MANIFEST)

    def index_file(self) -> int:
        """A new, empty staged run index, open for writing (the caller closes it)."""
        return self._new(STAGED_INDEX)

    def _new(self, name: str) -> int:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.state.fd)
        return self.state.open_new(name)

    def close(self) -> None:
        self.journal.close()
        if self._staging is not None:
            self._staging.close()
            self._staging = None
        if self._open:
            self._open = False
            self.state.close()

    def discard(self) -> None:
        """Drop the staged files, unless the journal was written: then the next run completes it."""
        if self._open and self.state.lstat(JOURNAL) is None:
            self.journal.close()
            if self._staging is not None:
                self._staging.close()
                self._staging = None
            self.state.clear()
        self.close()

    def commit(self, manifest: bool, index: bool) -> list[str]:
        """Write the journal (the commit point), then apply it. Returns what was kept and why."""
        if manifest:
            self._reachable(MANIFEST)
        self.journal.commit(manifest, index)
        try:
            return apply_journal(self.outdir, self.state, Journal.open(self.state, MAX_MANIFEST_BYTES), replay=False)
        finally:
            self.close()


class StagingTree:
    """The staging folder, where this process creates files by their path below the folder's descriptor.

    The tree is private: ``OUT/.mailprofiles`` is the running user's own and writable by nobody else
    (``state.py`` refuses it otherwise), and everything below it was made by this run, so no link can
    stand in a folder of it. A file therefore costs one ``open`` of its relative path (``O_NOFOLLOW``
    still guards its own name), and each folder one ``mkdir``: files come in path order, so the folders
    of the last file are known to exist and only the ones past them are made (a folder made by another
    process of the run, or again after an out-of-order file, is taken as it is: it is ours).
    """

    def __init__(self, fd: int):
        self.fd = fd
        self._made: tuple[str, ...] = ()          # the folders of the last file staged, known to exist
        self._folder = ""                         # ... as one path

    def add(self, relative: str, content: bytes) -> tuple[int, int]:
        """Write a new file at ``relative`` (never over one, never through a link): its size and time."""
        if not safe_relative(relative):
            raise OutputError(f"refusing unsafe path {relative!r}")
        folder = relative.rpartition("/")[0]
        if folder != self._folder:          # else the folders of the last file: they exist
            parents = folder.split("/") if folder else []
            depth = 0
            for have, want in zip(self._made, parents):
                if have != want:
                    break
                depth += 1
            for index in range(depth, len(parents)):
                with contextlib.suppress(FileExistsError):
                    os.mkdir("/".join(parents[:index + 1]), 0o755, dir_fd=self.fd)
            self._made, self._folder = tuple(parents), folder
        fd = os.open(relative, _CREATE, 0o644, dir_fd=self.fd)
        try:
            written = os.write(fd, content)
            if written < len(content):
                view = memoryview(content)[written:]
                while view:
                    view = view[os.write(fd, view):]
            st = os.fstat(fd)
            return st.st_size, st.st_mtime_ns
        finally:
            os.close(fd)

    def close(self) -> None:
        os.close(self.fd)


def unfinished(outdir: OutDir | None) -> bool:
    """Did an earlier run stop after its commit point (a journal waits in OUT/.mailprofiles)?"""
    if outdir is None:
        return False
    try:
        return os.stat(f"{STATE}/{JOURNAL}", dir_fd=outdir.fd, follow_symlinks=False) is not None
    except (FileNotFoundError, NotADirectoryError):
        return False


def recover(outdir: OutDir) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Finish or discard what an interrupted run left: (what was done, what was not trusted or kept)."""
    state = State.open(outdir, create=False)
    if state is None:
        return (), ()
    try:
        if state.lstat(JOURNAL) is None:
            if any(state.lstat(name) is not None for name in (STAGING, STAGED_MANIFEST, STAGED_INDEX,
                                                                PENDING_JOURNAL)):
                state.clear()
                return ("discarded the staging files of an interrupted run",), ()
            return (), ()
        try:
            journal = Journal.open(state, MAX_MANIFEST_BYTES)
        except (OSError, ValueError) as exc:
            state.clear()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(INDEX, dir_fd=state.fd)
            return (), (f"ignored a damaged journal in {outdir.shown(STATE)} ({str(exc)[:120]}); every file is "
                        "compared again",)
        kept = apply_journal(outdir, state, journal)
        return ("completed an interrupted run",), tuple(kept)
    finally:
        state.close()
