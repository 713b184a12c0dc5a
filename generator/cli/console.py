"""What the terminal shows: consoles that never read user text as markup, warnings, a progress bar.

Names, hosts and file content appear literally: both consoles have markup and emoji off.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..model import Finding

if TYPE_CHECKING:
    from ..model import Device
    from ..pipeline import GenerateResult
    from ..servers import ServerCheck

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

LIST_LIMIT = 50   # beyond this many files or warnings, the terminal gets a summary (the manifest has all)


def print_findings(findings: Sequence[Finding]) -> None:
    if len(findings) <= LIST_LIMIT:
        for finding in findings:
            err.print(f"warning: {who(finding)}{finding.code}: {finding.message}", markup=False)
        return
    by_code: dict[str, list[Finding]] = {}
    for finding in findings:
        by_code.setdefault(finding.code, []).append(finding)
    for code, group in sorted(by_code.items()):
        first = group[0]
        err.print(f"warning: {code} on {len(group):,} devices or users, e.g. {who(first)}{first.message}",
                  markup=False)
    err.print("every warning is listed in manifest.json (and by --json)", markup=False)


def who(finding: Finding) -> str:
    parts = [p for p in (finding.user, finding.device, finding.client) if p]
    return ("/".join(parts) + ": ") if parts else ""


class ProgressBar:
    """A rich progress bar on a terminal, shown only once a run has taken a few seconds."""

    def __init__(self, console: Console, delay: float = 2.0):
        self.console = console
        self.delay = delay
        self.start = time.monotonic()
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.console.is_terminal:
            return
        if self.bar is None:
            if time.monotonic() - self.start < self.delay:
                return
            self.bar = Progress("rendering", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("render", total=total)
        if self.task is not None:
            self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()




def print_recap(result: GenerateResult, manifest: Path, diff: bool) -> None:
    """What a run did (or would do): notes, warnings about the surroundings, changes, findings, the recap table."""
    for note in result.notes:
        err.print(f"note: {note}")
    for alert in result.alerts:
        err.print(f"warning: {alert}")
    if diff or len(result.changes) <= LIST_LIMIT:
        for change in result.changes:
            out.print(f"{change.status}: {change.path}")
            if diff and change.diff:
                sys.stdout.write(change.diff)
    else:
        out.print(f"{len(result.changes):,} files {'would change' if result.check else 'changed'} (listed with --json)")
    print_findings(result.findings)
    table = Table(title="RECAP" + (" (check mode: nothing written)" if result.check else ""), show_edge=False)
    for column in ("created", "changed", "unchanged", "removed", "warnings"):
        table.add_column(column, justify="right")
    table.add_row(*(str(result.count(s)) for s in ("created", "changed", "unchanged", "removed")),
                  str(len(result.findings)))
    out.print(table)
    state = "changed" if result.manifest_changed else "unchanged"
    out.print(f"manifest {'would be ' if result.check else ''}{state}: {manifest}")


def print_device(device: Device, files: list[tuple[str, str, str]]) -> None:
    """``show``: every resolved setting with where it came from, and the files made for the device."""
    table = Table(title=f"{device.user.email} / {device.name} (profile {device.profile})", show_edge=False)
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for key, value, source in device.resolved_settings():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), source)
    for fmt, path, template in files:
        table.add_row(f"file ({fmt})", path, f"template {template}")
    out.print(table)


def print_server_checks(results: Sequence[ServerCheck]) -> None:
    table = Table(show_edge=False)
    for column in ("protocol", "host", "port", "security", "status", "reason"):
        table.add_column(column)
    styles = {"ok": "green", "warning": "yellow", "failed": "red"}
    for result in results:
        endpoint = result.endpoint
        table.add_row(endpoint.protocol, endpoint.host, str(endpoint.port), endpoint.security,
                      Text(result.status, style=styles[result.status]), Text(result.reason))
    out.print(table)
