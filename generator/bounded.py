"""Run one piece of work in a forked child with a wall-clock deadline and a memory cap.

Used where the other side is not ours (a mail server that drips one byte every half second,
or answers EHLO with an endless list of lines): whatever it does, the parent gets an answer
within the deadline and its own memory stays untouched.

Also here: :func:`read_at_most`, a read whose memory follows what is read, not the bound.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import BinaryIO, TypeVar

resource: ModuleType | None
try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

T = TypeVar("T")

MEMORY_CAP = 128 * 1024 * 1024   # bytes the child may add to what it inherited


def read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """At most ``limit`` bytes of ``handle``, read in blocks. ``read(limit)`` would reserve ``limit`` bytes before
    reading (64 MiB for a mount table of a few KiB, 512 MiB for a small manifest)."""
    blocks, size = [], 0
    while size < limit:
        block = handle.read(min(1 << 20, limit - size))
        if not block:
            break
        blocks.append(block)
        size += len(block)
    return b"".join(blocks)


class Overrun(Exception):
    """The work did not finish within the deadline, or needed more memory than allowed."""


def _cap_memory(extra: int) -> None:
    if resource is None:  # pragma: no cover - not POSIX: the deadline still holds
        return
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            inherited = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = inherited + extra
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):  # pragma: no cover - no /proc: the deadline still holds
        pass


def _child(conn: object, work: Callable[[], T], extra: int) -> None:
    _cap_memory(extra)
    try:
        result: tuple[str, object] = ("ok", work())
    except MemoryError:
        result = ("memory", None)
    conn.send(result)  # type: ignore[attr-defined]
    conn.close()  # type: ignore[attr-defined]


def run_bounded(work: Callable[[], T], deadline: float, memory: int = MEMORY_CAP) -> T:
    """``work()`` in a forked child; raises :class:`Overrun` past ``deadline`` seconds or ``memory`` bytes."""
    if sys.platform != "linux":  # pragma: no cover - fork is only safe to rely on here
        return work()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, work, memory), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(deadline):
            raise Overrun(f"no complete answer within {deadline:g} s")
        try:
            kind, value = receiver.recv()
        except EOFError:
            raise Overrun("the check ended without an answer (out of memory)") from None
        if kind == "memory":
            raise Overrun(f"the answer needed more than {memory // (1024 * 1024)} MiB")
        return value  # type: ignore[no-any-return]
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
