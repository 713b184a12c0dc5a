"""Rendering in worker processes: both cores busy, results in the order they were asked for.

The workers are forked after the plan is made, so they share it (and the loaded inventory)
without copying; a task names units by their index in the plan's list, and a result holds
each unit's files as bytes. Output bytes and order are the same as rendering in one process.
Workers are used on platforms that fork, for runs large enough to pay for them, and only
while the process has no other thread (forking a threaded process is unsafe).
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

from .formats import named
from .plan import Plan, Planned, Rendered, Unit
from .safefs import OutDir
from .writer import stage_file

PR_SET_PDEATHSIG = 1
MIN_UNITS_PER_WORKER = 64      # fewer units than this per worker: rendering in-process is faster
_shared: tuple[Plan, Sequence[Unit], int] | None = None   # set in the parent just before the workers fork

Packed = tuple[list[tuple[str, Any, bytes, str, bool]], list[str], list[Any]]
Task = tuple[int, bool]         # a unit's index, and whether its files go straight to the staging folder
_staging: OutDir | None = None  # in a worker: the staging folder, opened on first use


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_start(parent: int) -> None:
    """A worker leaves Ctrl-C to the parent, and dies with it: a killed run leaves no worker writing on
    into its staging folder or holding the output folder's lock."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:      # the parent died before the line above took effect
        os._exit(1)


def _render_chunk(tasks: list[Task]) -> list[Packed]:
    assert _shared is not None
    plan, units, staging_fd = _shared
    out = []
    for index, write in tasks:
        rendered = plan.render(units[index])
        if write and staging_fd >= 0 and not rendered.failures and not rendered.template_errors:
            global _staging
            if _staging is None:
                _staging = OutDir(Path("staging"), os.dup(staging_fd))
            rendered.planned = [_staged(_staging, p) for p in rendered.planned]
        out.append(_pack(rendered))
    return out


def _staged(staging: OutDir, planned: Planned) -> Planned:
    """Write a file of a new folder into the staging tree; what goes back is its entry, not its bytes."""
    size, mtime_ns = stage_file(staging, planned.record.path, planned.content)
    return Planned(dataclasses.replace(planned.record, size=size, mtime_ns=mtime_ns), b"", planned.format,
                   planned.template, staged=True)


def _pack(rendered: Rendered) -> Packed:
    return ([(p.format.name, p.record, p.content, p.template, p.staged) for p in rendered.planned],
            rendered.failures, rendered.template_errors)


def _unpack(packed: Packed) -> Rendered:
    planned, failures, template_errors = packed
    return Rendered([Planned(record, content, named(fmt), template, staged)
                     for fmt, record, content, template, staged in planned], failures, template_errors)


class Renderer:
    """Renders chunks of units, in worker processes when it pays; ``depth``: chunks to keep in flight.

    ``staging``: makes the stage's staging folder and gives its descriptor; the workers write the files
    of units asked to be written there themselves (a new user folder), so the bytes never travel back.
    Without workers nothing is written here: the caller stages what it gets.
    """

    def __init__(self, plan: Plan, units: Sequence[Unit], jobs: int, staging: Callable[[], int] | None):
        self.plan, self.units, self.jobs, self.staging = plan, units, jobs, staging
        self.pool: Pool | None = None
        self.writes = False          # do the workers stage the files of new folders themselves?
        self._asked = 0
        self._possible = jobs > 1 and "fork" in multiprocessing.get_all_start_methods()
        self.depth = 0

    def _start(self, remaining: int) -> None:
        """Start the workers once enough units have needed rendering and enough remain (a run that renders
        a handful of files never forks, nor creates a staging folder)."""
        if self.pool is not None or not self._possible or self._asked < 2 * MIN_UNITS_PER_WORKER \
                or remaining < 2 * MIN_UNITS_PER_WORKER or threading.active_count() != 1:
            return
        global _shared
        staging = self.staging() if self.staging is not None else -1
        _shared = (self.plan, self.units, staging)
        workers = min(self.jobs, max(1, remaining // MIN_UNITS_PER_WORKER))
        self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start,
                                                             initargs=(os.getpid(),))
        self.writes = staging >= 0
        self.depth = 2 * self.jobs + 2

    def submit(self, tasks: list[Task], remaining: int) -> AsyncResult[list[Packed]] | list[Task]:
        """Render ``tasks``, now or in a worker; ``remaining``: units not yet submitted."""
        self._asked += len(tasks)
        self._start(remaining)
        if self.pool is None or not tasks:
            return tasks
        return self.pool.apply_async(_render_chunk, (tasks,))

    def result(self, handle: AsyncResult[list[Packed]] | list[Task]) -> list[Rendered]:
        if isinstance(handle, list):
            return [self.plan.render(self.units[index]) for index, _ in handle]
        return [_unpack(packed) for packed in handle.get()]

    def close(self) -> None:
        global _shared
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
        _shared = None
