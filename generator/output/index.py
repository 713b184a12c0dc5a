"""``OUT/.mailprofiles/index``: what each file was made from and how it was written.

One line per file mailprofiles wrote, sorted by path: the file's manifest entry (what it was
made for, its path and sha256), the fingerprint of its inputs (``generator/fingerprint.py``)
when it has one, and the size and modification time it was written with. A rerun whose
fingerprint and file on disk both match skips rendering that file, and its manifest entry is
made from the plan and this line, never from the old manifest's text. Only a file with a line
here is ever removed as stale.

The index lives in the state folder, which is ours alone (``generator/state.py``), and each
line carries a check: a keyed hash of the line under the key in the index's first line. A
line edited by hand fails it and is not trusted (its file is compared by its bytes, and never
removed). Keeping sizes and times out of the manifest also keeps the manifest the same bytes
for the same input. It is replaced with the manifest, through the journal; a run that stops
halfway leaves no index, and the next run compares every file by its bytes.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from collections.abc import Iterator
from typing import Any

from ..jsontext import quoted
from .manifest import ArtifactRecord, Entry, SortedLines
from .state import State

INDEX = "index"
MAX_INDEX_BYTES = 512 * 1024 * 1024
_HEADER = re.compile(rb'^\{"mailprofiles-index": 2, "key": "([0-9a-f]{32})"\}\n$')
_HEADER_BYTES = len(b'{"mailprofiles-index": 2, "key": ""}\n') + 32
_CHECK = b', "check": "'
_SUFFIX = len(_CHECK) + 32 + len(b'"}')


def _check(key: bytes, body: bytes) -> bytes:
    return hashlib.blake2b(body, key=key, digest_size=16).hexdigest().encode()


def _fields(entry: Any) -> bool:
    """The fields the comparison relies on, with their types (the check already says the line was written here)."""
    return type(entry) is dict and type(entry.get("path")) is str and type(entry.get("sha256")) is str \
        and type(entry.get("size")) is int and type(entry.get("mtime_ns")) is int \
        and type(entry.get("inputs", "")) is str and entry.get("signed") in (None, True)


class Index(SortedLines):
    """The previous run's index, read one line at a time; empty when there is none or it is not ours."""

    def __init__(self, state: State | None):
        fd = _open(state)
        found = _HEADER.match(os.pread(fd, _HEADER_BYTES, 0)) if fd is not None else None
        if fd is not None and found is None:       # not an index of this version: none
            os.close(fd)
            fd = None
        self.key = bytes.fromhex(found.group(1).decode()) if found is not None else os.urandom(16)
        self.header = b'{"mailprofiles-index": 2, "key": "' + self.key.hex().encode() + b'"}\n'
        self._keyed = hashlib.blake2b(key=self.key, digest_size=16)
        super().__init__(fd, self.header, self._valid)
        # A file whose time is not older than the index's own could have been changed within the same
        # clock tick after it was indexed (times are coarse): it is compared by its bytes instead.
        self.written_ns = os.fstat(self.fd).st_mtime_ns if self.fd is not None else 0

    def __iter__(self) -> Iterator[Entry]:
        if self.fd is None:
            return
        with os.fdopen(self.fd, "rb", closefd=False) as handle:
            if handle.read(len(self.header)) == self.header:
                yield from self.lines(handle)

    def entry_and_line(self, record: ArtifactRecord, size: int | None, mtime_ns: int | None) -> tuple[bytes, bytes | None]:
        """A made file's manifest entry (its JSON, made once for the manifest and the index) and its index line
        (see :meth:`line_of`), or None for the line when the file's size and time are not known (not written)."""
        entry = record.entry_text().encode()
        if size is None or mtime_ns is None:
            return entry, None
        return entry, self.line_of(entry, record.inputs, size, mtime_ns)

    def line_of(self, entry: bytes, inputs: str | None, size: int, mtime_ns: int) -> bytes:
        """A new line of the index (without its newline), with its check: the file's manifest entry's JSON (made once
        for the manifest and the index) with the index's fields after it, as one JSON object: ``inputs`` when the
        file has a fingerprint, ``size``, ``mtime_ns`` and the ``check`` of everything before it."""
        fields = b', "size": %d, "mtime_ns": %d}' % (size, mtime_ns)
        if inputs is not None:
            fields = b', "inputs": ' + quoted(inputs).encode() + fields
        body = entry[:-1] + fields
        check = self._keyed.copy()      # the key's block hashed once per run: the same digest as ``_check``
        check.update(body)
        return body[:-1] + _CHECK + check.hexdigest().encode() + b'"}'

    @staticmethod
    def manifest_entry(raw: bytes) -> bytes:
        """The file's manifest entry as JSON: a line starts with it (see :meth:`line_of`).

        A quote inside a JSON string is escaped, so the last ``, "inputs": `` (or ``, "size": ``)
        is where the fields of the index begin.
        """
        cut = raw.rfind(b', "inputs": "')
        return raw[:cut if cut >= 0 else raw.rfind(b', "size": ')] + b"}"

    def _valid(self, entry: Any, raw: bytes) -> bool:
        """A line written here under this index's key. Its path is only opened once ``safe_relative`` allows it."""
        if len(raw) <= _SUFFIX or not raw.endswith(b'"}') or raw[-_SUFFIX:-34] != _CHECK:
            return False
        body = raw[:-_SUFFIX] + b"}"
        return hmac.compare_digest(_check(self.key, body), raw[-34:-2]) and _fields(entry)

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
