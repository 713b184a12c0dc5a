"""The ``mailprofiles`` command: parses options, calls the core, maps errors to exit codes.

Exit codes (``errors.EXIT_CODES``): 0 success, 1 invalid input (or a failed server check), 2 wrong usage,
3 internal error (a bug; ``--debug`` shows the traceback), 4 ``--check`` would change something,
5 ``--strict`` and warnings the inventory does not acknowledge, 130 interrupted.
With ``--json`` every command prints one JSON document (``schemas/output/``).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .. import __version__
from ..errors import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STRICT,
    EXIT_WOULD_CHANGE,
    InventoryError,
    MailprofilesError,
    VerificationError,
)
from ..resources import data_dir
from . import tools
from .common import (
    ALLOW_PATH,
    JSON,
    QUIET,
    STRICT,
    VERBOSE,
    _fail,
    _fail_input,
    _limits,
    _state,
    app,
    as_json,
    document,
    emit,
    input_errors,
    shown,
)
from .console import ProgressBar, acknowledged_line, err, out, print_device, print_findings, print_recap

if TYPE_CHECKING:
    from ..formats.signing import Signer
    from ..pipeline import GenerateResult

def _version(value: bool) -> None:
    if value:
        out.print(f"mailprofiles {__version__}")
        raise typer.Exit()


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show the traceback of internal errors."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    _state["debug"] = debug


@app.command()
def init(directory: Path = typer.Argument(..., help="Folder to create the example inventory in."),
         force: bool = typer.Option(False, "--force", help="Overwrite existing files.")) -> None:
    """Write a small working example inventory (inventory.yaml + users.csv) into DIRECTORY."""
    from ..starter import write_example

    written = write_example(directory, force)
    out.print("Wrote " + ", ".join(str(p) for p in written) + ".")
    out.print(f"Next: mailprofiles validate {directory} && mailprofiles generate {directory} -o out", markup=False)


@app.command()
def validate(inventories: list[Path] = typer.Argument(..., help="Inventory files, or folders holding "
                                                        "inventory.yaml (several, e.g. from a pre-commit hook)."),
             allow_path: list[Path] = ALLOW_PATH,
             format: str = typer.Option("text", "--format", help="text or json (json: the same as --json)."),
             recursive: bool = typer.Option(False, "--recursive", "-r", help="Check every inventory.yaml in the "
                                            "given folders and below (the pre-commit hook does)."),
             json_flag: bool = JSON, strict: bool = STRICT, quiet: bool = QUIET, verbose: bool = VERBOSE) -> None:
    """Check inventories; list every problem as FILE:LINE:COL: field.path: message."""
    from .. import validate as run

    machine = as_json(json_flag, format)
    if recursive:
        inventories = _found_inventories(inventories)
    reports: list[dict[str, Any]] = []
    for inventory in inventories:
        result = run(inventory, _limits(allow_path))
        name = shown(inventory)
        if result.inventory is None:
            failure = InventoryError(result.errors)
            failure.more = result.more
            reports.append({"inventory": name, **input_errors(failure)})
            if not machine:
                try:
                    _fail_input(failure)
                except typer.Exit:
                    pass
            continue
        users, devices = result.users, result.devices
        warnings = sum(1 for f in result.findings if f.acknowledged is None)
        reports.append({"inventory": name, "ok": not (strict and warnings), "valid": True, "users": users,
                        "devices": devices, "warnings": warnings, "acknowledged": len(result.findings) - warnings,
                        "findings": [f.to_json() for f in result.findings] if machine else []})
        if machine:
            continue
        if not quiet or strict:
            print_findings(result.findings, verbose)
        if strict and warnings:
            err.print(f"error: {name}: --strict: {warnings:,} warnings are not acknowledged")
        if not quiet:
            out.print(f"{name}: valid ({users:,} users, {devices:,} devices, {warnings:,} warnings"
                      f"{acknowledged_line(result.findings)})")
    valid = all(r["valid"] for r in reports)
    failed_strict = any(not r["ok"] for r in reports if r["valid"])
    if machine:
        emit(document("validate", inventories=reports, ok=valid and not failed_strict, valid=valid, strict=strict))
    if not valid:
        raise typer.Exit(EXIT_INPUT)
    if failed_strict:
        raise typer.Exit(EXIT_STRICT)


def _found_inventories(folders: list[Path]) -> list[Path]:
    from ..api import find_inventories

    found = []
    for folder in folders:
        if not folder.is_dir():
            raise typer.BadParameter(f"{folder} is not a folder", param_hint="--recursive")
        found.extend(find_inventories(folder))
    if not found:
        err.print(f"no inventory.yaml in {', '.join(map(str, folders))} or below", markup=False)
        raise typer.Exit(EXIT_INPUT)
    return found


SIGN_CERT = typer.Option(None, "--sign-cert", help="Sign Apple profiles with this certificate (PEM).")
SIGN_KEY = typer.Option(None, "--sign-key", help="Its private key (PEM); a passphrase comes only from "
                        "MAILPROFILES_SIGN_PASSPHRASE.")
SIGN_CHAIN = typer.Option(None, "--sign-chain", help="Intermediate certificates (PEM) to include.")
CHECK = typer.Option(False, "--check", help="Write nothing; say what would change.")
DIFF = typer.Option(False, "--diff", help="Show the changes as unified diffs.")
OUTPUT = typer.Option(..., "-o", "--output", help="Output folder.")
JOBS = typer.Option(0, "-j", "--jobs", min=0, help="Worker processes for rendering (0: one per core and one more; 1: none).")
FORMAT = typer.Option("text", "--format", help="text or json (json: the same as --json).")


@app.command()
def generate(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
             allow_path: list[Path] = ALLOW_PATH, output: Path = OUTPUT,
             limit: str | None = typer.Option(None, "--limit",
                                              help="Only these users (their files and warnings): comma-separated "
                                                   "globs on the email, email/device or @group."),
             shard: str | None = typer.Option(None, "--shard",
                                              help="Only the users of shard K of N (K from 0), e.g. 0/4; each "
                                                   "shard writes its own output folder, shard 0 also the "
                                                   "files made from every user."),
             check: bool = CHECK, diff: bool = DIFF, json_flag: bool = JSON, format: str = FORMAT,
             strict: bool = STRICT, quiet: bool = QUIET, verbose: bool = VERBOSE,
             sign_cert: Path | None = SIGN_CERT, sign_key: Path | None = SIGN_KEY, sign_chain: Path | None = SIGN_CHAIN,
             jobs: int = JOBS) -> None:
    """Render, verify and write every artifact and OUTPUT/manifest.json."""
    from ..pipeline import generate as run
    from ..plan.shard import parse_shard

    parse_shard(shard)      # a wrong --shard is refused before anything is read
    signer = _signer(sign_cert, sign_key, sign_chain)
    _run(lambda progress: run(inventory, output, limit=limit, check=check, diff=diff, progress=progress,
                              limits=_limits(allow_path), signer=signer, jobs=jobs, records=False, shard=shard,
                              strict=strict),
         Shown("generate", inventory, output, as_json(json_flag, format), quiet, verbose), diff)


@app.command()
def fleet(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
          mdm: str = typer.Option(..., "--mdm", help="jamf-pro, jamf-school, workspace-one, or custom "
                                                     "(the inventory's mdm: block)."),
          allow_path: list[Path] = ALLOW_PATH, output: Path = OUTPUT, check: bool = CHECK, diff: bool = DIFF,
          json_flag: bool = JSON, format: str = FORMAT, strict: bool = STRICT, quiet: bool = QUIET,
          verbose: bool = VERBOSE, sign_cert: Path | None = SIGN_CERT, sign_key: Path | None = SIGN_KEY,
          sign_chain: Path | None = SIGN_CHAIN, jobs: int = JOBS) -> None:
    """One file set per group and device profile, with the MDM's variables (OUTPUT/fleet/...)."""
    from ..pipeline import fleet as run

    signer = _signer(sign_cert, sign_key, sign_chain)
    _run(lambda progress: run(inventory, output, mdm, check=check, diff=diff, progress=progress,
                              limits=_limits(allow_path), signer=signer, jobs=jobs, records=False, strict=strict),
         Shown("fleet", inventory, output, as_json(json_flag, format), quiet, verbose, {"mdm": mdm}), diff)


