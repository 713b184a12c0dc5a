"""What the terminal shows: consoles that never read user text as markup, warnings, a progress bar.

Names, hosts and file content appear literally: both consoles have markup and emoji off.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
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

PIPED_WIDTH = 100_000   # a table written to a pipe or file is never cut to a terminal's width


def console(stderr: bool = False) -> Console:
    """A console that reads no markup; ``NO_COLOR`` (https://no-color.org) turns off every style, bold too
    (rich's own ``no_color`` keeps bold and the like); piped output is as wide as its lines."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty()
    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False,
                   color_system=None if os.environ.get("NO_COLOR") else "auto",
                   width=PIPED_WIDTH if piped and "FORCE_COLOR" not in os.environ else None)


out = console()
err = console(stderr=True)

LIST_LIMIT = 50   # beyond this many files changed, the terminal gets a count (--verbose, --json: every one)
EXAMPLES = 3      # the places a grouped warning names


def print_findings(findings: Sequence[Finding], verbose: bool = False, fleet: bool = False) -> None:
    """The unacknowledged warnings, one line per code with a count and a few places (``verbose``: every one,
    acknowledged ones too, with their reasons). ``fleet``: the findings name groups and their sets."""
    if verbose:
        for finding in findings:
            said = f" (acknowledged: {finding.acknowledged})" if finding.acknowledged is not None else ""
            err.print(f"warning: {who(finding)}{finding.code}: {finding.message}{said}")
        return
    by_code: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.acknowledged is None:     # a finding of no user (said once per run) is a line of its own
            by_code.setdefault(finding.code if finding.user else repr(finding), []).append(finding)
    for _, group in sorted(by_code.items(), key=lambda item: item[1][0].sort_key()[3:] + item[1][0].sort_key()[:3]):
        first, code = group[0], group[0].code
        if len(group) == 1:
            err.print(f"warning: {who(first)}{code}: {first.message}")
            continue
        places = ", ".join(place(f) for f in group[:EXAMPLES]) + (", …" if len(group) > EXAMPLES else "")
        err.print(f"warning: {code}: {len(group):,} {noun(group, fleet)}, e.g. {places}: {first.message}")
    if any(len(group) > 1 for group in by_code.values()):
        err.print("(--verbose lists every warning; manifest.json and --json hold them all)")


def acknowledged_line(findings: Sequence[Finding]) -> str:
    count = sum(1 for f in findings if f.acknowledged is not None)
    return f", {count:,} acknowledged" if count else ""


def who(finding: Finding) -> str:
    parts = [p for p in (finding.user, finding.device, finding.client) if p]
    return ("/".join(parts) + ": ") if parts else ""


def place(finding: Finding) -> str:
    """Where a finding is, in a grouped line (the code names the client)."""
    return "/".join(p for p in (finding.user, finding.device) if p) or finding.client or "organization"


def noun(group: Sequence[Finding], fleet: bool = False) -> str:
    if all(f.device for f in group):
        return "sets" if fleet else "devices"
    if all(f.user for f in group):
        return "groups" if fleet else "users"
    return "places"


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




def print_recap(result: GenerateResult, manifest: str, diff: bool, verbose: bool = False, quiet: bool = False,
                fleet: bool = False) -> None:
    """What a run did (or would do): notes, warnings about the surroundings, changes, findings, the recap table.

    ``quiet``: only what failed (--strict); ``verbose``: every change and every warning.
    """
    if result.strict_failed:
        print_findings(result.findings, verbose, fleet)
        err.print(f"error: --strict: {result.warnings:,} warnings are not acknowledged, so nothing was written "
                  "(acknowledge them in the inventory with a reason, or fix their cause)")
    if quiet:
        return
    for note in result.notes:
        err.print(f"note: {note}")
    for alert in result.alerts:
        err.print(f"warning: {alert}")
    if diff or verbose or len(result.changes) <= LIST_LIMIT:
        for change in result.changes:
            out.print(f"{change.status}: {change.path}")
            if diff and change.diff:
                sys.stdout.write(change.diff)
    else:
        out.print(f"{len(result.changes):,} files {'would change' if result.check else 'changed'} "
                  "(listed with --verbose or --json)")
    if not result.strict_failed:
        print_findings(result.findings, verbose, fleet)
    title = " (strict: nothing written)" if result.strict_failed else " (check mode: nothing written)"
    table = Table(title="RECAP" + (title if result.check else ""), show_edge=False)
    for column in ("created", "changed", "unchanged", "removed", "warnings", "acknowledged"):
        table.add_column(column, justify="right")
    table.add_row(*(str(result.count(s)) for s in ("created", "changed", "unchanged", "removed")),
                  str(result.warnings), str(len(result.findings) - result.warnings))
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


def print_server_checks(results: Sequence[ServerCheck], quiet: bool = False) -> None:
    """A table of every check (``quiet``: of those that did not pass)."""
    results = [r for r in results if r.status != "ok"] if quiet else results
    if not results:
        return
    table = Table(show_edge=False)
    for column in ("protocol", "host", "port", "security", "status", "reason"):
        table.add_column(column)
    styles = {"ok": "green", "warning": "yellow", "failed": "red"}
    for result in results:
        endpoint = result.endpoint
        table.add_row(endpoint.protocol, endpoint.host, str(endpoint.port), endpoint.security,
                      Text(result.status, style=styles[result.status]), Text(result.reason))
    out.print(table)
