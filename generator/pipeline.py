"""``generate``: render every artifact, verify it, and write the changes atomically."""
from __future__ import annotations

import difflib
import heapq
import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import Diagnostic, InventoryError, Location, OutputError, VerificationError
from .inventory import load_inventory
from .loader import DEFAULT_LIMITS, Limits
from .model import Device, Finding, Inventory
from .paths import UnsafeName, artifact_path
from .render import RENDERERS, UnrepresentableValue
from .verify import cross_check, verify_artifact
from .writer import MANIFEST, Stage, file_sha256, locked, manifest_chunks, read_manifest, recover, write_chunks

CREATED, CHANGED, UNCHANGED, REMOVED = "created", "changed", "unchanged", "removed"


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    user: str
    device: str
    profile: str
    client: str
    protocol: str
    path: str
    sha256: str

    def to_json(self) -> dict:
        return {"user": self.user, "device": self.device, "profile": self.profile, "client": self.client,
                "protocol": self.protocol, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    status: str
    diff: str = ""


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

    def to_json(self) -> dict:
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


def matches_limit(device: Device, patterns: list[str] | None) -> bool:
    """``--limit``: comma-separated globs matched against the email, ``email/device`` and ``@group``."""
    return _matches(device.user.email, device.name, device.user.groups, patterns)


def _matches(email: str, device: str, groups, patterns: list[str] | None) -> bool:
    if not patterns:
        return True
    email = email.casefold()
    names = [email, f"{email}/{device.casefold()}"] + [f"@{g.casefold()}" for g in groups]
    return any(fnmatch.fnmatchcase(name, pattern.casefold()) for pattern in patterns for name in names)


def parse_limit(limit: str | None) -> list[str] | None:
    if not limit:
        return None
    patterns = [p.strip() for p in limit.split(",") if p.strip()]
    return patterns or None


def decode_for_diff(content: bytes) -> str:
    if content.startswith(b"\xff\xfe"):
        return content[2:].decode("utf-16-le", errors="replace")
    return content.decode("utf-8", errors="replace")


def _diff(path: str, old: bytes | None, new: bytes | None) -> str:
    before = decode_for_diff(old).splitlines(keepends=True) if old is not None else []
    after = decode_for_diff(new).splitlines(keepends=True) if new is not None else []
    lines = difflib.unified_diff(before, after, f"a/{path}" if old is not None else "/dev/null",
                                 f"b/{path}" if new is not None else "/dev/null")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).replace("\r\n", "\n")


def device_findings(inventory: Inventory, device: Device) -> tuple[list[Finding], set[str]]:
    """What each of the device's clients cannot express, and which clients are skipped for it."""
    findings, skipped = [], set()
    for client in device.clients:
        module = RENDERERS[client]
        for finding in module.limitations(inventory.organization, device):
            findings.append(finding)
            if finding.code in module.SKIPS:
                skipped.add(client)
    return findings, skipped


def generate(inventory_path: str | Path, out_dir: str | Path, *, limit: str | None = None, check: bool = False,
             diff: bool = False, progress: Callable[[int, int], None] | None = None,
             limits: Limits = DEFAULT_LIMITS) -> GenerateResult:
    """Render, verify and (unless ``check``) write every artifact and the manifest."""
    inventory = load_inventory(inventory_path, limits)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a directory")
    try:
        if check:
            return _run(inventory, out, parse_limit(limit), True, diff, progress, ())
        with locked(out):
            note = recover(out)
            return _run(inventory, out, parse_limit(limit), False, diff, progress, (note,) if note else ())
    except OSError as exc:   # the file system refused: not a bug, and earlier output is intact
        where = exc.filename or out
        raise OutputError(f"cannot write the output at {where}: {exc.strerror or exc}") from None


