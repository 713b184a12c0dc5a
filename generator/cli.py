"""The ``mailprofiles`` command: parses options, calls the core, maps errors to exit codes.

Exit codes: 0 success, 1 invalid input (or a failed server check), 2 wrong usage,
3 internal error (a bug; ``--debug`` shows the traceback).
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .errors import InventoryError, MailprofilesError, VerificationError
from .model import Finding
from .resources import data_dir

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Mail-client configuration (Thunderbird, Apple, Outlook) from one YAML inventory.")
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)   # user text is never markup
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        out.print(f"mailprofiles {__version__}")
        raise typer.Exit()


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show the traceback of internal errors."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    _state["debug"] = debug


def _fail_input(exc: InventoryError, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"valid": False, "errors": [d.to_json() for d in exc.diagnostics]}, indent=2))
    else:
        for diagnostic in exc.diagnostics:
            err.print(diagnostic.format(), markup=False)
        err.print(f"{len(exc.diagnostics)} problem(s) found; nothing was written.", markup=False)
    raise typer.Exit(1)


@app.command()
def init(directory: Path = typer.Argument(..., help="Folder to create the example inventory in."),
         force: bool = typer.Option(False, "--force", help="Overwrite existing files.")) -> None:
    """Write a small working example inventory (inventory.yaml + users.csv) into DIRECTORY."""
    source = data_dir("examples")
    directory.mkdir(parents=True, exist_ok=True)
    names = ("inventory.yaml", "users.csv")
    existing = [n for n in names if (directory / n).exists()]
    if existing and not force:
        err.print(f"{directory / existing[0]} already exists; use --force to overwrite.", markup=False)
        raise typer.Exit(1)
    for name in names:
        shutil.copyfile(source / name, directory / name)
    out.print(f"Wrote {directory / 'inventory.yaml'} and {directory / 'users.csv'}.", markup=False)
    out.print(f"Next: mailprofiles validate {directory} && mailprofiles generate {directory} -o out", markup=False)


@app.command()
def validate(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
             format: str = typer.Option("text", "--format", help="text or json.")) -> None:
    """Check an inventory; list every problem as FILE:LINE:COL: field.path: message."""
    if format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--format")
    from . import validate as run

    result = run(inventory)
    if result.inventory is None:
        _fail_input(InventoryError(result.errors), format == "json")
        return
    devices = result.inventory.devices
    users = len({d.user.email for d in devices})
    if format == "json":
        print(json.dumps({"valid": True, "users": users, "devices": len(devices),
                          "warnings": [f.to_json() for f in result.findings]}, indent=2))
        return
    _print_findings(result.findings)
    out.print(f"{inventory}: valid ({users} users, {len(devices)} devices, {len(result.findings)} warnings)",
              markup=False)


LIST_LIMIT = 50   # beyond this many files or warnings, the terminal gets a summary (the manifest has all)


def _print_findings(findings: Sequence[Finding]) -> None:
    if len(findings) <= LIST_LIMIT:
        for finding in findings:
            err.print(f"warning: {_who(finding)}{finding.code}: {finding.message}", markup=False)
        return
    by_code: dict[str, list[Finding]] = {}
    for finding in findings:
        by_code.setdefault(finding.code, []).append(finding)
    for code, group in sorted(by_code.items()):
        first = group[0]
        err.print(f"warning: {code} on {len(group):,} devices or users, e.g. {_who(first)}{first.message}",
                  markup=False)
    err.print("every warning is listed in manifest.json (and by --json)", markup=False)


def _who(finding: Finding) -> str:
    parts = [p for p in (finding.user, finding.device, finding.client) if p]
    return ("/".join(parts) + ": ") if parts else ""


class _Progress:
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


@app.command()
def generate(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
             output: Path = typer.Option(..., "-o", "--output", help="Output folder."),
             limit: str | None = typer.Option(None, "--limit",
                                                 help="Only these users: comma-separated globs on the email, "
                                                      "email/device or @group."),
             check: bool = typer.Option(False, "--check", help="Write nothing; say what would change."),
             diff: bool = typer.Option(False, "--diff", help="Show the changes as unified diffs."),
             as_json: bool = typer.Option(False, "--json", help="Print the recap as JSON.")) -> None:
    """Render, verify and write every artifact and OUTPUT/manifest.json."""
    from .pipeline import generate as run

    progress = _Progress(err)
    try:
        result = run(inventory, output, limit=limit, check=check, diff=diff, progress=progress)
    except InventoryError as exc:
        _fail_input(exc)
        return
    finally:
        progress.close()
    if as_json:
        data = result.to_json()
        if diff:
            data["diffs"] = {c.path: c.diff for c in result.changes if c.diff}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
    changed = result.changes
    if diff or len(changed) <= LIST_LIMIT:
        for change in changed:
            out.print(f"{change.status}: {change.path}", markup=False)
            if diff and change.diff:
                sys.stdout.write(change.diff)
    else:
        out.print(f"{len(changed):,} files {'would change' if check else 'changed'} (listed with --json)",
                  markup=False)
    _print_findings(result.findings)
    verb = "would be " if check else ""
    table = Table(title="RECAP" + (" (check mode: nothing written)" if check else ""), show_edge=False)
    for column in ("created", "changed", "unchanged", "removed", "warnings"):
        table.add_column(column, justify="right")
    table.add_row(*(str(result.count(s)) for s in ("created", "changed", "unchanged", "removed")),
                  str(len(result.findings)))
    out.print(table)
    manifest_state = "changed" if result.manifest_changed else "unchanged"
    out.print(f"manifest {verb}{manifest_state}: {output / 'manifest.json'}", markup=False)


@app.command()
def show(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
         email: str = typer.Argument(..., help="The user's email address."),
         as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The resolved settings of each of a user's devices, and the layer each value came from."""
    from . import explain

    try:
        devices = explain(inventory, email)
    except InventoryError as exc:
        _fail_input(exc)
        return
    if not devices:
        err.print(f"no user {email!r} in {inventory}", markup=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps([{"device": d.name, "profile": d.profile,
                           "settings": {k: {"value": v, "source": s} for k, v, s in d.resolved_settings()}}
                          for d in devices], indent=2, ensure_ascii=False))
        return
    for device in devices:
        table = Table(title=f"{device.user.email} / {device.name} (profile {device.profile})", show_edge=False)
        table.add_column("setting")
        table.add_column("value")
        table.add_column("from")
        for key, value, source in device.resolved_settings():
            table.add_row(key, json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value,
                          source)
        out.print(table)


