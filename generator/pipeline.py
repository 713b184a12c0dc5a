"""``generate``: plan → reconcile and execute → apply.

    plan       what every artifact is made from (pure; nothing read from OUT)
    reconcile  against the run index and OUT: what to render, keep and remove (pure decisions)
    execute    render and verify what the reconciler says, compare with OUT, stage, stream the manifest
    apply      the staged writer: write the journal (the commit point), move the changes in

A run that fails before the journal is written leaves OUT as it was.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InventoryError, OutputError, VerificationError
from .fleet import FleetPlan, load_fleet
from .formats.signing import Signer
from .inventory.bounds import DEFAULT_LIMITS, Limits
from .inventory.load import load_inventory
from .jsontext import dumps
from .model import Finding
from .output.changelog import ChangeLog
from .output.execute import Executor, Outcome
from .output.index import Index
from .output.manifest import ArtifactRecord, Previous
from .output.reconcile import CHANGED, CREATED, REMOVED, UNCHANGED, Change
from .output.safefs import OutDir
from .output.shardmark import claimed
from .output.state import State
from .output.workers import default_jobs
from .output.writer import Stage, locked, recover, unfinished
from .plan.planner import Plan, Progress
from .plan.selection import parse_limit
from .plan.shard import parse_shard

__all__ = ["generate", "GenerateResult", "CREATED", "CHANGED", "UNCHANGED", "REMOVED", "Change"]

UNFINISHED = ("an earlier run stopped after its commit point, so the output is partly updated; run generate "
              "without --check to complete it")


@dataclass(frozen=True, slots=True)
class GenerateResult:
    artifacts: tuple[ArtifactRecord, ...]
    changes: Sequence[Change]            # created, changed and removed files, in path order (a ChangeLog: a large
                                         # run's list is read back from a temporary file, not held in memory)
    unchanged: int                       # how many artifacts were already up to date
    findings: tuple[Finding, ...]
    manifest_changed: bool
    check: bool
    notes: tuple[str, ...] = ()          # what the run did beyond the changes (e.g. completed an interrupted run)
    alerts: tuple[str, ...] = ()         # what it did not trust or do: kept files, ignored entries, idle --limit
    unfinished: bool = False             # --check found the journal of an interrupted run
    rendered: int = 0                    # files rendered; the others were up to date and not rendered again
    strict_failed: bool = False          # strict and unacknowledged warnings: run as a check, nothing written

    @property
    def warnings(self) -> int:
        """The findings not acknowledged by the inventory."""
        return sum(1 for f in self.findings if f.acknowledged is None)

    @property
    def would_change(self) -> bool:
        """A check found files or the manifest to change."""
        return self.check and bool(self.changes or self.manifest_changed)

    def count(self, status: str) -> int:
        if status == UNCHANGED:
            return self.unchanged
        if isinstance(self.changes, ChangeLog):
            return self.changes.count_of(status)
        return sum(1 for c in self.changes if c.status == status)

    def _counts(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "created": self.count(CREATED), "changed": self.count(CHANGED),
            "unchanged": self.count(UNCHANGED), "removed": self.count(REMOVED),
            "warnings": self.warnings, "acknowledged": len(self.findings) - self.warnings,
            "strict_failed": self.strict_failed,
            "manifest_changed": self.manifest_changed,
            "unfinished": self.unfinished,
            "rendered": self.rendered,
        }

    def _lists(self) -> dict[str, Iterable[Any]]:
        return {
            "changes": self.changes,
            "findings": (f.to_json() for f in self.findings),
            "notes": self.notes, "alerts": self.alerts,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self._counts(), **{key: [item.to_json() if isinstance(item, Change) else item for item in items]
                                     for key, items in self._lists().items()}}

    def json_chunks(self, diffs: bool = False, head: dict[str, Any] | None = None) -> Iterator[str]:
        """:meth:`to_json` (plus ``diffs`` when asked, after the keys of ``head``) as text, item by item: a recap
        of a large run is written without building it in memory."""
        yield "{"
        separator = "\n  "
        for key, value in {**(head or {}), **self._counts()}.items():
            yield f"{separator}{json.dumps(key)}: {dumps(value)}"
            separator = ",\n  "
        for key, items in self._lists().items():
            yield f",\n  {json.dumps(key)}: ["
            inner = "\n    "
            for item in items:
                yield inner + (item.text() if isinstance(item, Change) else dumps(item))
                inner = ",\n    "
            yield "\n  ]" if inner != "\n    " else "]"
        if diffs:
            yield ',\n  "diffs": {'
            inner = "\n    "
            for change in self.changes:
                if change.diff:
                    yield f"{inner}{dumps(change.path)}: " \
                          f"{dumps(change.diff)}"
                    inner = ",\n    "
            yield "\n  }" if inner != "\n    " else "}"
        yield "\n}\n"


def generate(inventory_path: str | Path, out_dir: str | Path, *, limit: str | None = None, check: bool = False,
             diff: bool = False, progress: Progress | None = None, limits: Limits = DEFAULT_LIMITS,
             signer: Signer | None = None, jobs: int = 0, records: bool = True,
             shard: str | None = None, strict: bool = False) -> GenerateResult:
    """Render, verify and (unless ``check``) write every artifact and the manifest.

    ``shard``: ``K/N``, only the users of shard K of N, into an output folder of that shard's
    (``generator/plan/shard.py``).

    ``signer`` (from :func:`generator.signing.load_signer`): Apple profiles are written as CMS SignedData.
    ``jobs``: worker processes for rendering (0: one per core and one more). ``records``: keep every artifact's
    manifest entry in the result (``artifacts``); a command-line run over a large roster does not.
    ``strict``: unacknowledged warnings (of the users ``limit`` selects) are a failure: the run is then a
    check, nothing is written, and the result says ``strict_failed``.
    """
    patterns, part = parse_limit(limit), parse_shard(shard)
    plan = Plan(load_inventory(inventory_path, limits), patterns, signer, part)
    return run_plan(plan, Path(out_dir), check, diff, progress, jobs, records, strict)


def fleet(inventory_path: str | Path, out_dir: str | Path, mdm: str, *, check: bool = False, diff: bool = False,
          progress: Progress | None = None, limits: Limits = DEFAULT_LIMITS,
          signer: Signer | None = None, jobs: int = 0, records: bool = True, strict: bool = False) -> GenerateResult:
    """One file set per group and device profile, with the MDM's variables (see ``generator/fleet.py``)."""
    return run_plan(FleetPlan(load_fleet(inventory_path, mdm, limits), signer), Path(out_dir), check, diff,
                    progress, jobs, records, strict)