@dataclass(frozen=True, slots=True)
class Shown:
    """How a run is reported: the command, what it covers, and the output options."""

    command: str
    inventory: Path
    output: Path
    machine: bool
    quiet: bool
    verbose: bool
    extra: dict[str, str] | None = None

    def head(self) -> dict[str, Any]:
        return document(self.command, inventory=shown(self.inventory), output=shown(self.output), **(self.extra or {}))


def _signer(cert: Path | None, key: Path | None, chain: Path | None) -> Signer | None:
    if (cert is None) != (key is None) or (chain is not None and cert is None):
        raise typer.BadParameter("signing needs both --sign-cert and --sign-key (and --sign-chain only with them)",
                                 param_hint="--sign-cert")
    if not (cert and key):
        return None
    from ..formats.signing import load_signer  # cryptography: loaded only to sign

    return load_signer(cert, key, chain)


def _run(run: Callable[[ProgressBar], GenerateResult], how: Shown, diff: bool) -> None:
    progress = ProgressBar(err)
    head = how.head() if how.machine else None
    try:
        result = run(progress)
    except InventoryError as exc:
        _fail_input(exc, head)
        return
    except KeyboardInterrupt:   # before the commit point; after it the writer raises PartialOutput instead
        progress.close()
        err.print("interrupted before anything was written: any earlier output is intact")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except VerificationError:
        raise
    except MailprofilesError as exc:
        _fail(exc, head)
        return
    finally:
        progress.close()
    code = EXIT_INPUT if result.unfinished else EXIT_STRICT if result.strict_failed else \
        EXIT_WOULD_CHANGE if result.would_change else EXIT_OK
    if head is not None:
        for chunk in result.json_chunks(diffs=diff, head={**head, "ok": code in (EXIT_OK, EXIT_WOULD_CHANGE),
                                                          "exit_code": code}):
            sys.stdout.write(chunk)
    else:
        print_recap(result, shown(how.output / "manifest.json"), diff, how.verbose, how.quiet, how.command == "fleet")
    if code:
        raise typer.Exit(code)


