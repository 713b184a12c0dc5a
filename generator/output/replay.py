"""Step 4 of the commit protocol stated in ``writer.py``: apply a committed journal, right after
the commit point or as the replay of an interrupted run.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import OutputError, PartialOutput
from .index import INDEX
from .manifest import MANIFEST, MAX_MANIFEST_BYTES, manifest_chunks, parse_manifest
from .safefs import OutDir, describe
from .state import STAGED_INDEX, STAGED_MANIFEST, STAGING, STATE, Journal, State


def another(outdir: OutDir) -> str:
    """Why a target folder cannot receive a staged file, in words."""
    return (f"on another file system than {outdir.shown(STATE)}, where mailprofiles stages the new files: they "
            "are moved in with a rename, which cannot cross file systems (a mount point, a bind mount included)")


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
            failed += _apply_entry(outdir, staging, kind, first, second, kept, skipped)
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
        _dropped(outdir, state, journal, done, failed, skipped)
    state.clear()
    return kept


def _apply_entry(outdir: OutDir, staging: OutDir | None, kind: str, first: str, second: Any, kept: list[str],
                 skipped: list[str]) -> int:
    """One journal line: a removal (only of a file that is still ours) or a move; 1 when a move was dropped."""
    if kind == "remove":
        reason = outdir.still_ours(first, second)
        if reason is None:
            outdir.unlink(first)
            outdir.prune(first)
        elif reason:
            kept.append(f"kept {outdir.shown(first)}: {reason}")
        return 0
    if staging is None:
        return 0
    before = len(skipped)
    _move(staging, outdir, first, kind == "tree", skipped)
    return int(len(skipped) > before)


def _dropped(outdir: OutDir, state: State, journal: Journal, done: int, failed: int, skipped: list[str]) -> None:
    """Moves a rename could not do across file systems were dropped: the manifest says what is on disk, the journal
    goes, and without its index the next run compares every file by its bytes and renders the dropped ones again."""
    _write_partial_manifest(outdir, state, journal, done, set(skipped))
    state.clear()
    parents, _ = outdir.split(skipped[0])
    foreign = outdir.foreign(f"{STATE}/{STAGING}", "/".join(parents))
    where = outdir.shown(foreign if foreign is not None else "/".join(parents))
    raise PartialOutput(outdir.path, done - failed, journal.moves + journal.removals,
                        f"{where} is {another(outdir)}; {len(skipped)} new file(s) or folder(s) there were dropped "
                        "and are made again by the next run, once it is on the same file system as the "
                        "output folder")


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
