"""Atomic output: stage everything next to the target, then commit through a journal.

1. Every changed artifact is written into a staging directory that sits next to
   the output directory (same file system, so moves are renames).
2. When all artifacts are rendered and verified, a journal listing the moves,
   the removals and the new manifest is written and flushed: the commit point.
3. The moves are done, stale artifacts (only those the previous manifest lists)
   are removed, the manifest is replaced last, and the staging directory goes.

A run killed before the commit point leaves the output untouched; its staging
directory is deleted by the next run. A run killed after it is completed by the
next run (``recover``), which replays the journal. Files that mailprofiles did
not create are never deleted.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from .errors import OutputError
from .manifest import MANIFEST
from .paths import safe_relative

JOURNAL = "journal.json"


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.mailprofiles-staging"


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.mailprofiles-lock"


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output directory for the duration of a run.

    The lock file sits next to the output folder and is removed by the run that held it. After
    locking, the file is checked to still be the one on disk (a finishing run may just have
    removed it); if not, locking starts again on the new file.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fcntl: ModuleType | None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, runs are not serialised
        fcntl = None
    path = lock_path(out)
    while True:
        handle = open(path, "a+b")  # held open for the whole run
        if fcntl is None:  # pragma: no cover
            break
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise OutputError(f"another mailprofiles run is writing {out}") from None
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        handle.close()


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _inside(out: Path, relative: str) -> Path:
    """``out/relative``, refusing anything that would leave ``out``."""
    if not safe_relative(relative):
        raise OutputError(f"refusing unsafe path {relative!r} in the manifest")
    return out.joinpath(*relative.split("/"))


class Stage:
    """A staging area for one run."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.dir = staging_dir(out)
        self.files: list[str] = []
        self.removals: list[str] = []
        self._opened = False

    def _open(self) -> None:
        if not self._opened:
            if self.dir.exists():
                shutil.rmtree(self.dir)
            (self.dir / "files").mkdir(parents=True)
            self._opened = True

    def add(self, relative: str, content: bytes) -> None:
        self._open()
        target = _inside(self.dir / "files", relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.files.append(relative)

    def remove(self, relative: str) -> None:
        self.removals.append(relative)

    def manifest_path(self) -> Path:
        """Where the new manifest is staged; it only takes effect through :meth:`commit`."""
        self._open()
        return self.dir / "manifest.json"

    def discard(self) -> None:
        """Drop the staged files, unless the journal was written: then the next run completes it."""
        if self.dir.exists() and not (self.dir / JOURNAL).exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self, manifest: bool) -> None:
        """Write the journal (the commit point), then apply it. ``manifest``: replace the manifest too."""
        self._open()
        journal = {"files": self.files, "remove": self.removals, "manifest": manifest}
        _fsync_write(self.dir / JOURNAL, json.dumps(journal).encode("utf-8"))
        apply_journal(self.out, self.dir)


def apply_journal(out: Path, stage: Path) -> None:
    """Replay a committed journal. Idempotent: safe to run again after a kill."""
    journal = json.loads((stage / JOURNAL).read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    for relative in journal["files"]:
        source = _inside(stage / "files", relative)
        target = _inside(out, relative)
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    for relative in journal["remove"]:
        target = _inside(out, relative)
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        _prune_empty_dirs(out, target.parent)
    if journal["manifest"]:
        source = stage / "manifest.json"
        if source.exists():
            os.replace(source, out / MANIFEST)
    shutil.rmtree(stage, ignore_errors=True)


def _prune_empty_dirs(out: Path, folder: Path) -> None:
    """Remove now-empty artifact folders up to (not including) ``out``."""
    out = out.resolve()
    folder = folder.resolve()
    while folder != out and out in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def recover(out: Path) -> str | None:
    """Finish or discard what an interrupted run left. Returns what was done, or None."""
    stage = staging_dir(out)
    if not stage.exists():
        return None
    if (stage / JOURNAL).exists():
        try:
            apply_journal(out, stage)
        except (OSError, ValueError, KeyError) as exc:
            raise OutputError(f"cannot complete the interrupted run recorded in {stage}: {exc}") from None
        return "completed an interrupted run"
    shutil.rmtree(stage, ignore_errors=True)
    return "discarded the staging files of an interrupted run"
