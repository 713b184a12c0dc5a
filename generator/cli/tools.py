"""The helper commands around an inventory: import a provider's settings, check the servers (registered on the
application by ``app.py``, after the main commands)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ..errors import EXIT_INPUT, InventoryError, MailprofilesError
from .common import ALLOW_PATH, JSON, QUIET, _fail, _fail_input, _limits, as_json, document, emit, shown
from .console import err, print_server_checks


def import_autoconfig(file: Path = typer.Argument(..., help="A provider's config-v1.1.xml (e.g. from Thunderbird's ISPDB)."),
                      format: str = typer.Option("yaml", "--format", help="yaml or json (json: the same as --json)."),
                      json_flag: bool = JSON) -> None:
    """Print a servers: block from a provider's published settings, choosing encrypted servers."""
    machine = as_json(json_flag, format, ("yaml", "json"))
    from ..ispdb import as_data, as_yaml  # each command loads its own core: a quick start for the others
    from ..ispdb import import_autoconfig as run_import

    head = document("import-autoconfig", file=shown(file)) if machine else None
    try:
        result = run_import(file)
    except MailprofilesError as exc:
        _fail(exc, head)
        return
    if head is not None:
        emit({**head, "ok": bool(result.servers), **as_data(result)})
    else:
        sys.stdout.write(as_yaml(result))
        for problem in result.problems:
            err.print(f"warning: {problem}")
    if not result.servers:
        raise typer.Exit(EXIT_INPUT)


def check_servers(inventory: Path = typer.Argument(..., help="Inventory file, or a folder holding inventory.yaml."),
                  allow_path: list[Path] = ALLOW_PATH,
                  ca_file: Path | None = typer.Option(None, "--ca-file", exists=True, dir_okay=False,
                                                         help="Trust this CA bundle instead of the system store."),
                  timeout: float = typer.Option(10.0, "--timeout", help="Seconds per network step."),
                  deadline: float | None = typer.Option(None, "--deadline",
                                                        help="Seconds for a whole check (default: 4 x timeout)."),
                  login: str | None = typer.Option(None, "--login", help="Also log in as this user."),
                  password_env: str | None = typer.Option(
                      None, "--password-env", help="Name of the environment variable holding the password "
                                                   "(for password servers)."),
                  token_env: str | None = typer.Option(
                      None, "--token-env", help="Name of the environment variable holding an OAuth2 access token "
                                                "(for servers with auth: oauth2)."),
                  json_flag: bool = JSON, quiet: bool = QUIET) -> None:
    """Check that every server of the inventory answers as the generated files expect."""
    from ..inventory.load import load_inventory
    from ..servers import FAILED
    from ..servers import check_servers as run_checks

    if login and not (password_env or token_env):
        raise typer.BadParameter("--login needs --password-env or --token-env (a password or token never goes on "
                                 "the command line)", param_hint="--login")
    password = _secret_from(password_env, "--password-env")
    token = _secret_from(token_env, "--token-env")
    head = document("check-servers", inventory=shown(inventory)) if json_flag else None
    try:
        inv = load_inventory(inventory, _limits(allow_path))
    except InventoryError as exc:
        _fail_input(exc, head)
        return
    results = run_checks(inv, ca_file=str(ca_file) if ca_file else None, timeout=timeout, deadline=deadline, login=login,
                         password=password, token=token)
    failed = any(r.status == FAILED for r in results)
    if head is not None:
        emit({**head, "ok": not failed, "servers": [r.to_json() for r in results]})
    else:
        print_server_checks(results, quiet)
    if failed:
        raise typer.Exit(EXIT_INPUT)


def _secret_from(variable: str | None, option: str) -> str | None:
    """The value of the environment variable an option names (never the value itself on the command line)."""
    if not variable:
        return None
    if variable not in os.environ:
        raise typer.BadParameter(f"environment variable {variable!r} is not set", param_hint=option)
    return os.environ[variable]
