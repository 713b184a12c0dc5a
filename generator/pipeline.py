"""``generate``: plan → compare → apply.

    plan      resolve, render and verify every artifact (pure; nothing read from OUT)
    compare   against OUT and the previous manifest: created, changed, unchanged, removed
    apply     the staged writer: stage the changes, write the journal, move them in

A run that fails before the journal is written leaves OUT as it was.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compare import CHANGED, CREATED, REMOVED, UNCHANGED, Change, Comparison, compare
from .errors import OutputError, VerificationError
from .limit import parse_limit
from .load import load_inventory
from .loader import DEFAULT_LIMITS, Limits
from .manifest import MANIFEST, ArtifactRecord, file_sha256, manifest_chunks, read_manifest, write_chunks
from .model import Finding
from .plan import Plan, Progress
from .writer import Stage, locked, recover

__all__ = ["generate", "GenerateResult", "CREATED", "CHANGED", "UNCHANGED", "REMOVED", "Change"]


@dataclass(frozen=True, slots=True)
class GenerateResult:
    artifacts: tuple[ArtifactRecord, ...]
    changes: tuple[Change, ...]          # created, changed and removed files
    unchanged: int                       # how many artifacts were already up to date
    findings: tuple[Finding, ...]
    manifest_changed: bool
    check: bool
    notes: tuple[str, ...] = ()

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
            "changes": [{"path": c.path, "status": c.status} for c in self.changes],
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
        }


def generate(inventory_path: str | Path, out_dir: str | Path, *, limit: str | None = None, check: bool = False,
             diff: bool = False, progress: Progress | None = None,
             limits: Limits = DEFAULT_LIMITS) -> GenerateResult:
    """Render, verify and (unless ``check``) write every artifact and the manifest."""
    plan = Plan(load_inventory(inventory_path, limits), parse_limit(limit))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a directory")
    try:
        if check:
            return _run(plan, out, None, diff, progress, ())
        with locked(out):
            note = recover(out)
            return _run(plan, out, Stage(out), diff, progress, (note,) if note else ())
    except OSError as exc:   # the file system refused: not a bug, and earlier output is intact
        where = exc.filename or out
        raise OutputError(f"cannot write the output at {where}: {exc.strerror or exc}") from None


def _run(plan: Plan, out: Path, stage: Stage | None, diff: bool, progress: Progress | None,
         notes: tuple[str, ...]) -> GenerateResult:
    previous = (read_manifest(out) or {"artifacts": []})["artifacts"]
    try:
        found = compare(plan.artifacts(progress), out, previous, plan.inventory, plan.patterns, diff,
                        stage.add if stage is not None else None)
        if plan.failures:
            raise VerificationError(plan.failures)
        manifest_changed = _apply(stage, out, found, plan.findings)
    except BaseException:
        if stage is not None:
            stage.discard()
        raise
    return GenerateResult(tuple(found.records), tuple(found.changes), found.unchanged, plan.findings,
                          manifest_changed, stage is None, notes)


def _apply(stage: Stage | None, out: Path, found: Comparison, findings: tuple[Finding, ...]) -> bool:
    """Stage the removals and the new manifest, then commit; True when the manifest changes."""
    artifacts = heapq.merge((r.to_json() for r in found.records), found.carried, key=lambda e: str(e["path"]))
    warnings = (f.to_json() for f in findings)
    staged = stage.manifest_path() if stage is not None else None
    manifest_changed = write_chunks(manifest_chunks(artifacts, warnings), staged) != file_sha256(out / MANIFEST)
    if stage is not None:
        for path in found.removals:
            stage.remove(path)
        if found.changes or manifest_changed:
            stage.commit(manifest_changed)
        else:
            stage.discard()
    return manifest_changed
