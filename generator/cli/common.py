"""What the commands share: the typer application, common options and the input-error exit."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import InventoryError
from ..inventory.bounds import Limits
from .console import err

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Mail-client configuration (Thunderbird, Apple, Outlook) from one YAML inventory.")
_state = {"debug": False}


ALLOW_PATH = typer.Option([], "--allow-path", help="A folder outside the inventory's that users_file or "
                          "profiles_dir may name (repeatable).")


def _limits(allow_path: list[Path]) -> Limits:
    return Limits(allowed_roots=tuple(str(p) for p in allow_path))


def _fail_input(exc: InventoryError, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"valid": False, "errors": [d.to_json() for d in exc.diagnostics], "more": exc.more},
                         indent=2))
    else:
        for diagnostic in exc.diagnostics:
            err.print(diagnostic.format())
        if exc.more:
            err.print(f"... and more problems: the listing stops at {len(exc.diagnostics)}; fix these and "
                      "validate again.")
        err.print(f"{len(exc.diagnostics):,}{'+' if exc.more else ''} problem(s) found; nothing was written.")
    raise typer.Exit(1)
