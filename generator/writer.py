"""Apply: write the changes atomically, inside OUT, through a journal.

The run's own state lives in ``OUT/.mailprofiles/``, a folder that must be a real folder
owned by the running user and writable by nobody else; anything else there is refused.
Nothing is ever kept next to OUT, so whoever can write OUT's parent cannot plant state.

1. The run holds an exclusive lock on OUT's folder itself (``flock`` on its descriptor),
   so two runs through different spellings of the same folder cannot run at once.
2. Every changed artifact is written into ``.mailprofiles/staging/`` (flat, numbered files:
   same file system, so moves are renames), and the new manifest beside it.
3. When every artifact is rendered and verified, the journal (moves, removals with the hash
   that was written, manifest) is written and flushed: the commit point.
4. The moves are done (a link at a target is replaced, never followed), each removal is done
   only if the file is still a regular file with the hash we wrote, the manifest is moved in
   last, and the staging files and the journal go.

A run killed before step 3 leaves OUT untouched; its staging files are deleted by the next
run. A run killed after it is completed by the next run, which replays the journal, but only
if every staged entry is a regular file in our staging folder. A failure during step 4
writes a manifest that describes what is on disk and says that a rerun completes it.
"""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import OutputError, PartialOutput
from .manifest import MANIFEST, MAX_MANIFEST_BYTES, manifest_chunks, parse_manifest
from .safefs import OutDir, describe
from .state import JOURNAL, STAGED_MANIFEST, STAGING, STATE, Journal, State


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
        self.journal = Journal()
        self._staging: int | None = None
        self._open = True

    def add(self, relative: str, content: bytes) -> None:
        if self._staging is None:
            self._staging = self.state.staging(create=True)
        name = str(len(self.journal.moves))
        self.state.create(name, (content,), directory=self._staging)
        self.journal.moves.append((name, relative))

    def remove(self, relative: str, sha256: str) -> None:
        self.journal.removals.append((relative, sha256))

    def write_manifest(self, chunks: Iterable[bytes]) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(STAGED_MANIFEST, dir_fd=self.state.fd)
        self.state.create(STAGED_MANIFEST, chunks)

    def close(self) -> None:
        if self._staging is not None:
            os.close(self._staging)
            self._staging = None
        if self._open:
            self._open = False
            self.state.close()

    def discard(self) -> None:
        """Drop the staged files, unless the journal was written: then the next run completes it."""
        if self._open and self.state.lstat(JOURNAL) is None:
            if self._staging is not None:
                os.close(self._staging)
                self._staging = None
            self.state.clear()
        self.close()

    def commit(self, manifest: bool) -> list[str]:
        """Write the journal (the commit point), then apply it. Returns what was kept and why."""
        self.journal.manifest = manifest
        self.state.create(JOURNAL, (self.journal.to_bytes(),), sync=True)
        try:
            return apply_journal(self.outdir, self.state, self.journal)
        finally:
            self.close()


def apply_journal(outdir: OutDir, state: State, journal: Journal) -> list[str]:
    """Replay a committed journal. Idempotent: safe to run again after a kill."""
    staging = state.staging(create=False)
    kept: list[str] = []
    done_moves: set[str] = set()
    done_removals: set[str] = set()
    try:
        for name, relative in journal.moves:
            st = None if staging is None else _lstat(name, staging)
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise OutputError(f"the staged entry {name} for {relative} is {describe(st.st_mode)}; "
                                  "the journal is not replayed")
        for name, relative in journal.moves:
            if staging is not None and _lstat(name, staging) is not None:
                outdir.move_in(staging, name, relative)
            done_moves.add(relative)
        for relative, sha in journal.removals:
            reason = outdir.still_ours(relative, sha)
            if reason is None:
                outdir.unlink(relative)
                outdir.prune(relative)
            elif reason:
                kept.append(f"kept {outdir.shown(relative)}: {reason}")
            done_removals.add(relative)
        if journal.manifest and state.lstat(STAGED_MANIFEST) is not None:
            os.rename(STAGED_MANIFEST, MANIFEST, src_dir_fd=state.fd, dst_dir_fd=outdir.fd)
    except BaseException as exc:
        # Whatever stopped the moves, the manifest is made to describe the disk before anything is said.
        _write_partial_manifest(outdir, state, journal, done_moves, done_removals)
        done, total = len(done_moves) + len(done_removals), len(journal.moves) + len(journal.removals)
        if isinstance(exc, (OSError, OutputError)):
            raise PartialOutput(outdir.path, done, total, str(exc)) from None
        if isinstance(exc, KeyboardInterrupt):
            raise PartialOutput(outdir.path, done, total, "interrupted", interrupted=True) from exc
        raise                          # a bug: reported as one, with the journal left for the next run
    finally:
        if staging is not None:
            os.close(staging)
    state.clear()
    return kept


def _lstat(name: str, directory: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _write_partial_manifest(outdir: OutDir, state: State, journal: Journal, moved: set[str],
                            removed: set[str]) -> None:
    """After a failure during the moves: a manifest of what is on disk now (best effort)."""
    try:
        staged = parse_manifest(state.read(STAGED_MANIFEST, MAX_MANIFEST_BYTES))
        new = {e["path"]: e for e in staged["artifacts"]}
        warnings = staged.get("warnings") or []
        raw = outdir.read(MANIFEST, MAX_MANIFEST_BYTES)
        old = {e["path"]: e for e in parse_manifest(raw)["artifacts"]} if raw else {}
    except (OSError, ValueError, OutputError):
        return
    pending = {relative for _, relative in journal.moves if relative not in moved}
    pending |= {relative for relative, _ in journal.removals if relative not in removed}
    entries: dict[str, Any] = {}
    for path in sorted(set(new) | set(old)):
        chosen = old.get(path) if path in pending else new.get(path)
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
            if state.lstat(STAGING) is not None or state.lstat(STAGED_MANIFEST) is not None:
                state.clear()
                return ("discarded the staging files of an interrupted run",), ()
            return (), ()
        try:
            journal = Journal.parse(state.read(JOURNAL, MAX_MANIFEST_BYTES))
        except (OSError, ValueError) as exc:
            state.clear()
            return (), (f"ignored a damaged journal in {outdir.shown(STATE)} ({str(exc)[:120]}); every file is "
                        "compared again",)
        kept = apply_journal(outdir, state, journal)
        return ("completed an interrupted run",), tuple(kept)
    finally:
        state.close()
