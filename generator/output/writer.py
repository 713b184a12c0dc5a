"""Apply: write the changes atomically, inside OUT, through a journal.

The run's own state lives in ``OUT/.mailprofiles/``, a folder that must be a real folder
owned by the running user and writable by nobody else; anything else there is refused.
Nothing is ever kept next to OUT, so whoever can write OUT's parent cannot plant state.

1. The run holds an exclusive lock on OUT's folder itself (``flock`` on its descriptor),
   so two runs through different spellings of the same folder cannot run at once.
2. Every changed artifact is written into ``.mailprofiles/staging/`` (flat, numbered files:
   same file system, so moves are renames), and the new manifest beside it; the journal's
   lines (moves, removals with the hash that was written) go to ``journal.pending`` as the
   changes are found, so nothing of the size of the output is held in memory.
3. When every artifact is rendered and verified, the journal gets its end line (whether the
   manifest is replaced, how many entries), is flushed and renamed to ``journal.json``: the
   commit point.
4. The moves are done (a link at a target is replaced, never followed), each removal is done
   only if the file is still a regular file with the hash we wrote, the manifest is moved in
   last, and the staging files and the journal go.

A run killed before step 3 leaves OUT untouched; its staging files are deleted by the next
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
import ctypes
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OutputError, PartialOutput
from .index import INDEX
from .manifest import MANIFEST, MAX_MANIFEST_BYTES, manifest_chunks, parse_manifest
from .safefs import OutDir, describe
from .state import JOURNAL, PENDING_JOURNAL, STAGED_INDEX, STAGED_MANIFEST, STAGING, STATE, Journal, JournalWriter, State


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
        self._staging: OutDir | None = None      # staging/, a tree that mirrors OUT
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
        return stage_file(self._staging, relative, content)

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
            raise OutputError(f"{self.outdir.shown(foreign)} is {_another(self.outdir)}; nothing was written: the output is "
                              f"intact. Make {self.outdir.shown(foreign)} a plain folder on the same file system "
                              "as the output folder (or mount that file system at the output folder itself), and "
                              "run again")
        self._reached = parents

    def staging_fd(self) -> int:
        """The staging folder (created now), for worker processes that stage files themselves."""
        if self._staging is None:
            fd = self.state.staging(create=True)
            assert fd is not None
            self._staging = OutDir(self.outdir.path / STATE / STAGING, fd)
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


def _another(outdir: OutDir) -> str:
    return (f"on another file system than {outdir.shown(STATE)}, where mailprofiles stages the new files: they "
            "are moved in with a rename, which cannot cross file systems (a mount point, a bind mount included)")


def stage_file(staging: OutDir, relative: str, content: bytes) -> tuple[int, int]:
    """Write a new file at ``staging/relative`` (never over one, never through a link): its size and time."""
    parents, name = staging.split(relative)
    folder = staging.folder(parents, create=True)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        st = os.fstat(fd)
        return st.st_size, st.st_mtime_ns
    finally:
        os.close(fd)


def apply_journal(outdir: OutDir, state: State, journal: Journal, replay: bool = True) -> list[str]:
    """Apply a committed journal. Idempotent: safe to run again after a kill.

    ``replay``: the journal was left by an earlier run, so every staged entry is checked first (a
    file must be a regular file, a folder hold only folders and regular files). Right after its own
    commit point a run skips that walk: it made every entry itself, in a folder that is ours alone.
    """
    fd = state.staging(create=False)
    staging = OutDir(outdir.path / STATE / STAGING, fd) if fd is not None else None
    kept: list[str] = []
    skipped: list[str] = []           # moves a rename could not do across file systems: dropped, never retried
    done = failed = 0
    if journal.index:                 # until the new index is in place, there is none: nothing is skipped by it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(INDEX, dir_fd=state.fd)
    try:
        if staging is not None and replay:
            for kind, relative, _ in journal.entries(MAX_MANIFEST_BYTES):
                if kind != "remove":
                    _check_staged(staging, relative, kind)
        for kind, first, second in journal.entries(MAX_MANIFEST_BYTES):
            if kind == "remove":
                reason = outdir.still_ours(first, second)
                if reason is None:
                    outdir.unlink(first)
                    outdir.prune(first)
                elif reason:
                    kept.append(f"kept {outdir.shown(first)}: {reason}")
            elif staging is not None:
                before = len(skipped)
                _move(staging, outdir, first, kind == "tree", skipped)
                failed += len(skipped) > before
            done += 1
        if journal.manifest and not skipped and state.lstat(STAGED_MANIFEST) is not None:
            os.rename(STAGED_MANIFEST, MANIFEST, src_dir_fd=state.fd, dst_dir_fd=outdir.fd)
        if journal.index and not skipped and state.lstat(STAGED_INDEX) is not None:
            os.rename(STAGED_INDEX, INDEX, src_dir_fd=state.fd, dst_dir_fd=state.fd)
    except BaseException as exc:
        # Whatever stopped the moves, the manifest is made to describe the disk before anything is said.
        if staging is not None:
            staging.close()
            staging = None
        _write_partial_manifest(outdir, state, journal, done, set(skipped))
        total = journal.moves + journal.removals
        if isinstance(exc, (OSError, OutputError)):
            raise PartialOutput(outdir.path, done, total, str(exc)) from None
        if isinstance(exc, KeyboardInterrupt):
            raise PartialOutput(outdir.path, done, total, "interrupted", interrupted=True) from exc
        raise                          # a bug: reported as one, with the journal left for the next run
    finally:
        if staging is not None:
            staging.close()
    if skipped:
        # Without its index the next run compares every file by its bytes, and renders the dropped ones again.
        _write_partial_manifest(outdir, state, journal, done, set(skipped))
        state.clear()
        parents, _ = outdir.split(skipped[0])
        foreign = outdir.foreign(f"{STATE}/{STAGING}", "/".join(parents))
        where = outdir.shown(foreign if foreign is not None else "/".join(parents))
        raise PartialOutput(outdir.path, done - failed, journal.moves + journal.removals,
                            f"{where} is {_another(outdir)}; {len(skipped)} new file(s) or folder(s) there were dropped "
                            "and are made again by the next run, once it is on the same file system as the "
                            "output folder")
    state.clear()
    return kept


def _check_staged(staging: OutDir, relative: str, kind: str) -> None:
    """A staged file must be a regular file, a staged folder hold only folders and regular files."""
    try:
        st = staging.lstat(relative)
        if st is None:
            return                       # already moved in by an earlier replay
        if kind == "tree" and stat.S_ISDIR(st.st_mode):
            parents, name = staging.split(relative)
            folder = staging.folder((*parents, name), create=False)
            assert folder is not None
            for entry in _walk(folder):
                if not (entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False)):
                    raise OutputError(f"{relative}/{entry.name}")
            return
        bad = not stat.S_ISREG(st.st_mode)
    except OutputError:
        bad, st = True, None
    if bad:
        what = describe(st.st_mode) if st is not None else "not a regular file"
        raise OutputError(f"the staged entry for {relative} is {what}; the journal is not replayed")


def _walk(fd: int) -> Iterator[os.DirEntry[str]]:
    with os.scandir(fd) as entries:
        found = list(entries)
    for entry in found:
        yield entry
        if entry.is_dir(follow_symlinks=False):
            child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                yield from _walk(child)
            finally:
                os.close(child)


def _move(staging: OutDir, outdir: OutDir, relative: str, tree: bool, skipped: list[str]) -> None:
    """Move staging/relative to OUT/relative: a new folder with one rename, a file (or a folder whose
    target appeared meanwhile) file by file. A link at a target is replaced, never followed.
    What a rename cannot move (another file system) is added to ``skipped`` and left in staging."""
    parents, name = staging.split(relative)
    source = staging.folder(parents, create=False)
    if source is None:
        return
    try:
        st = os.stat(name, dir_fd=source, follow_symlinks=False)
    except FileNotFoundError:
        return                                     # moved by an earlier replay
    try:
        if not stat.S_ISDIR(st.st_mode):
            outdir.move_in(source, name, relative)
            return
        if tree and outdir.lstat(relative) is None:
            target = outdir.folder(parents, create=True)
            assert target is not None
            try:
                _rename_noreplace(source, name, target)
                return
            except FileExistsError:
                pass                               # appeared meanwhile: merged file by file
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        skipped.append(relative)
        return
    folder = staging.folder((*parents, name), create=False)
    assert folder is not None
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries)
    for child in names:
        _move(staging, outdir, f"{relative}/{child}", tree, skipped)
        staging.folder((*parents, name), create=False)


def _rename_noreplace(source: int, name: str, target: int) -> None:
    """Rename a folder where nothing is (renameat2 RENAME_NOREPLACE on Linux; elsewhere only a final check)."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(source, name.encode(), target, name.encode(), 1) == 0:
            return
        error = ctypes.get_errno()
        if error not in (errno.ENOSYS, errno.EINVAL):
            raise FileExistsError(error, os.strerror(error)) if error == errno.EEXIST else \
                OSError(error, os.strerror(error), name)
    try:
        os.stat(name, dir_fd=target, follow_symlinks=False)
        raise FileExistsError(errno.EEXIST, "exists", name)
    except FileNotFoundError:
        os.rename(name, name, src_dir_fd=source, dst_dir_fd=target)


