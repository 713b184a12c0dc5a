"""The helper commands around an inventory: import a provider's settings, check the servers (registered on the
application by ``app.py``, after the main commands)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from ..errors import InventoryError
from .common import ALLOW_PATH, _fail_input, _limits
from .console import err, print_server_checks


def import_autoconfig(file: Path = typer.Argument(..., help="A provider's config-v1.1.xml (e.g. from Thunderbird's ISPDB)."),
                      format: str = typer.Option("yaml", "--format", help="yaml or json.")) -> None:
    """Print a servers: block from a provider's published settings, choosing encrypted servers."""
    if format not in ("yaml", "json"):
        raise typer.BadParameter("must be 'yaml' or 'json'", param_hint="--format")
    from ..ispdb import as_json, as_yaml  # each command loads its own core: a quick start for the others
    from ..ispdb import import_autoconfig as run_import

    result = run_import(file)
    sys.stdout.write(as_json(result) if format == "json" else as_yaml(result))
    for problem in result.problems:
        err.print(f"warning: {problem}")
    if not result.servers:
        raise typer.Exit(1)


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
                  as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")) -> None:
    """Check that every server of the inventory answers as the generated files expect."""
    from ..inventory.load import load_inventory
    from ..servers import FAILED
    from ..servers import check_servers as run_checks

    if login and not (password_env or token_env):
        raise typer.BadParameter("--login needs --password-env or --token-env (a password or token never goes on "
                                 "the command line)", param_hint="--login")
    password = _secret_from(password_env, "--password-env")
    token = _secret_from(token_env, "--token-env")
    try:
        inv = load_inventory(inventory, _limits(allow_path))
    except InventoryError as exc:
        _fail_input(exc)
        return
    results = run_checks(inv, ca_file=str(ca_file) if ca_file else None, timeout=timeout, deadline=deadline, login=login,
                         password=password, token=token)
    failed = any(r.status == FAILED for r in results)
    if as_json:
        print(json.dumps({"ok": not failed, "servers": [r.to_json() for r in results]}, indent=2))
    else:
        print_server_checks(results)
    if failed:
        raise typer.Exit(1)


def _secret_from(variable: str | None, option: str) -> str | None:
    """The value of the environment variable an option names (never the value itself on the command line)."""
    if not variable:
        return None
    if variable not in os.environ:
        raise typer.BadParameter(f"environment variable {variable!r} is not set", param_hint=option)
    return os.environ[variable]
