"""The library's entry points besides :func:`generate`: validate an inventory, explain a user's values."""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import Diagnostic, InventoryError
from .inventory.bounds import DEFAULT_LIMITS, Limits
from .inventory.load import load_inventory
from .model import Device, Finding, Inventory, Roster
from .plan.planner import all_findings


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of :func:`validate`: the inventory when valid, every error, every warning."""

    inventory: Inventory | None
    errors: tuple[Diagnostic, ...]
    findings: tuple[Finding, ...]
    more: int = 0          # errors found beyond those listed (Limits.max_diagnostics)

    @property
    def valid(self) -> bool:
        return self.inventory is not None

    @property
    def users(self) -> int:
        """How many users have devices (0 when not valid), without making a device."""
        if self.inventory is None:
            return 0
        devices = self.inventory.devices
        return len(devices.users) if isinstance(devices, Roster) else len({d.user.email for d in devices})

    @property
    def devices(self) -> int:
        return 0 if self.inventory is None else len(self.inventory.devices)


def validate(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Validation:
    """Every problem of an inventory: errors (then no inventory), or the warnings that ``generate`` would give.

    What is held per user: the user (address, name, login, groups) and the layout of the user's devices, which
    users resolved alike share (``model.Roster``: no device object), and the user's findings; while the roster is
    read, each address and login once more, to find one used twice.
    """
    collecting = gc.isenabled()
    # A large roster makes millions of objects that hold no cycle: the collector's passes over them would cost
    # a fifth of the time and free nothing. It runs again afterwards.
    gc.disable()
    try:
        inventory = load_inventory(path, limits, compact=True)
        findings = all_findings(inventory)
    except InventoryError as exc:
        return Validation(None, exc.diagnostics, (), exc.more)
    finally:
        if collecting:
            gc.enable()
    return Validation(inventory, (), findings)


INVENTORY_NAMES = ("inventory.yaml", "inventory.yml")


def find_inventories(folder: str | Path) -> list[Path]:
    """Every ``inventory.yaml`` (or ``.yml``) in ``folder`` and the folders below it, sorted; hidden folders
    (``.git``, ``.venv``) are skipped and links to folders are not followed."""
    found: list[Path] = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found.extend(Path(root) / name for name in INVENTORY_NAMES if name in files)
    return sorted(found)


def explain(path: str | Path, email: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Device, ...]:
    """The resolved devices of the user ``email`` (case-insensitive)."""
    inventory = load_inventory(path, limits)
    wanted = email.casefold()
    return tuple(d for d in inventory.devices if d.user.email.casefold() == wanted)
