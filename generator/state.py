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
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import OutputError
from .paths import safe_relative
from .safefs import OutDir, describe

STATE = ".mailprofiles"
STAGING = "staging"
JOURNAL = "journal.json"
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
        """Remove the staging files, the staged manifest and the journal (the journal last)."""
        staging = self.staging(create=False)
        if staging is not None:
            try:
                for name in os.listdir(staging):
                    os.unlink(name, dir_fd=staging)
            finally:
                os.close(staging)
            os.rmdir(STAGING, dir_fd=self.fd)
        for name in (STAGED_MANIFEST, JOURNAL):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.fd)

    def create(self, name: str, chunks: Iterable[bytes], directory: int | None = None, sync: bool = False) -> None:
        fd = os.open(name, _CREATE, 0o644, dir_fd=self.fd if directory is None else directory)
        try:
            for chunk in chunks:
                os.write(fd, chunk)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, name: str, limit: int) -> bytes:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > limit:
                raise ValueError(f"{name} is not a regular file of ours below {limit:,} bytes")
            return os.read(fd, limit + 1)
        finally:
            os.close(fd)


@dataclass(slots=True)
class Journal:
    moves: list[tuple[str, str]] = field(default_factory=list)       # (staged name, path in OUT)
    removals: list[tuple[str, str]] = field(default_factory=list)    # (path in OUT, sha256 we wrote)
    manifest: bool = False

    def to_bytes(self) -> bytes:
        return json.dumps({"version": 1, "moves": self.moves, "remove": self.removals,
                           "manifest": self.manifest}).encode("utf-8")

    @classmethod
    def parse(cls, raw: bytes) -> Journal:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("manifest"), bool):
            raise ValueError("not a journal of this version")
        moves, removals = data.get("moves"), data.get("remove")
        if not isinstance(moves, list) or not isinstance(removals, list):
            raise ValueError("moves and removals must be lists")
        journal = cls(manifest=data["manifest"])
        for item in moves:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and item[0].isdigit()
                    and isinstance(item[1], str) and safe_relative(item[1])):
                raise ValueError(f"bad move {str(item)[:80]!r}")
            journal.moves.append((item[0], item[1]))
        for item in removals:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and safe_relative(item[0]) and isinstance(item[1], str) and _SHA256.match(item[1])):
                raise ValueError(f"bad removal {str(item)[:80]!r}")
            journal.removals.append((item[0], item[1]))
        return journal
