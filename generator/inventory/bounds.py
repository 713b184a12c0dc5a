"""Bounds and confinement for untrusted input: every documented limit in one place (README, Troubleshooting)."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..bounded import read_at_most


@dataclass(frozen=True, slots=True)
class Limits:
    """Documented bounds for untrusted input (see README, Troubleshooting)."""

    max_yaml_bytes: int = 32 * 1024 * 1024
    max_csv_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    max_alias_expansion: int = 100_000
    max_csv_line_chars: int = 65_536
    max_csv_columns: int = 64
    max_value_chars: int = 1024
    max_nodes: int = 100_000            # YAML values per document; larger user lists belong in a CSV roster
    max_diagnostics: int = 100          # problems listed; the rest are counted
    allowed_roots: tuple[str, ...] = ()  # folders besides the inventory's that users_file/profiles_dir may name
    max_template_bytes: int = 1024 * 1024       # one file in templates_dir
    max_site_bytes: int = 64 * 1024 * 1024      # every file in templates_dir together
    max_site_files: int = 10_000                # files and folders in templates_dir (links followed)


DEFAULT_LIMITS = Limits()


def relative_to(base: Path, value: str) -> Path:
    target = Path(value)
    return target if target.is_absolute() else base / target


def confined(base: Path, value: str, limits: Limits) -> tuple[Path, str | None]:
    """``value`` (relative to ``base``) and, when it leads outside ``base`` and every allowed root, why not.

    Links are resolved first, so a link inside the folder cannot lead out of it either.
    """
    target = relative_to(base, value)
    if within(target.resolve(), roots_of(base, limits)):
        return target, None
    return target, OUTSIDE


OUTSIDE = "leads outside the inventory's folder"
KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
         stat.S_IFSOCK: "a socket"}


def roots_of(base: Path, limits: Limits) -> tuple[Path, ...]:
    """The folders input files may lead into: ``base`` and every allowed root, resolved."""
    return tuple(Path(root).resolve() for root in (str(base), *limits.allowed_roots))


def within(real: Path, roots: tuple[Path, ...]) -> bool:
    """Whether the resolved path ``real`` is one of ``roots`` (resolved) or below one."""
    return any(real == root or root in real.parents for root in roots)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why :func:`read_regular` read nothing: ``missing``, ``error`` (``detail``: the system's words), ``special``
    (``mode``: not a regular file) or ``too_big`` (``size``); each caller words it for its own file."""

    kind: str
    detail: str = ""
    mode: int = 0
    size: int = 0


def read_regular(path: Path, max_bytes: int, *, nofollow: bool = False) -> bytes | Unreadable:
    """The bytes of the regular file at ``path``, at most ``max_bytes``. Opened without blocking, so a FIFO or a
    device is looked at (``fstat``) and never read; ``nofollow``: a link at ``path`` itself is not followed."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return Unreadable("missing")
    except OSError as exc:
        return Unreadable("error", exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Unreadable("special", mode=st.st_mode)
        if st.st_size > max_bytes:
            return Unreadable("too_big", size=st.st_size)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = read_at_most(handle, max_bytes + 1)
    except OSError as exc:
        return Unreadable("error", exc.strerror or str(exc))
    finally:
        os.close(fd)
    return Unreadable("too_big", size=len(data)) if len(data) > max_bytes else data


def read_confined(path: Path, roots: tuple[Path, ...], max_bytes: int) -> tuple[bytes, str | None]:
    """The bytes of the regular file at ``path``, links followed as long as they stay within ``roots``; or
    (``b""``, why not): it leads outside, leads to nothing, is not a regular file, holds more than ``max_bytes``.

    Nothing but a regular file is opened for reading (a FIFO is opened without blocking and never read).
    """
    real = path.resolve()
    if not within(real, roots):
        return b"", OUTSIDE
    read = read_regular(real, max_bytes, nofollow=True)
    if not isinstance(read, Unreadable):
        return read, None
    if read.kind == "missing":
        return b"", "leads to nothing" if path.is_symlink() else "does not exist"
    if read.kind == "special":
        return b"", f"is {KINDS.get(stat.S_IFMT(read.mode), 'not a file')}, not a regular file"
    if read.kind == "too_big":
        return b"", _too_big(read.size, max_bytes)
    return b"", f"cannot be read ({read.detail})"


def _too_big(size: int, limit: int) -> str:
    return f"is {size:,} bytes (the limit is {limit:,} bytes)"


def confined_files(root: Path, roots: tuple[Path, ...], limits: Limits) -> Iterator[tuple[Path, bytes, str | None]]:
    """Every file below ``root`` in a stable order, read with :func:`read_confined` (links followed within
    ``roots``): (its path below ``root``, its bytes, why it may not be read or None).

    A link that leads outside ``roots`` or to nothing, a folder that holds itself through a link, and more
    than ``limits.max_site_bytes`` or ``limits.max_site_files`` in all are refused as they are met (for a
    limit, at ``root``, and the walk stops).
    """
    budget = [limits.max_site_bytes, limits.max_site_files]

    def walk(folder: Path, above: frozenset[Path]) -> Iterator[tuple[Path, bytes, str | None]]:
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            yield folder, b"", f"cannot be listed ({exc.strerror})"
            return
        for name in names:
            path = folder / name
            budget[1] -= 1
            if budget[1] < 0:
                yield root, b"", f"the site's templates hold more than {limits.max_site_files:,} files and folders"
                return
            real = path.resolve()
            if path.is_symlink() and not within(real, roots):
                yield path, b"", f"the link {name} {OUTSIDE}"
                continue
            if path.is_dir():
                if real in above:
                    yield path, b"", f"the link {name} leads to a folder that holds it (a loop)"
                    continue
                yield from walk(path, above | {real})
                if budget[0] < 0 or budget[1] < 0:
                    return
                continue
            data, problem = read_confined(path, roots, limits.max_template_bytes)
            budget[0] -= len(data)
            if budget[0] < 0:
                yield root, b"", f"the site's templates hold more than {limits.max_site_bytes:,} bytes"
                return
            yield path, data, None if problem is None else f"{name} {problem}"

    yield from walk(root, frozenset({root.resolve()}))