@app.command("check-servers")
def check_servers(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
                  ca_file: Path | None = typer.Option(None, "--ca-file", exists=True, dir_okay=False,
                                                         help="Trust this CA bundle instead of the system store."),
                  timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds per network step."),
                  login: str | None = typer.Option(None, "--login", help="Also log in as this user."),
                  password_env: str | None = typer.Option(
                      None, "--password-env", help="Name of the environment variable holding the password."),
                  as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")) -> None:
    """Check that every server of the inventory answers as the generated files expect."""
    import os

    from .load import load_inventory
    from .servers import FAILED
    from .servers import check_servers as run

    if login and not password_env:
        raise typer.BadParameter("--login needs --password-env (the password never goes on the command line)",
                                 param_hint="--login")
    password = None
    if password_env:
        if password_env not in os.environ:
            raise typer.BadParameter(f"environment variable {password_env!r} is not set",
                                     param_hint="--password-env")
        password = os.environ[password_env]
    try:
        inv = load_inventory(inventory)
    except InventoryError as exc:
        _fail_input(exc)
        return
    results = run(inv, ca_file=str(ca_file) if ca_file else None, timeout=timeout, login=login, password=password)
    failed = any(r.status == FAILED for r in results)
    if as_json:
        print(json.dumps({"ok": not failed, "servers": [r.to_json() for r in results]}, indent=2))
    else:
        table = Table(show_edge=False)
        for column in ("protocol", "host", "port", "security", "status", "reason"):
            table.add_column(column)
        styles = {"ok": "green", "warning": "yellow", "failed": "red"}
        for r in results:
            e = r.endpoint
            table.add_row(e.protocol, e.host, str(e.port), e.security,
                          Text(r.status, style=styles[r.status]), Text(r.reason))
        out.print(table)
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Entry point: run the app, turning unexpected errors into a short message and exit code 3."""
    try:
        app()  # standalone: usage errors exit 2, typer.Exit carries our exit codes
    except KeyboardInterrupt:
        err.print("interrupted; the previous output is intact", markup=False)
        sys.exit(130)
    except VerificationError as exc:
        err.print("internal error: a generated file failed its verification, so nothing was written. "
                  "This is a bug in mailprofiles; please report it with the lines below.", markup=False)
        for failure in exc.failures:
            err.print(f"  {failure}", markup=False)
        sys.exit(3)
    except MailprofilesError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one paragraph, no locals, traceback only on request
        if _state["debug"]:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
        else:
            err.print(f"internal error: {type(exc).__name__}: {exc}. This is a bug in mailprofiles; nothing was "
                      "written and earlier output is intact. Run again with --debug for the traceback and "
                      "report it.", markup=False)
        sys.exit(3)