def _run(inventory: Inventory, out: Path, patterns: list[str] | None, check: bool, diff: bool,
         progress: Callable[[int, int], None] | None, notes: tuple) -> GenerateResult:
    org = inventory.organization
    previous = read_manifest(out) or {"artifacts": []}
    stage = None if check else Stage(out)
    records: list[ArtifactRecord] = []
    changes: list[Change] = []
    unchanged = 0
    findings: list[Finding] = list(inventory.findings)
    produced: set[str] = set()
    failures: list[str] = []
    path_errors: list[Diagnostic] = []
    selected = [d for d in inventory.devices if matches_limit(d, patterns)]
    total = len(selected)
    in_scope = {id(d) for d in selected}
    skipped_clients = {}
    for device in inventory.devices:
        device_found, skipped_clients[id(device)] = device_findings(inventory, device)
        findings.extend(device_found)
    try:
        for done, device in enumerate(selected, start=1):
            skipped = skipped_clients[id(device)]
            rendered: dict[str, bytes] = {}
            for client in device.clients:
                if client in skipped:
                    continue
                module = RENDERERS[client]
                try:
                    path = artifact_path(device.user.email, device.name, module.FILENAME)
                except UnsafeName as exc:
                    path_errors.append(Diagnostic(f"cannot make a safe file name: {exc}", Location(inventory.source),
                                                  f"{device.user.email}/{device.name}"))
                    break
                try:
                    content = module.render(org, device)
                except UnrepresentableValue as exc:
                    failures.append(f"{device.user.email} {device.name} {client}: {exc}")
                    continue
                problems = verify_artifact(client, content, org, device)
                if problems:
                    failures.extend(f"{device.user.email} {device.name} {client}: {p}" for p in problems)
                    continue
                rendered[client] = content
                sha = hashlib.sha256(content).hexdigest()
                records.append(ArtifactRecord(device.user.email, device.name, device.profile, client,
                                              device.protocol, path, sha))
                produced.add(path)
                target = out / path
                try:
                    old = target.read_bytes()
                except (FileNotFoundError, NotADirectoryError):
                    old = None
                if old == content:
                    unchanged += 1
                    continue
                changes.append(Change(path, CREATED if old is None else CHANGED,
                                      _diff(path, old, content) if diff else ""))
                if stage is not None and not failures and not path_errors:
                    stage.add(path, content)
            failures.extend(f"{device.user.email} {device.name}: {p}" for p in cross_check(rendered))
            if progress is not None:
                progress(done, total)
        if path_errors:
            raise InventoryError(path_errors)
        if failures:
            raise VerificationError(failures)
        # Artifacts of the previous run that this run no longer produces.
        carried = []
        out_of_scope = {(d.user.email.casefold(), d.name.casefold(), d.protocol, client)
                        for d in inventory.devices if id(d) not in in_scope for client in d.clients}
        for entry in previous["artifacts"]:
            path = entry["path"]
            if path in produced:
                continue
            key = (str(entry.get("user", "")).casefold(), str(entry.get("device", "")).casefold(),
                   entry.get("protocol"), entry.get("client"))
            if patterns and (key in out_of_scope or not _matches(key[0], key[1], (), patterns)):
                carried.append(entry)     # outside --limit: left as it is, even if stale
                continue
            if (out / path).exists():
                changes.append(Change(path, REMOVED, _diff(path, (out / path).read_bytes(), None) if diff else ""))
                if stage is not None:
                    stage.remove(path)
        records.sort(key=lambda r: r.path)
        carried.sort(key=lambda e: e["path"])
        artifacts = heapq.merge((r.to_json() for r in records), carried, key=lambda e: e["path"])
        warnings = (f.to_json() for f in sorted(set(findings), key=Finding.sort_key))
        staged = stage.manifest_path() if stage is not None else None
        manifest_changed = write_chunks(manifest_chunks(artifacts, warnings), staged) != file_sha256(out / MANIFEST)
        if stage is not None:
            if changes or manifest_changed:
                stage.commit(manifest_changed)
            else:
                stage.discard()
    except BaseException:
        if stage is not None:
            stage.discard()
        raise
    changes.sort(key=lambda c: c.path)
    return GenerateResult(tuple(records), tuple(changes), unchanged,
                          tuple(sorted(set(findings), key=Finding.sort_key)), manifest_changed, check, notes)
