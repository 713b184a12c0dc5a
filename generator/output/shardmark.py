"""``OUT/.mailprofiles/shard``: which shard's output a folder holds (``generator/plan/shard.py``).

One line, ``K/N``, in the state folder (ours alone, ``state.py``); no file: the folder holds the
output of runs without ``--shard``. It is read before a run, to refuse a run of another shard
while the run index lists files (that run would take them for stale and remove them), and it is
changed only while the index lists none, so it always names the shard whose files the index lists.
"""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from ..plan.shard import Shard, check_folder
from .index import INDEX
from .safefs import OutDir
from .state import STATE, State

SHARD = "shard"
_PENDING = "shard.pending"
_MAX_BYTES = 64
_INDEX_HEADER_BYTES = len(b'{"mailprofiles-index": 2, "key": ""}\n') + 32


def _read(state: State, name: str, limit: int) -> bytes | None:
    try:
        return state.read(name, limit)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):   # a link, a folder, not ours: no record (and no run index is trusted either)
        return None


def _written(state: State) -> bool:
    """Does the run index list any file (more than its first line)?"""
    st = state.lstat(INDEX)
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_size > _INDEX_HEADER_BYTES


@contextlib.contextmanager
def claimed(outdir: OutDir | None, shard: Shard | None, write: bool) -> Iterator[None]:
    """Check that the folder holds this run's shard (a :class:`~generator.errors.UsageError` if not); when
    ``write``, record the shard first where the folder holds no files yet, and take the record back if the
    run fails (a failed run leaves no trace)."""
    state = State.open(outdir, create=False) if outdir is not None else None
    recorded, written = None, False
    if state is not None:
        try:
            raw = _read(state, SHARD, _MAX_BYTES)
            recorded = raw.decode("ascii", "replace").strip() if raw is not None else None
            written = _written(state)
        finally:
            os.close(state.fd)
    assert outdir is not None or not write
    check_folder(recorded, shard, written, outdir.shown("") if outdir is not None else "")
    wanted = str(shard) if shard is not None else None
    if not write or recorded == wanted:
        yield
        return
    assert outdir is not None
    _record(outdir, wanted)
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            _record(outdir, recorded)
        raise


def _record(outdir: OutDir, value: str | None) -> None:
    """Write (or, for None, remove) the record, by a rename: it is never half written."""
    if value is None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(f"{STATE}/{SHARD}", dir_fd=outdir.fd)
        with contextlib.suppress(OSError):      # the state folder, when nothing else is in it
            os.rmdir(STATE, dir_fd=outdir.fd)
        return
    state = State.open(outdir, create=True)
    assert state is not None
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_PENDING, dir_fd=state.fd)
        state.create(_PENDING, [f"{value}\n".encode("ascii")])
        os.rename(_PENDING, SHARD, src_dir_fd=state.fd, dst_dir_fd=state.fd)
    finally:
        state.close()
