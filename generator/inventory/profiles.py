"""Stage 1: read the device profiles (built-in ones, then those of ``profiles_dir``).

A profile is the lowest layer of settings for every device that names it. A profile file
that fails its schema is reported and left out; a later folder overrides an earlier one.

A profile's name is its file's name without ``.yaml``: it names a folder of ``mailprofiles
fleet`` and is what devices write, so it passes the text rules, fits a device's reference
(64 characters) and a safe file name, and differs from every other profile's name in more
than case. Each file of ``profiles_dir`` is confined like the folder (a link inside it cannot
lead out), must be a regular file within the YAML size limit (a FIFO is refused, not waited
on), and a file that is not a profile at all gets one error that quotes none of its lines.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import textrules
from ..errors import Diagnostic, InventoryError, Location, UnsafeName, excerpt, shown_path
from ..paths import safe_component
from ..resources import data_dir
from ..settings import BY_NAME
from .bounds import Limits, Unreadable, confined, read_regular
from .read import Document, decode_text, format_path, load_yaml, load_yaml_text
from .schema import schema_diagnostics, validator

BUILT_IN = "built-in"
MAX_NAME = 64    # the longest profile name a device may write (the schema's bound on a device's profile)
OUTSIDE_HINT = "keep the profiles beside the inventory, or allow their folder with --allow-path"


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
    here = inventory.where(("profiles_dir",))
    base = Path(inventory.file).parent
    if profiles_dir is not None:
        folder, outside = confined(base, profiles_dir, limits)
        problem = textrules.text_problem(profiles_dir)
        if problem:
            errors.append(Diagnostic(problem, here, "profiles_dir"))
        elif outside:
            errors.append(Diagnostic(f"profiles_dir {excerpt(profiles_dir)} {outside}", here, "profiles_dir",
                                     OUTSIDE_HINT))
        elif folder.is_dir():
            folders.append((folder, ""))
        else:
            errors.append(Diagnostic("profiles_dir is not a directory", here, "profiles_dir"))
    profiles: dict[str, Profile] = {}
    for folder, origin in folders:
        for file in sorted(folder.glob("*.yaml")):
            name = file.stem
            if origin != BUILT_IN:
                problem = _name_problem(file.name, name)
                if problem:
                    errors.append(Diagnostic(problem, here, "profiles_dir", "rename the file"))
                    continue
                # the file's own path, absolute: ``file`` already starts with ``base`` when that is relative
                real, outside = confined(base, os.path.abspath(file), limits)
                if outside:
                    errors.append(Diagnostic(f"profile file {outside}", Location(shown_path(file)), hint=OUTSIDE_HINT))
                    continue
            try:
                document = load_yaml(file, "profile", limits) if origin == BUILT_IN else _load(file, limits)
            except InventoryError as exc:
                errors.extend(exc.diagnostics)
                continue
            problems = _shape_problems(document) or schema_diagnostics(document.data, "profile", document.where,
                                                                       key_where=document.where_key) \
                or _text_problems(document.data["settings"], document, ("settings",))
            if problems:
                errors.extend(problems)
                continue
            profiles[name] = Profile(name, document.data["settings"], None if origin == BUILT_IN else document,
                                     origin or str(file))
    return _distinct(profiles, here, errors)


def _name_problem(file_name: str, name: str) -> str | None:
    """Why a file of profiles_dir cannot name a profile, or None."""
    problem = textrules.text_problem(name)
    if problem:
        return f"profile file {excerpt(file_name)}: the name {problem}"
    if len(name) > MAX_NAME:
        return (f"profile file {excerpt(file_name)}: the name is {len(name)} characters long; a device names its "
                f"profile in at most {MAX_NAME}")
    try:
        safe_component(name)
    except UnsafeName as exc:
        return f"profile file {excerpt(file_name)}: cannot make a safe file name: {exc}"
    return None


def _distinct(profiles: dict[str, Profile], here: Location, errors: list[Diagnostic]) -> dict[str, Profile]:
    """The profiles whose fleet folders differ; a name that differs from another only in case is refused."""
    kept: dict[str, Profile] = {}
    folders: dict[str, Profile] = {}
    for name, profile in sorted(profiles.items(), key=lambda item: (item[1].origin != BUILT_IN, item[0])):
        folder = safe_component(name)
        other = folders.get(folder)
        if other is not None:
            built_in = "the built-in " if other.origin == BUILT_IN else ""
            errors.append(Diagnostic(
                f"profile {excerpt(name)} shares its fleet folder with {built_in}profile {excerpt(other.name)}", here,
                "profiles_dir", f"a file named {other.name}.yaml replaces the built-in profile; otherwise rename it"
                if built_in else "profile names that differ only in case are one folder; rename one of the files"))
            continue
        folders[folder] = kept[name] = profile
    return kept


def _load(file: Path, limits: Limits) -> Document:
    """A profile file of profiles_dir, opened without blocking and refused unless it is a regular file."""
    shown = shown_path(file)
    read = read_regular(file.resolve(), limits.max_yaml_bytes)
    if isinstance(read, Unreadable):
        message = {"missing": "profile file not found", "error": f"cannot read profile file: {read.detail}",
                   "special": "profile path is not a regular file",
                   "too_big": f"profile file is {read.size:,} bytes, more than the limit of {limits.max_yaml_bytes:,} "
                              "bytes"}[read.kind]
        raise InventoryError([Diagnostic(message, Location(shown))])
    return load_yaml_text(decode_text(read, shown, "profile"), shown, limits)


def _text_problems(settings: dict[str, Any], document: Document, path: tuple[str, ...]) -> list[Diagnostic]:
    """The text rules for the text settings of a profile file, as for every other layer."""
    found: list[Diagnostic] = []
    for key, value in settings.items():
        if isinstance(value, dict):
            found.extend(_text_problems(value, document, path + (key,)))
            continue
        setting = BY_NAME.get(".".join(path[1:] + (key,)))
        problem = setting.text_problem(value) if setting is not None else None
        if problem:
            found.append(Diagnostic(problem, document.where(path + (key,)), format_path(path + (key,))))
    return found


def _shape_problems(document: Document) -> list[Diagnostic]:
    """One problem for a file that is not a profile's mapping at all (its content is never quoted whole)."""
    data = document.data
    schema: dict[str, Any] = validator("profile").schema  # type: ignore[assignment]
    allowed = sorted(schema["properties"])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "text" if isinstance(data, str) else "a single value"
        return [Diagnostic(f"a profile file is a mapping with 'settings:' (and 'description:'), not {kind}",
                           document.where(()))]
    unknown = sorted(key for key in data if key not in allowed)
    if not unknown:
        return []
    if _PLAIN_KEY.fullmatch(unknown[0]):     # a misspelt key is quoted; a line of some other file is not
        found = repr(unknown[0]) + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
    else:
        found = f"{len(unknown)} other key{'s' if len(unknown) > 1 else ''}"
    return [Diagnostic(f"a profile file holds only {' and '.join(map(repr, allowed))}, not {found}",
                       document.where_key((unknown[0],)), hint="is this file a device profile?")]


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")
