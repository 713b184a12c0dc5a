"""Rendering in worker processes: both cores busy, results in the order they were asked for.

The workers are forked after the plan is made, so they share it (and the loaded inventory)
without copying; a task names units by their index in the plan's list, and a result holds
each unit's files as bytes. Output bytes and order are the same as rendering in one process.
Workers are used on platforms that fork, for runs large enough to pay for them, and only
while the process has no other thread (forking a threaded process is unsafe).

Each worker has a pipe of its own to the parent; no lock or queue is shared between
processes, so a worker that dies cannot leave another one, or the parent, waiting on it.
The parent waits on the pipe it needs and on every worker's exit at once: a worker that
dies (the kernel's OOM killer sends SIGKILL) ends the run at once with
:class:`~generator.errors.WorkerDied`. Its work is not redone: rendering happens before the
commit point, so the run stops with nothing written, and the caller discards the staging
files as on any failure. A worker waits only on its parent, and dies with it.
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
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ..errors import WorkerDied
from ..formats.registry import named
from ..plan.planner import Item, Plan, Planned, Rendered, Staged, Unit
from .manifest import ArtifactRecord
from .writer import StagingTree

PR_SET_PDEATHSIG = 1
MIN_UNITS_PER_WORKER = 64      # fewer units than this per worker: rendering in-process is faster
STOP_SECONDS = 5.0             # how long a stopped worker may take to exit before it is killed
_shared: tuple[Plan, Sequence[Unit], int, Made, bool] | None = None   # set in the parent just before the workers fork

# a made file's manifest entry and index line from its record, size and time (``Index.entry_and_line``)
Made = Callable[[ArtifactRecord, "int | None", "int | None"], "tuple[bytes, bytes | None]"]
Packed = tuple[list[tuple[str, Any, bytes, str]], list[str], list[Any], list[Staged]]
Task = tuple[int, bool]         # a unit's index, and whether its files go straight to the staging folder
InProcess = list[tuple[Task, "list[Item] | None"]]    # tasks rendered in this process, with their files where known
_staging: StagingTree | None = None  # in a worker: the staging folder, opened on first use


def default_jobs() -> int:
    """One worker per core this process may run on, and one more: a worker waits on the disk now and then (creating
    folders and files in the staging tree), and the main process waits on the workers; with as many workers as
    cores, a 20,000-user cold run on a 2-core machine left a core idle for 9 to 10 of its 63 core-seconds, with one
    more worker for 3 (the single-process start), and took 6 to 9 % less time. One core: no workers."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return cores + 1 if cores > 1 else 1


def _worker_start(parent: int) -> None:
    """A worker leaves Ctrl-C to the parent, and dies with it: a killed run leaves no worker writing on
    into its staging folder or holding the output folder's lock."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:      # the parent died before the line above took effect
        os._exit(1)


def _serve(conn: Connection, parent: int, others: list[Connection]) -> None:
    """A worker's loop: a chunk of tasks in, its rendered units (or the exception that stopped it) out.

    It ends when the parent closes its pipe or goes away."""
    _worker_start(parent)
    for other in others:             # the pipes of the workers forked before this one are theirs
        other.close()
    while True:
        try:
            tasks = conn.recv()
        except (EOFError, OSError):
            return
        answer: tuple[bool, Any]
        try:
            answer = (True, _render_chunk(tasks))
        except Exception as exc:
            answer = (False, exc)
        try:
            conn.send(answer)
        except OSError:
            return
        except Exception as exc:     # an exception that cannot be pickled: sent as text
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def _render_chunk(tasks: list[Task]) -> list[Packed]:
    assert _shared is not None
    plan, units, staging_fd, made, records = _shared
    out = []
    every = plan.render_units([units[index] for index, _ in tasks], [None] * len(tasks))
    for (_, write), rendered in zip(tasks, every):
        if write and staging_fd >= 0 and not rendered.failures and not rendered.template_errors:
            global _staging
            if _staging is None:
                _staging = StagingTree(os.dup(staging_fd))
            rendered.staged = [_written(_staging, p, made, records) for p in rendered.planned]
            rendered.planned = []
        out.append(_pack(rendered))
    return out


def _written(staging: StagingTree, planned: Planned, made: Made, records: bool) -> Staged:
    """Write a file of a new folder into the staging tree; what goes back is its path, its manifest entry's JSON
    and its index line, ready to be written, and its record when the run keeps records; never its bytes."""
    record = planned.record
    size, mtime_ns = staging.add(record.path, planned.content)
    entry, line = made(record, size, mtime_ns)
    assert line is not None
    return record.path, entry, line, record.written(size, mtime_ns) if records else None


def _pack(rendered: Rendered) -> Packed:
    return ([(p.format.name, p.record, p.content, p.template) for p in rendered.planned],
            rendered.failures, rendered.template_errors, rendered.staged)


def _unpack(packed: Packed) -> Rendered:
    planned, failures, template_errors, staged = packed
    return Rendered([Planned(record, content, named(fmt), template)
                     for fmt, record, content, template in planned], failures, template_errors, staged)


@dataclasses.dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection              # the parent's end of the worker's pipe
    waiting: int = 0              # chunks sent whose result has not been read


@dataclasses.dataclass(frozen=True, eq=False)
class Handle:
    """A chunk sent to a worker; each worker answers its chunks in the order they were sent."""

    worker: _Worker


def how_it_ended(exitcode: int | None) -> str:
    """A worker's end in words: its signal (SIGKILL is what the kernel sends when memory runs out) or status."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown"
        return f"signal {-exitcode}, e.g. out of memory" if -exitcode == signal.SIGKILL \
            else f"signal {-exitcode}, {name}"
    return f"exit status {exitcode}"


