"""mailprofiles: ready-to-deploy mail-client configuration from one YAML inventory.

Public API (the CLI is a thin layer over these):

* :func:`load_inventory` — load, validate and resolve an inventory into the typed model.
* :func:`validate` — the same, returning every error and every warning instead of raising.
* :func:`generate` — plan, render, verify and atomically write every file plus ``manifest.json``.
* :func:`explain` — the resolved devices of one user, with the layer each value came from.
* :func:`all_findings` — every warning of a loaded inventory (what the formats cannot express, the lints).

Names are loaded on first use: importing the package (or its inventory stage) loads no renderer, so
neither Jinja2 nor cryptography.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .api import Validation, explain, validate
    from .errors import (
        Diagnostic,
        InventoryError,
        Location,
        MailprofilesError,
        OutputError,
        ReadBackError,
        UnrepresentableValue,
        UnsafeName,
        VerificationError,
    )
    from .inventory.bounds import DEFAULT_LIMITS, Limits
    from .inventory.load import load_inventory
    from .model import Device, Finding, Inventory, Organization, Server
    from .pipeline import GenerateResult, generate
    from .plan.planner import all_findings

_WHERE = {
    **dict.fromkeys(("Validation", "explain", "validate"), ".api"),
    **dict.fromkeys(("Diagnostic", "InventoryError", "Location", "MailprofilesError", "OutputError",
                     "UnrepresentableValue", "UnsafeName", "VerificationError", "ReadBackError"), ".errors"),
    **dict.fromkeys(("DEFAULT_LIMITS", "Limits"), ".inventory.bounds"),
    "load_inventory": ".inventory.load",
    **dict.fromkeys(("Device", "Finding", "Inventory", "Organization", "Server"), ".model"),
    **dict.fromkeys(("GenerateResult", "generate"), ".pipeline"),
    "all_findings": ".plan.planner",
}


def __getattr__(name: str) -> Any:
    """The public names, each imported from its stage on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'generator' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["load_inventory", "validate", "generate", "explain", "all_findings", "Validation", "GenerateResult",
           "Inventory", "Device", "Finding", "Organization", "Server", "Diagnostic", "Location", "InventoryError",
           "MailprofilesError", "OutputError", "VerificationError", "ReadBackError", "UnsafeName",
           "UnrepresentableValue", "DEFAULT_LIMITS", "Limits", "__version__"]
