"""mailprofiles: ready-to-deploy mail-client configuration from one YAML inventory.

Public API (the CLI is a thin layer over these):

* :func:`load_inventory` — load, validate and resolve an inventory into the typed model.
* :func:`validate` — the same, returning diagnostics instead of raising.
* :func:`generate` — render, verify and atomically write every artifact plus ``manifest.json``.
* :func:`explain` — the resolved devices of one user, with the layer each value came from.
"""
from __future__ import annotations

from .errors import Diagnostic, InventoryError, Location, MailprofilesError, OutputError, VerificationError
from .inventory import load_inventory
from .model import Device, Finding, Inventory, Organization, Server
from .pipeline import GenerateResult, generate

__version__ = "0.1.0"


def validate(path) -> tuple[Inventory | None, tuple[Diagnostic, ...]]:
    """(inventory, ()) when valid, (None, diagnostics) when not."""
    try:
        return load_inventory(path), ()
    except InventoryError as exc:
        return None, exc.diagnostics


def explain(path, email: str) -> tuple[Device, ...]:
    """The resolved devices of the user ``email`` (case-insensitive)."""
    inventory = load_inventory(path)
    wanted = email.casefold()
    return tuple(d for d in inventory.devices if d.user.email.casefold() == wanted)


__all__ = ["load_inventory", "validate", "generate", "explain", "GenerateResult", "Inventory", "Device",
           "Finding", "Organization", "Server", "Diagnostic", "Location", "InventoryError", "MailprofilesError",
           "OutputError", "VerificationError", "__version__"]