class Renderer:
    """Renders chunks of units, in worker processes when it pays; ``depth``: chunks to keep in flight.

    ``staging``: makes the stage's staging folder and gives its descriptor; the workers write the files
    of units asked to be written there themselves (a new user folder), so the bytes never travel back.
    ``made``: makes a written file's manifest entry and index line (``Index.entry_and_line``): what comes
    back of a file a worker wrote is its path, entry and index line (``Rendered.staged``), and its record
    only when ``records`` asks for it. Without workers nothing is written here: the caller stages what it gets.
    """

    def __init__(self, plan: Plan, units: Sequence[Unit], jobs: int, staging: Callable[[], int] | None,
                 made: Made, records: bool):
        self.plan, self.units, self.jobs, self.staging, self.made, self.records = plan, units, jobs, staging, made, records
        self.workers: list[_Worker] = []
        self._asked = 0
        self._possible = jobs > 1 and "fork" in multiprocessing.get_all_start_methods()
        self.depth = 0

    def _start(self, remaining: int) -> None:
        """Start the workers once enough units have needed rendering and enough remain (a run that renders
        a handful of files never forks, nor creates a staging folder)."""
        if self.workers or not self._possible or self._asked < 2 * MIN_UNITS_PER_WORKER \
                or remaining < 2 * MIN_UNITS_PER_WORKER or threading.active_count() != 1:
            return
        global _shared
        staging = self.staging() if self.staging is not None else -1
        _shared = (self.plan, self.units, staging, self.made, self.records)
        context = multiprocessing.get_context("fork")
        for _ in range(min(self.jobs, max(1, remaining // MIN_UNITS_PER_WORKER))):
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs, os.getpid(), [w.conn for w in self.workers]),
                                      daemon=True)
            self.workers.append(_Worker(process, mine))
            process.start()
            theirs.close()            # the worker's end lives in the worker alone: its death reads as end of file
        self.depth = 2 * self.jobs + 2

    def submit(self, tasks: list[Task], remaining: int, items: list[list[Item] | None]) -> Handle | InProcess:
        """Render ``tasks``, now or in a worker; ``remaining``: units not yet submitted; ``items``: each task's unit's
        files where the caller has them (a worker makes its own)."""
        self._asked += len(tasks)
        self._start(remaining)
        if not self.workers or not tasks:
            return list(zip(tasks, items))
        worker = min(self.workers, key=lambda w: w.waiting)
        try:
            worker.conn.send(tasks)
        except OSError:
            raise self._died(worker) from None
        worker.waiting += 1
        return Handle(worker)

    def result(self, handle: Handle | InProcess) -> list[Rendered]:
        if isinstance(handle, list):
            return self.plan.render_units([self.units[index] for (index, _), _ in handle], [items for _, items in handle])
        worker = handle.worker
        exits = {w.process.sentinel: w for w in self.workers}
        while True:
            ready = wait([worker.conn, *exits], timeout=1.0)
            if worker.conn in ready:
                try:
                    ok, value = worker.conn.recv()
                except (EOFError, OSError):
                    raise self._died(worker) from None
                worker.waiting -= 1
                if not ok:
                    raise value
                return [_unpack(packed) for packed in value]
            for w in self.workers:       # any worker's end, seen by its exit or its status
                if w.process.sentinel in ready or w.process.exitcode is not None:
                    raise self._died(w)

    def _died(self, worker: _Worker) -> WorkerDied:
        worker.process.join(STOP_SECONDS)
        return WorkerDied(how_it_ended(worker.process.exitcode))

    def close(self) -> None:
        """Stop the workers (SIGTERM, then SIGKILL after a while): none is left writing when this returns."""
        global _shared
        for worker in self.workers:
            worker.conn.close()
            if worker.process.exitcode is None:
                with contextlib.suppress(OSError):
                    worker.process.terminate()
        for worker in self.workers:
            worker.process.join(STOP_SECONDS)
            if worker.process.exitcode is None:
                with contextlib.suppress(OSError):
                    worker.process.kill()
                worker.process.join(STOP_SECONDS)
            with contextlib.suppress(ValueError):
                worker.process.close()
        self.workers = []
        _shared = None
