"""Stage 1: read the device profiles (built-in ones, then those of ``profiles_dir``).

A profile is the lowest layer of settings for every device that names it. A profile file
that fails its schema is reported and left out; a later folder overrides an earlier one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Diagnostic, InventoryError, Location, excerpt
from .limits import Limits, confined
from .loader import Document, load_yaml
from .resources import data_dir
from .schema import schema_diagnostics

BUILT_IN = "built-in"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    settings: dict[str, Any]
    document: Document | None    # None for a built-in profile: its values have no place to point at
    origin: str                  # "built-in" or the file

    @property
    def layer(self) -> str:
        return f"profile {self.name}" + (" (built-in)" if self.origin == BUILT_IN else "")

    def where(self, path: tuple[str | int, ...]) -> Location | None:
        return self.document.where(path) if self.document is not None else None


def read_profiles(inventory: Document, profiles_dir: str | None, limits: Limits,
                  errors: list[Diagnostic]) -> dict[str, Profile]:
    """Every usable device profile by name; problems go to ``errors``."""
    folders: list[tuple[Path, str]] = [(data_dir("profiles"), BUILT_IN)]
    if profiles_dir is not None:
        folder, outside = confined(Path(inventory.file).parent, profiles_dir, limits)
        if outside:
            errors.append(Diagnostic(f"profiles_dir {excerpt(profiles_dir)} {outside}",
                                     inventory.where(("profiles_dir",)), "profiles_dir",
                                     "keep the profiles beside the inventory, or allow their folder with --allow-path"))
        elif folder.is_dir():
            folders.append((folder, ""))
        else:
            errors.append(Diagnostic("profiles_dir is not a directory", inventory.where(("profiles_dir",)),
                                     "profiles_dir"))
    profiles: dict[str, Profile] = {}
    for folder, origin in folders:
        for file in sorted(folder.glob("*.yaml")):
            try:
                document = load_yaml(file, "profile", limits)
            except InventoryError as exc:
                errors.extend(exc.diagnostics)
                continue
            problems = schema_diagnostics(document.data, "profile", document.where, key_where=document.where_key)
            if problems:
                errors.extend(problems)
                continue
            profiles[file.stem] = Profile(file.stem, document.data["settings"],
                                          None if origin == BUILT_IN else document, origin or str(file))
    return profiles
