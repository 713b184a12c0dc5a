"""Plan: resolve, render and verify every artifact. Pure: reads nothing from OUT, writes nothing.

The plan is lazy (artifacts are rendered as they are consumed), so a run over a large
roster never holds every file in memory. Verification failures are collected in
``failures``; the pipeline refuses to commit when there is any.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jinja2

from .errors import Diagnostic, Location, UnrepresentableValue
from .formats import DEVICE, Format, by_scope, named, no_limitations
from .limit import Patterns, matches_device
from .manifest import ArtifactRecord
from .model import Device, Finding, Inventory, Site
from .paths import artifact_path
from .render.engine import template_origin
from .scopes import TARGETS, Target
from .verify import Settings, cross_check

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Planned:
    """One rendered and verified artifact."""

    record: ArtifactRecord
    content: bytes
    format: Format
    template: str = "built-in"      # the site template it was made from, or built-in


def device_limitations(inventory: Inventory, device: Device) -> tuple[list[Finding], set[str]]:
    """What each of the device's formats cannot express, and which of them are not produced for it."""
    findings: list[Finding] = []
    skipped: set[str] = set()
    for client in device.clients:
        fmt = named(client)
        for finding in fmt.limitations(inventory.organization, device):
            findings.append(finding)
            if finding.code in fmt.skips:
                skipped.add(client)
    return findings, skipped


def device_files(inventory: Inventory, device: Device) -> list[tuple[str, str, str]]:
    """(format, path in OUT, template it is made from: a site file or ``built-in``) for each file of the device."""
    _, skipped = device_limitations(inventory, device)
    return [(fmt.name, artifact_path(device.user.email, device.name, fmt.file_name(device)),
             ", ".join(template_origin(inventory.site, t) for t in fmt.templates_used(device)))
            for fmt in by_scope(DEVICE) if fmt.name in device.clients and fmt.name not in skipped]


def all_findings(inventory: Inventory, skipped: dict[int, set[str]] | None = None) -> tuple[Finding, ...]:
    """The inventory's policy warnings plus what every format cannot express, sorted, once each.

    ``skipped`` (by ``id`` of the device) receives the formats not produced for a device, where there are any.
    """
    found = set(inventory.findings)
    for device in inventory.devices:
        findings, not_made = device_limitations(inventory, device)
        found.update(findings)
        if not_made and skipped is not None:
            skipped[id(device)] = not_made
    per_device = tuple(sorted(found, key=Finding.sort_key))
    for scope, targets in TARGETS.items():
        for fmt in by_scope(scope):
            if fmt.limitations is no_limitations:
                continue
            for target in targets(inventory, fmt, None, per_device):
                found.update(fmt.limitations(inventory.organization, target.subject))
    return tuple(sorted(found, key=Finding.sort_key))


class Plan:
    """Every artifact of one run, within ``--limit``. ``kinds``: the manifest kinds this run makes."""

    kinds: frozenset[str] = frozenset({"device", "user", "handout", "domain", "autoconfig", "organization"})

    def __init__(self, inventory: Inventory, patterns: Patterns, signer: object = None):
        self.inventory = inventory
        self.site = Site(inventory.organization, inventory.templates_dir, signer)
        self.patterns = patterns
        self.skipped: dict[int, set[str]] = {}
        self.findings = all_findings(inventory, self.skipped)
        self.selected = [d for d in inventory.devices if matches_device(d, patterns)]
        self.failures: list[str] = []
        self.template_errors: list[Diagnostic] = []

    def unmatched(self) -> tuple[str, ...]:
        """A warning for each ``--limit`` pattern that selects nobody."""
        return tuple(f"--limit pattern {pattern!r} matches no user, device or group"
                     for pattern in self.patterns or ()
                     if not any(matches_device(d, (pattern,)) for d in self.inventory.devices))

    def artifacts(self, progress: Progress | None = None) -> Iterator[Planned]:
        total = len(self.selected)
        for done, device in enumerate(self.selected, start=1):
            yield from self._device(device)
            if progress is not None:
                progress(done, total)
        for scope, targets in TARGETS.items():
            for fmt in by_scope(scope):
                for target in targets(self.inventory, fmt, self.patterns, self.findings):
                    planned = self._render(fmt, target.subject, self._record(fmt, target), target.path)
                    if planned is not None:
                        yield planned

    @staticmethod
    def _record(fmt: Format, target: Target) -> ArtifactRecord:
        return ArtifactRecord(fmt.manifest_kind, target.path, "", user=target.names.get("user"),
                              domain=target.names.get("domain"))

    def _render(self, fmt: Format, subject: object, record: ArtifactRecord, label: str) -> Planned | None:
        """Render and verify one artifact; a failure is recorded (under ``label``) and nothing is returned.

        A failure of a file made from a site template is the site's input problem (``template_errors``,
        naming the template); of a built-in one, a bug (``failures``).
        """
        site = self.site
        try:
            content = fmt.render(site, subject)
        except UnrepresentableValue as exc:
            self.failures.append(f"{label}: {exc}")
            return None
        except jinja2.TemplateError as exc:
            self.template_errors.append(_template_error(exc, label))
            return None
        problems = fmt.check(content, site.organization, subject)
        if problems:
            overrides = [o for o in (template_origin(site, t) for t in fmt.templates_used(subject)) if o != "built-in"]
            if overrides:
                self.template_errors.extend(Diagnostic(
                    f"the file made from this site template fails its verification ({label}): {problem}",
                    Location(overrides[0]), hint="fix the template, or remove it to use the built-in one")
                    for problem in problems)
            else:
                self.failures.extend(f"{label}: {problem}" for problem in problems)
            return None
        origin = ", ".join(o for o in (template_origin(site, t) for t in fmt.templates_used(subject)) if o != "built-in")
        signed = fmt.signable and site.signer is not None
        return Planned(_with_hash(record, content, signed), content, fmt, origin or "built-in")

    def _device(self, device: Device) -> Iterator[Planned]:
        skipped = self.skipped.get(id(device), set())
        readings: dict[str, Settings] = {}
        for fmt in by_scope(DEVICE):
            if fmt.name not in device.clients or fmt.name in skipped:
                continue
            record = ArtifactRecord(fmt.manifest_kind, artifact_path(device.user.email, device.name,
                                                                    fmt.file_name(device)), "",
                                    user=device.user.email, device=device.name, profile=device.profile,
                                    client=fmt.name, protocol=device.protocol)
            planned = self._render(fmt, device, record, f"{device.user.email} {device.name} {fmt.name}")
            if planned is None:
                continue
            if fmt.read_settings is not None:
                readings[fmt.name] = fmt.read_settings(planned.content)
            yield planned
        self.failures.extend(f"{device.user.email} {device.name}: {p}" for p in cross_check(readings))


def _template_error(exc: jinja2.TemplateError, label: str) -> Diagnostic:
    """A template that does not render: its file and line (from the error, or the template's frame)."""
    file, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None and file is None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(".j2"):
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return Diagnostic(f"template error while making {label}: {type(exc).__name__}: {exc.message or exc}",
                      Location(file or "templates", line or 0), hint="fix the site template")


def _with_hash(record: ArtifactRecord, content: bytes, signed: bool) -> ArtifactRecord:
    return dataclasses.replace(record, sha256=hashlib.sha256(content).hexdigest(), signed=signed or None)
