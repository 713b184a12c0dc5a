"""Rendering in worker processes: both cores busy, results in the order they were asked for.

The workers are forked after the plan is made, so they share it (and the loaded inventory)
without copying; a task names units by their index in the plan's list, and a result holds
each unit's files as bytes. Output bytes and order are the same as rendering in one process.
Workers are used on platforms that fork, for runs large enough to pay for them, and only
while the process has no other thread (forking a threaded process is unsafe).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from .formats import named
from .plan import Plan, Planned, Rendered, Unit

MIN_UNITS_PER_WORKER = 64      # fewer units than this per worker: rendering in-process is faster
_shared: tuple[Plan, Sequence[Unit]] | None = None   # set in the parent just before the workers fork

Packed = tuple[list[tuple[str, Any, bytes, str]], list[str], list[Any]]


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _ignore_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle


def _render_chunk(indices: list[int]) -> list[Packed]:
    assert _shared is not None
    plan, units = _shared
    return [_pack(plan.render(units[index])) for index in indices]


def _pack(rendered: Rendered) -> Packed:
    return ([(p.format.name, p.record, p.content, p.template) for p in rendered.planned], rendered.failures,
            rendered.template_errors)


def _unpack(packed: Packed) -> Rendered:
    planned, failures, template_errors = packed
    return Rendered([Planned(record, content, named(fmt), template) for fmt, record, content, template in planned],
                    failures, template_errors)


class Renderer:
    """Renders chunks of units, in worker processes when it pays; ``depth``: chunks to keep in flight."""

    def __init__(self, plan: Plan, units: Sequence[Unit], jobs: int):
        self.plan, self.units = plan, units
        self.pool: Pool | None = None
        usable = jobs > 1 and "fork" in multiprocessing.get_all_start_methods() \
            and threading.active_count() == 1 and len(units) >= 2 * MIN_UNITS_PER_WORKER
        if usable:
            global _shared
            _shared = (plan, units)
            workers = min(jobs, max(1, len(units) // MIN_UNITS_PER_WORKER))
            self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_ignore_interrupt)
        self.depth = 2 * jobs + 2 if self.pool is not None else 0

    def submit(self, indices: list[int]) -> AsyncResult[list[Packed]] | list[int]:
        if self.pool is None or not indices:
            return indices
        return self.pool.apply_async(_render_chunk, (indices,))

    def result(self, handle: AsyncResult[list[Packed]] | list[int]) -> list[Rendered]:
        if isinstance(handle, list):
            return [self.plan.render(self.units[index]) for index in handle]
        return [_unpack(packed) for packed in handle.get()]

    def close(self) -> None:
        global _shared
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
        _shared = None
