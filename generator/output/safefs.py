"""The output folder, opened once and walked without ever following a link.

OUT itself is the folder the user named (its spelling may go through links). Everything
below it is reached component by component from OUT's file descriptor with
``O_NOFOLLOW``: a symbolic link, a FIFO, a device or a socket where a folder or a file of
ours goes is refused with an :class:`~generator.errors.OutputError` naming it, never
followed, opened for writing or read. Reads are bounded; opens never block (``O_NONBLOCK``).
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from ..bounded import read_at_most
from ..errors import OutputError
from ..paths import safe_relative

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
MAX_ARTIFACT_BYTES = 16 * 1024 * 1024
MAX_MOUNTINFO_BYTES = 64 * 1024 * 1024
_OCTAL = re.compile(r"\\([0-7]{3})")


def describe(mode: int) -> str:
    """What a file system object is, in words."""
    for test, word in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return "not a regular file"


class OutDir:
    """OUT as a directory file descriptor, keeping the folders of the last path it opened below it open."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self._stack: list[tuple[str, int]] = []     # the folders of the last path opened, outermost first
        self._mounts: list[str] | None | bool = False   # the mount points below OUT, read on first use

    @classmethod
    def open(cls, path: Path, create: bool) -> OutDir | None:
        """Open OUT; None when it does not exist and ``create`` is false."""
        if path.exists() and not path.is_dir():
            raise OutputError(f"output path {path} exists and is not a directory")
        if create:
            path.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            if create:
                raise
            return None
        except NotADirectoryError:
            raise OutputError(f"output path {path} exists and is not a directory") from None
        return cls(path, fd)

    def close(self) -> None:
        self._drop_cache()
        os.close(self.fd)

    def __enter__(self) -> OutDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shown(self, relative: str) -> str:
        return str(self.path / relative) if relative else str(self.path)

    def _drop_cache(self, depth: int = 0) -> None:
        while len(self._stack) > depth:
            os.close(self._stack.pop()[1])

    def _refuse(self, relative: str, st: os.stat_result) -> OutputError:
        return OutputError(f"{self.shown(relative)} is {describe(st.st_mode)} where mailprofiles keeps "
                           "its own files; it is never followed or overwritten: move it away and run again")

    def folder(self, parts: tuple[str, ...], create: bool) -> int | None:
        """The descriptor of the folder OUT/parts (owned by this object); None when missing and not created.

        The folders shared with the previous call stay open, so walking a tree costs one open per folder.
        """
        depth = 0
        for (name, _), part in zip(self._stack, parts):
            if name != part:
                break
            depth += 1
        self._drop_cache(depth)
        for index in range(depth, len(parts)):
            parent = self._stack[-1][1] if self._stack else self.fd
            child = self._open_child_dir(parent, parts[index], parts[:index + 1], create)
            if child is None:
                return None
            self._stack.append((parts[index], child))
        return self._stack[-1][1] if self._stack else self.fd

    def _open_child_dir(self, parent: int, name: str, parts: tuple[str, ...], create: bool) -> int | None:
        for _attempt in range(2):
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(name, 0o755, dir_fd=parent)
                except FileExistsError:
                    pass
            except (NotADirectoryError, OSError) as exc:
                if isinstance(exc, NotADirectoryError) or exc.errno == errno.ELOOP:
                    raise self._refuse("/".join(parts), os.stat(name, dir_fd=parent, follow_symlinks=False)) from None
                raise
        raise OutputError(f"{self.shown('/'.join(parts))} keeps changing while mailprofiles creates it")

    def split(self, relative: str) -> tuple[tuple[str, ...], str]:
        if not safe_relative(relative):
            raise OutputError(f"refusing unsafe path {relative!r}")
        *parents, name = relative.split("/")
        return tuple(parents), name

    def lstat(self, relative: str) -> os.stat_result | None:
        """The object at ``relative`` itself (a link is not followed); None when it or a folder is missing."""
        parents, name = self.split(relative)
        folder = self.folder(parents, create=False)
        if folder is None:
            return None
        try:
            return os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_regular(self, relative: str, limit: int) -> int | None:
        """A read descriptor on a regular file of at most ``limit`` bytes; None when missing."""
        parents, name = self.split(relative)
        folder = self.folder(parents, create=False)
        if folder is None:
            return None
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                raise self._refuse(relative, os.stat(name, dir_fd=folder, follow_symlinks=False)) from None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            os.close(fd)
            if not stat.S_ISREG(st.st_mode):
                raise self._refuse(relative, st)
            raise OutputError(f"{self.shown(relative)} is {st.st_size:,} bytes, more than mailprofiles ever "
                              f"writes there ({limit:,}); it is not read: move it away and run again")
        return fd

    def _blocks(self, fd: int, relative: str, limit: int) -> Iterator[bytes]:
        total = 0
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                return
            total += len(block)
            if total > limit:
                raise OutputError(f"{self.shown(relative)} grew past {limit:,} bytes while being read")
            yield block

    def read(self, relative: str, limit: int = MAX_ARTIFACT_BYTES) -> bytes | None:
        """The bytes of a regular file of ours, at most ``limit``; None when missing. Anything else is refused."""
        fd = self.open_regular(relative, limit)
        if fd is None:
            return None
        try:
            return b"".join(self._blocks(fd, relative, limit))
        finally:
            os.close(fd)

    def sha256(self, relative: str, limit: int = MAX_ARTIFACT_BYTES) -> str | None:
        """sha256 of a regular file of ours, read in blocks; None when missing. Refuses what read() refuses."""
        fd = self.open_regular(relative, limit)
        if fd is None:
            return None
        try:
            digest = hashlib.sha256()
            for block in self._blocks(fd, relative, limit):
                digest.update(block)
            return digest.hexdigest()
        finally:
            os.close(fd)

    def still_ours(self, relative: str, sha: str) -> str | None:
        """None when a stale file is still what we wrote (ours to remove); '' when it is gone; else why it stays."""
        st = self.lstat(relative)
        if st is None:
            return ""
        if not stat.S_ISREG(st.st_mode):
            return f"it is {describe(st.st_mode)}, not the file mailprofiles wrote"
        if self.sha256(relative) != sha:
            return "it was changed after mailprofiles wrote it, so it is not removed"
        return None

    def mount_points(self) -> list[str] | None:
        """The mount points below OUT, relative to it (read once, from /proc/self/mountinfo); None when unknown."""
        if self._mounts is False:
            self._mounts = _mount_points(self.fd)
        assert not isinstance(self._mounts, bool)
        return self._mounts

    def foreign(self, home: str, target: str) -> str | None:
        """The folder (relative to OUT, '' for OUT) that puts the folder ``target`` on another file system than
        the folder ``home`` (a rename between them fails with EXDEV); None when they share one.

        A folder of ``target`` that does not exist yet counts as its nearest existing parent's.
        """
        points = self.mount_points()
        if points is not None:
            home_mount, target_mount = _mount_of(points, home), _mount_of(points, target)
            return None if home_mount == target_mount else target_mount
        home_st = self.lstat(home) if home else os.fstat(self.fd)      # no mount table: compare devices
        parts = tuple(target.split("/")) if target else ()
        for depth in range(len(parts) + 1):
            folder = self.folder(parts[:depth], create=False)
            if folder is None:
                return None
            if home_st is not None and os.fstat(folder).st_dev != home_st.st_dev:
                return "/".join(parts[:depth])
        return None

    def move_in(self, source_dir: int, source: str, relative: str) -> None:
        """Rename ``source`` (in ``source_dir``) to OUT/relative; a link there is replaced, never followed."""
        parents, name = self.split(relative)
        folder = self.folder(parents, create=True)
        assert folder is not None
        os.rename(source, name, src_dir_fd=source_dir, dst_dir_fd=folder)

    def unlink(self, relative: str) -> None:
        parents, name = self.split(relative)
        folder = self.folder(parents, create=False)
        if folder is not None:
            try:
                os.unlink(name, dir_fd=folder)
            except FileNotFoundError:
                pass

    def prune(self, relative: str) -> None:
        """Remove the now-empty folders of ``relative``, deepest first, up to (not including) OUT."""
        parents, _ = self.split(relative)
        self._drop_cache()
        for depth in range(len(parents), 0, -1):
            above = self.folder(parents[:depth - 1], create=False)
            if above is None:
                return
            try:
                os.rmdir(parents[depth - 1], dir_fd=above)
            except OSError:
                return
            finally:
                self._drop_cache()


def _mount_points(fd: int) -> list[str] | None:
    """The mount points below the folder ``fd`` (relative paths), from the kernel's mount table."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
        with open("/proc/self/mountinfo", "rb") as handle:
            table = read_at_most(handle, MAX_MOUNTINFO_BYTES)
    except OSError:
        return None
    prefix = real.rstrip("/") + "/"
    found = set()
    for line in table.splitlines():
        fields = line.split(b" ")
        if len(fields) > 4:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), os.fsdecode(fields[4]))
            if point.startswith(prefix) and len(point) > len(prefix):
                found.add(point[len(prefix):])
    return sorted(found)


def _mount_of(points: list[str], relative: str) -> str:
    """The deepest of the mount points ``points`` that holds ``relative`` ('' when none: OUT's own)."""
    best = ""
    for point in points:
        if (relative == point or relative.startswith(point + "/")) and len(point) > len(best):
            best = point
    return best