def _load_renameat2() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2() if sys.platform.startswith("linux") else None


def _write_partial_manifest(outdir: OutDir, state: State, journal: Journal, done: int,
                            skipped: set[str]) -> None:
    """After a failure during the moves: a manifest of what is on disk now (best effort).

    The first ``done`` entries of the journal were applied: their paths are as the new manifest says
    (removed ones are gone); the others, and the paths in or below ``skipped``, are as the old manifest says.
    """
    try:
        staged = parse_manifest(state.read(STAGED_MANIFEST, MAX_MANIFEST_BYTES)) if journal.manifest else None
        raw = outdir.read(MANIFEST, MAX_MANIFEST_BYTES)
        old = {e["path"]: e for e in parse_manifest(raw)["artifacts"]} if raw else {}
        new = {e["path"]: e for e in staged["artifacts"]} if staged else dict(old)
        warnings = (staged or (parse_manifest(raw) if raw else {})).get("warnings") or []
        pending: set[str] = set()
        folders: list[str] = []          # pending whole-folder moves: every path below them is pending
        removed: set[str] = set()
        for index, (kind, path, _) in enumerate(journal.entries(MAX_MANIFEST_BYTES)):
            if index >= done and kind == "tree":
                folders.append(path + "/")
            elif index >= done:
                pending.add(path)
            elif kind == "remove":
                removed.add(path)
    except (OSError, ValueError, OutputError):
        return
    entries: dict[str, Any] = {}
    for path in sorted(set(new) | set(old)):
        waiting = path in pending or any(path.startswith(folder) for folder in folders) or bool(skipped) and \
            any("/".join(path.split("/")[:depth]) in skipped for depth in range(1, path.count("/") + 2))
        chosen = old.get(path) if waiting else new.get(path)
        if chosen is not None and path not in removed:
            entries[path] = chosen
    name = "partial-manifest.json"
    with contextlib.suppress(OSError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=state.fd)
        state.create(name, manifest_chunks(entries.values(), warnings))
        os.rename(name, MANIFEST, src_dir_fd=state.fd, dst_dir_fd=outdir.fd)


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
