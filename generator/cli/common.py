"""What the commands share: the typer application, common options, the one JSON document, the input-error exit."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from ..errors import EXIT_INPUT, InventoryError, MailprofilesError, shown_path
from ..inventory.bounds import Limits
from .console import err

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Mail-client configuration (Thunderbird, Apple, Outlook) from one YAML inventory.")
_state = {"debug": False}


ALLOW_PATH = typer.Option([], "--allow-path", help="A folder outside the inventory's that users_file or "
                          "profiles_dir may name (repeatable).")
JSON = typer.Option(False, "--json", help="Print one JSON document (schemas/output/, see the README).")
QUIET = typer.Option(False, "-q", "--quiet", help="Print only what failed.")
VERBOSE = typer.Option(False, "-v", "--verbose", help="List every warning (acknowledged ones too) and every file.")
STRICT = typer.Option(False, "--strict", help="Warnings the inventory does not acknowledge are a failure "
                      "(exit 5; nothing is written).")


def _limits(allow_path: list[Path]) -> Limits:
    return Limits(allowed_roots=tuple(str(p) for p in allow_path))


def as_json(json_flag: bool, format: str, choices: tuple[str, ...] = ("text", "json")) -> bool:
    """``--json``, or its alias ``--format json``."""
    if format not in choices:
        raise typer.BadParameter(f"must be {' or '.join(repr(c) for c in choices)}", param_hint="--format")
    return json_flag or format == "json"


def document(command: str, **fields: Any) -> dict[str, Any]:
    """The head of every command's JSON document: which command, and what it covers."""
    return {"command": command, **fields}


def emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def input_errors(exc: InventoryError) -> dict[str, Any]:
    return {"ok": False, "valid": False, "errors": [d.to_json() for d in exc.diagnostics], "more": exc.more}


def _fail_input(exc: InventoryError, json_head: dict[str, Any] | None = None) -> None:
    """Every problem of the input, then exit 1 (``json_head``: as that command's one JSON document)."""
    if json_head is not None:
        emit({**json_head, **input_errors(exc)})
    else:
        for diagnostic in exc.diagnostics:
            err.print(diagnostic.format())
        if exc.more:
            err.print(f"... and more problems: the listing stops at {len(exc.diagnostics)}; fix these and "
                      "validate again.")
        err.print(f"{len(exc.diagnostics):,}{'+' if exc.more else ''} problem(s) found; nothing was written.")
    raise typer.Exit(EXIT_INPUT)


def _fail(exc: MailprofilesError, json_head: dict[str, Any] | None) -> None:
    """A refusal that is no input error (the output folder, a usage the core found): as JSON when asked."""
    if json_head is None:
        raise exc
    emit({**json_head, "ok": False, "error": str(exc)})
    raise typer.Exit(exc.exit_code)


def shown(path: Path) -> str:
    return shown_path(path)
