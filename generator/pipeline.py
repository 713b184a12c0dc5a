"""``generate``: plan → compare → apply.

    plan      resolve, render and verify every artifact (pure; nothing read from OUT)
    compare   against OUT and the previous manifest: created, changed, unchanged, removed
    apply     the staged writer: stage the changes, write the journal, move them in

A run that fails before the journal is written leaves OUT as it was.
"""
from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compare import CHANGED, CREATED, REMOVED, UNCHANGED, Change, Comparison, compare
from .errors import InventoryError, OutputError, VerificationError
from .fleet import FleetPlan, load_fleet
from .limit import parse_limit
from .limits import DEFAULT_LIMITS, Limits
from .load import load_inventory
from .manifest import MANIFEST, MAX_MANIFEST_BYTES, ArtifactRecord, hashed, manifest_chunks, read_manifest
from .model import Finding
from .plan import Plan, Progress
from .safefs import OutDir
from .signing import Signer
from .writer import Stage, locked, recover, unfinished

__all__ = ["generate", "GenerateResult", "CREATED", "CHANGED", "UNCHANGED", "REMOVED", "Change"]

UNFINISHED = ("an earlier run stopped after its commit point, so the output is partly updated; run generate "
              "without --check to complete it")


@dataclass(frozen=True, slots=True)
class GenerateResult:
    artifacts: tuple[ArtifactRecord, ...]
    changes: tuple[Change, ...]          # created, changed and removed files
    unchanged: int                       # how many artifacts were already up to date
    findings: tuple[Finding, ...]
    manifest_changed: bool
    check: bool
    notes: tuple[str, ...] = ()          # what the run did beyond the changes (e.g. completed an interrupted run)
    alerts: tuple[str, ...] = ()         # what it did not trust or do: kept files, ignored entries, idle --limit
    unfinished: bool = False             # --check found the journal of an interrupted run

    def count(self, status: str) -> int:
        if status == UNCHANGED:
            return self.unchanged
        return sum(1 for c in self.changes if c.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "created": self.count(CREATED), "changed": self.count(CHANGED),
            "unchanged": self.count(UNCHANGED), "removed": self.count(REMOVED),
            "warnings": len(self.findings),
            "manifest_changed": self.manifest_changed,
            "unfinished": self.unfinished,
            "changes": [{"path": c.path, "status": c.status} for c in self.changes],
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
            "alerts": list(self.alerts),
        }


def generate(inventory_path: str | Path, out_dir: str | Path, *, limit: str | None = None, check: bool = False,
             diff: bool = False, progress: Progress | None = None, limits: Limits = DEFAULT_LIMITS,
             signer: Signer | None = None) -> GenerateResult:
    """Render, verify and (unless ``check``) write every artifact and the manifest.

    ``signer`` (from :func:`generator.signing.load_signer`): Apple profiles are written as CMS SignedData.
    """
    plan = Plan(load_inventory(inventory_path, limits), parse_limit(limit), signer)
    return run_plan(plan, Path(out_dir), check, diff, progress)


def fleet(inventory_path: str | Path, out_dir: str | Path, mdm: str, *, check: bool = False, diff: bool = False,
          progress: Progress | None = None, limits: Limits = DEFAULT_LIMITS,
          signer: Signer | None = None) -> GenerateResult:
    """One file set per group and device profile, with the MDM's variables (see ``generator/fleet.py``)."""
    return run_plan(FleetPlan(load_fleet(inventory_path, mdm, limits), signer), Path(out_dir), check, diff,
                    progress)


def run_plan(plan: Plan, out: Path, check: bool, diff: bool, progress: Progress | None) -> GenerateResult:
    """Compare and apply a plan: check mode reads OUT without locking; otherwise lock, recover, write."""
    try:
        if check:
            outdir = OutDir.open(out, create=False)
            try:
                return _run(plan, outdir, None, diff, progress)
            finally:
                if outdir is not None:
                    outdir.close()
        with locked(out) as outdir:
            return _run(plan, outdir, Stage, diff, progress, *recover(outdir))
    except OSError as exc:   # the file system refused: not a bug, and earlier output is intact
        where = exc.filename or out
        raise OutputError(f"cannot write the output at {where}: {exc.strerror or exc}") from None


def _run(plan: Plan, outdir: OutDir | None, staging: type[Stage] | None, diff: bool, progress: Progress | None,
         notes: tuple[str, ...] = (), recovered: tuple[str, ...] = ()) -> GenerateResult:
    previous, distrust = read_manifest(outdir)
    stage = staging(outdir) if staging is not None and outdir is not None else None
    try:
        found = compare(plan.artifacts(progress), outdir, previous, plan.inventory, plan.patterns, diff,
                        stage.add if stage is not None else None, plan.kinds)
        if plan.template_errors:
            raise InventoryError(plan.template_errors)
        if plan.failures:
            raise VerificationError(plan.failures)
        manifest_changed = _manifest(stage, outdir, found, plan.findings)
        kept = _apply(stage, found, manifest_changed)
    except BaseException:
        if stage is not None:
            stage.discard()
        raise
    pending = staging is None and unfinished(outdir)
    alerts = (*recovered, *distrust, *plan.unmatched(), *(found.kept if stage is None else kept),
              *((UNFINISHED,) if pending else ()))
    return GenerateResult(tuple(found.records), tuple(found.changes), found.unchanged, plan.findings,
                          manifest_changed, stage is None, notes, alerts, pending)


def _manifest(stage: Stage | None, outdir: OutDir | None, found: Comparison, findings: tuple[Finding, ...]) -> bool:
    """Stage the new manifest (or only hash it in check mode); True when it differs from OUT's."""
    artifacts = heapq.merge((r.to_json() for r in found.records), found.carried, key=lambda e: str(e["path"]))
    digest = hashlib.sha256()
    chunks = hashed(manifest_chunks(artifacts, (f.to_json() for f in findings)), digest)
    if stage is not None:
        stage.write_manifest(chunks)
    else:
        for _ in chunks:
            pass
    current = outdir.sha256(MANIFEST, MAX_MANIFEST_BYTES) if outdir is not None else None
    return digest.hexdigest() != current


def _apply(stage: Stage | None, found: Comparison, manifest_changed: bool) -> list[str]:
    """Stage the removals, then commit when anything changes; returns the stale files kept."""
    if stage is None:
        return []
    for path, sha in found.removals:
        stage.remove(path, sha)
    if found.changes or manifest_changed:
        return found.kept + stage.commit(manifest_changed)
    stage.discard()
    return found.kept