@app.command()
def show(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
         allow_path: list[Path] = ALLOW_PATH,
         email: str = typer.Argument(..., help="The user's email address."),
         json_flag: bool = JSON, format: str = typer.Option("text", "--format", help="text or json "
                                                                                     "(json: the same as --json).")
         ) -> None:
    """The resolved settings of each of a user's devices, the layer each value came from, and the files made."""
    from ..inventory.load import load_inventory
    from ..plan.planner import device_files

    head = document("show", inventory=shown(inventory), email=email) if as_json(json_flag, format) else None
    try:
        loaded = load_inventory(inventory, _limits(allow_path))
    except InventoryError as exc:
        _fail_input(exc, head)
        return
    devices = [d for d in loaded.devices if d.user.email.casefold() == email.casefold()]
    if not devices:
        from ..errors import close_addresses

        near = close_addresses(email, ((d.user.email, d.user.name) for d in loaded.devices))
        message = f"no user {email!r} in {shown(inventory)}" + (
            f" (did you mean {' or '.join(repr(a) for a in near)}?)" if near else "")
        if head is not None:
            emit({**head, "ok": False, "error": message})
        else:
            err.print(message, markup=False)
        raise typer.Exit(EXIT_INPUT)
    if head is not None:
        emit({**head, "ok": True, "devices": [
            {"device": d.name, "profile": d.profile,
             "settings": {k: {"value": v, "source": s} for k, v, s in d.resolved_settings()},
             "files": [{"format": f, "path": p, "template": t} for f, p, t in device_files(loaded, d)]}
            for d in devices]})
        return
    for device in devices:
        print_device(device, device_files(loaded, device))


@app.command()
def schema(kind: str = typer.Option("inventory", "--kind", help="inventory or profile.")) -> None:
    """Print the JSON Schema of the inventory (or of a device profile), for editors and other tools."""
    if kind not in ("inventory", "profile"):
        raise typer.BadParameter("must be 'inventory' or 'profile'", param_hint="--kind")
    sys.stdout.write((data_dir("schemas") / f"{kind}.schema.json").read_text(encoding="utf-8"))


app.command("import-autoconfig")(tools.import_autoconfig)
app.command("check-servers")(tools.check_servers)


def main() -> None:
    """Entry point: run the app, turning unexpected errors into a short message and exit code 3."""
    from ..platforms import unsupported

    problem = unsupported()
    if problem is not None:     # a clear refusal (exit 2), not a traceback from the first POSIX-only call
        err.print(f"error: {problem}", markup=False)
        sys.exit(2)
    try:
        app()  # standalone: usage errors exit 2, typer.Exit carries our exit codes
    except KeyboardInterrupt:   # outside a run (typer turns one inside a command into exit 130 itself)
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except VerificationError as exc:
        err.print("internal error: a generated file failed its verification, so nothing was written. "
                  "This is a bug in mailprofiles; please report it with the lines below.", markup=False)
        for failure in exc.failures:
            err.print(f"  {failure}", markup=False)
        sys.exit(EXIT_INTERNAL)
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
        sys.exit(EXIT_INTERNAL)

