"""``OUT/.mailprofiles/index``: what each file was made from and how it was written.

One line per file, sorted by path: the path, the fingerprint of the file's inputs
(``generator/fingerprint.py``), and the size and modification time it was written with.
A rerun whose fingerprint and file on disk both match skips rendering that file.

The index lives in the state folder, which is ours alone (``generator/state.py``): it is
trusted because nobody else can write it, unlike ``manifest.json``, which anyone who can
write OUT could replace. Keeping sizes and times out of the manifest also keeps the
manifest the same bytes for the same input. It is replaced with the manifest, through the
journal; a run that stops halfway leaves no index, and the next run compares every file
by its bytes.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from typing import Any

from .manifest import Entry, SortedLines
from .state import State

INDEX = "index"
HEADER = b'{"mailprofiles-index": 1}\n'
MAX_INDEX_BYTES = 512 * 1024 * 1024
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")


def _valid(entry: Any) -> bool:
    """A line as written here. Its path is only ever compared with the plan's own paths, never opened."""
    if type(entry) is not dict or type(entry.get("path")) is not str:
        return False
    inputs, size, mtime = entry.get("inputs"), entry.get("size"), entry.get("mtime_ns")
    return type(inputs) is str and bool(_FINGERPRINT.match(inputs)) and type(size) is int and size >= 0 \
        and type(mtime) is int and mtime >= 0


class Index(SortedLines):
    """The previous run's index, read one line at a time; empty when there is none or it is not ours."""

    def __init__(self, state: State | None):
        super().__init__(_open(state), HEADER, _valid)
        # A file whose time is not older than the index's own could have been changed within the same
        # clock tick after it was indexed (times are coarse): it is compared by its bytes instead.
        self.written_ns = os.fstat(self.fd).st_mtime_ns if self.fd is not None else 0

    def __iter__(self) -> Iterator[Entry]:
        if self.fd is None:
            return
        with os.fdopen(self.fd, "rb", closefd=False) as handle:
            if handle.read(len(HEADER)) == HEADER:
                yield from self.lines(handle)

    def reopen(self, state: State | None) -> int | None:
        """A second descriptor on the same index, to compare the new one with."""
        return _open(state)


def _open(state: State | None) -> int | None:
    if state is None:
        return None
    try:
        fd = os.open(INDEX, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=state.fd)
    except OSError:          # missing, or a link: no index, so every file is compared by its bytes
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > MAX_INDEX_BYTES:
        os.close(fd)
        return None
    return fd