def run_plan(plan: Plan, out: Path, check: bool, diff: bool, progress: Progress | None, jobs: int = 0,
             records: bool = True, strict: bool = False) -> GenerateResult:
    """Reconcile, execute and apply a plan: check mode reads OUT without locking; otherwise lock, recover, write."""
    strict_failed = strict and any(f.acknowledged is None for f in plan.selected_findings())
    check = check or strict_failed
    run = _Run(plan, diff, progress, jobs or default_jobs(), records, strict_failed)
    try:
        if check:
            outdir = OutDir.open(out, create=False)
            try:
                with _claimed(outdir, plan, write=False):
                    return run(outdir, None)
            finally:
                if outdir is not None:
                    outdir.close()
        with locked(out) as outdir:
            recovered = recover(outdir)
            with _claimed(outdir, plan, write=True):
                return run(outdir, Stage, *recovered)
    except OSError as exc:   # the file system refused: not a bug, and earlier output is intact
        where = exc.filename or out
        raise OutputError(f"cannot write the output at {where}: {exc.strerror or exc}") from None


def _claimed(outdir: OutDir | None, plan: Plan, write: bool) -> contextlib.AbstractContextManager[None]:
    """The folder's shard checked (and recorded) for a generate run; a fleet run removes only fleet files, which
    no shard makes, so it may share the folder of any generate run."""
    return contextlib.nullcontext() if isinstance(plan, FleetPlan) else claimed(outdir, plan.shard, write)


@dataclass(frozen=True, slots=True)
class _Run:
    plan: Plan
    diff: bool
    progress: Progress | None
    jobs: int
    records: bool
    strict_failed: bool = False

    def __call__(self, outdir: OutDir | None, staging: type[Stage] | None, notes: tuple[str, ...] = (),
                 recovered: tuple[str, ...] = ()) -> GenerateResult:
        plan = self.plan
        previous = Previous(outdir, plan.command)
        stage = staging(outdir) if staging is not None and outdir is not None else None
        state = stage.state if stage is not None else State.open(outdir, create=False) if outdir is not None else None
        index = Index(state)
        old_index = index.reopen(state)
        if stage is None and state is not None:
            os.close(state.fd)     # only read: the descriptors on the index stay open
        try:
            found = Executor(plan, outdir, previous, index, self.diff, stage, self.records).run(
                plan.reported, self.jobs, self.progress, old_index)
            if found.template_errors:
                raise InventoryError(found.template_errors)
            if found.failures:
                raise VerificationError(found.failures)
            kept = _apply(stage, found)
        except BaseException:
            if stage is not None:
                stage.discard()
            raise
        finally:
            previous.close()
            index.close()
        pending = staging is None and unfinished(outdir)
        alerts = (*recovered, *previous.report(), *plan.unmatched(), *found.outside, *(found.kept if stage is None else kept),
                  *((UNFINISHED,) if pending else ()))
        return GenerateResult(tuple(found.records or ()), found.changes, found.unchanged,
                              plan.selected_findings(), found.manifest_changed, stage is None, notes, alerts, pending,
                              found.rendered, self.strict_failed)


def _apply(stage: Stage | None, found: Outcome) -> list[str]:
    """Commit when anything changes; returns the stale files kept."""
    if stage is None:
        return []
    if found.changes or found.manifest_changed or found.index_changed:
        return found.kept + stage.commit(found.manifest_changed, found.index_changed)
    stage.discard()
    return found.kept
