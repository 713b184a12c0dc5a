"""Stage 2: semantic checks, on input that passed the JSON Schema.

What a schema cannot say: text that no generated file could carry, host names and
addresses, references to groups and device profiles, names used twice, and names that
cannot become safe file names. Every problem is a :class:`Diagnostic` with its place.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import textrules
from ..errors import Diagnostic, FieldPath, Location, UnsafeName, Where, close_matches, excerpt
from ..formats.vocabulary import PER_USER_FILES
from ..paths import safe_component
from ..settings import BY_NAME
from .profiles import Profile
from .read import format_path

RESERVED = {safe_component(name) for name in PER_USER_FILES}
"""Device names that would collide with a per-user file in the user's folder."""

NO_GROUP = "_no-group"
"""The fleet's folder for users in no group (``OUT/fleet/_no-group/``): no group may be called so."""


ROOT_EXAMPLES = 3     # the places a root-cause error names besides its own


@dataclass(slots=True)
class Report:
    """The errors found so far; the same problem at the same place is reported once."""

    errors: list[Diagnostic] = field(default_factory=list)
    _seen: set[tuple[str, Location | None, str]] = field(default_factory=set)
    _roots: dict[str, tuple[int, Diagnostic, list[str]]] = field(default_factory=dict)

    def error(self, message: str, location: Location | None, field_name: str = "", hint: str = "") -> None:
        key = (message, location, field_name)
        if key not in self._seen:
            self._seen.add(key)
            self.errors.append(Diagnostic(message, location, field_name, hint))

    def root_cause(self, code: str, message: str, location: Location | None, field_name: str = "",
                   hint: str = "") -> None:
        """A problem with one cause that shows at many places (e.g. a server missing for every roster row): one
        error, at the first place, that counts the others and names a few."""
        if code not in self._roots:
            self._roots[code] = (len(self.errors), Diagnostic(message, location, field_name, hint, code=code), [])
            self.errors.append(self._roots[code][1])
            return
        index, first, others = self._roots[code]
        others.append(str(location))
        shown = ", ".join(others[:ROOT_EXAMPLES]) + (", …" if len(others) > ROOT_EXAMPLES else "")
        self.errors[index] = Diagnostic(f"{first.message}; the same for {len(others):,} more, e.g. {shown}",
                                        first.location, first.field, first.hint, code=code)


@dataclass(frozen=True, slots=True)
class UserEntry:
    """One user as written (a YAML list item or a roster row), with the place of each field."""

    data: dict[str, Any]
    where: Where
    field: Callable[[FieldPath], str]
    shape: object = None     # a roster row: all but the user's own cells; rows with the same shape differ only there


@dataclass(slots=True)
class Seen:
    """Emails and logins already used, case-insensitively, with where they were first used: a place, or the line of
    a roster row (its email cell: ``file`` and ``column``)."""

    emails: dict[str, Location | int] = field(default_factory=dict)
    logins: dict[str, Location | int] = field(default_factory=dict)
    file: str = ""
    column: int = 1

    def place(self, at: Location | int) -> Location:
        return Location(self.file, at, self.column) if isinstance(at, int) else at


def check_organization(org: Mapping[str, str], where: Where, report: Report) -> None:
    for key in ("name", "identifier"):
        problem = textrules.text_problem(org[key])
        if problem:
            report.error(problem, where(("organization", key)), f"organization.{key}")
    problem = textrules.reverse_dns_problem(org["identifier"])
    if problem:
        report.error(f"{org['identifier']!r} {problem}", where(("organization", "identifier")),
                     "organization.identifier")


def check_names(data: Mapping[str, Any], where: Where, key_where: Where, usable: Callable[[str], bool],
                report: Report) -> None:
    """Group names (each one a fleet folder of its own), the ``mdm:`` placeholders, the address patterns, and the
    paths of the roster and the templates (they are shown in messages; profiles_dir: see profiles.py)."""
    for key in ("users_file", "templates_dir"):
        problem = textrules.text_problem(data[key]) if usable(key) else None
        if problem:
            report.error(problem, where((key,)), key)
    if usable("mdm"):
        for key, value in data["mdm"].items():
            problem = textrules.text_problem(value)
            if problem:
                report.error(problem, where(("mdm", key)), f"mdm.{key}")
    if usable("fleet"):
        _check_fleet_block(data["fleet"], where, ("fleet",), report)
    if not usable("groups"):
        return
    folders: dict[str, str] = {}
    for name, group in (data["groups"] or {}).items():
        _check_fleet_block((group or {}).get("fleet") or {}, where, ("groups", name, "fleet"), report)
        location = key_where(("groups", name))
        problem = textrules.text_problem(name)
        if problem:
            report.error(f"group name {problem}", location, "groups")
            continue
        try:
            folder = safe_component(name)
        except UnsafeName as exc:
            report.error(f"group {excerpt(name)}: cannot make a safe file name: {exc}", location, "groups",
                         "use a shorter group name, or one with fewer characters outside a-z 0-9 . _ @ + -")
            continue
        if folder == NO_GROUP:
            report.error(f"group {excerpt(name)} has the name of the fleet's folder for users in no group", location,
                         "groups", "rename the group")
        elif folder in folders:
            first = folders[folder]
            report.error(f"group {excerpt(name)} shares its fleet folder with group {excerpt(first)} "
                         f"(line {key_where(('groups', first)).line})", location, "groups",
                         "group names that differ only in case are one folder; rename one of them")
        else:
            folders[folder] = name


def _check_fleet_block(block: Mapping[str, Any], where: Where, prefix: FieldPath, report: Report) -> None:
    pattern = block.get("address_pattern")
    if isinstance(pattern, str):
        problem = textrules.address_pattern_problem(pattern)
        if problem:
            path = prefix + ("address_pattern",)
            report.error(problem, where(path), format_path(path), "e.g. '{login}@example.com'")


def check_layer(block: Mapping[str, Any], where: Where, prefix: FieldPath, layer: str, report: Report) -> None:
    """The ``servers`` and ``settings`` of one layer (``block`` holds them)."""
    for proto, server in (block.get("servers") or {}).items():
        host = server.get("host")
        if host is not None:
            problem = textrules.text_problem(host) or textrules.hostname_problem(host)
            if problem:
                path = prefix + ("servers", proto, "host")
                report.error(f"host {host!r} {problem}", where(path), format_path(path))
    for name, value in _flatten(block.get("settings") or {}):
        setting = BY_NAME[".".join(name)]
        path = prefix + ("settings",) + name
        if layer not in setting.layers:
            report.error(f"setting {setting.name!r} cannot be set in a {layer}", where(path), format_path(path),
                         "it may be set in: " + ", ".join(setting.layers))
        problem = setting.text_problem(value)
        if problem:
            report.error(problem, where(path), format_path(path))


def _flatten(mapping: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.extend(_flatten(value, prefix + (key,)))
        else:
            out.append((prefix + (key,), value))
    return out


def check_user(entry: UserEntry, groups: Mapping[str, Any] | None, profiles: Mapping[str, Profile],
               seen: Seen, report: Report, clean: set[object] | None = None) -> bool:
    """Everything about one user that needs no layering; True when the user can be resolved.

    ``clean``: the shapes of roster rows whose groups and devices passed (``UserEntry.shape``), checked once."""
    before = len(report.errors)
    _check_person(entry, seen, report)
    if clean is not None and entry.shape is not None and entry.shape in clean:
        return len(report.errors) == before
    rest = len(report.errors)
    data, where, name_of = entry.data, entry.where, entry.field
    if groups is not None:
        for index, group in enumerate(data.get("groups") or ()):
            if group not in groups:
                report.error(f"{group!r} is not a group", where(("groups", index)), name_of(("groups", index)),
                             close_matches(group, groups) or
                             ("groups: " + ", ".join(sorted(groups)) if groups else "the inventory defines no groups"))
    check_layer(data, where, (), "user", report)
    _check_devices(entry, profiles, report)
    if clean is not None and entry.shape is not None and len(report.errors) == rest:
        if len(clean) >= 4096:
            clean.clear()       # a roster whose rows are all different: remember a few
        clean.add(entry.shape)
    return len(report.errors) == before


def _check_person(entry: UserEntry, seen: Seen, report: Report) -> None:
    """The user's own fields: text, address, login, and that neither is used twice."""
    before = len(report.errors)
    data, where, name_of = entry.data, entry.where, entry.field
    for key in ("email", "name", "login"):
        if key in data:
            problem = textrules.text_problem(data[key])
            if problem:
                report.error(problem, where((key,)), name_of((key,)))
    email = data["email"]
    problem = textrules.email_problem(email)
    if problem:
        report.error(f"{email!r} is not a valid email address: it {problem}", where(("email",)), name_of(("email",)))
    else:
        try:
            safe_component(email)
        except UnsafeName as exc:
            report.error(f"cannot make a safe file name: {exc}", where(("email",)), name_of(("email",)), SAFE_NAME_HINT)
    login = data.get("login", email)
    problem = textrules.login_problem(login) if "login" in data else None
    if problem:
        report.error(f"login {login!r} {problem}", where(("login",)), name_of(("login",)))
    here = where(("email",))
    folded = email.casefold()
    if folded == email:
        folded = email      # one string, not two, for each of a million addresses
    if folded in seen.emails:
        report.error(f"email {email!r} is used twice", where(("email",)), name_of(("email",)),
                     f"first used at {seen.place(seen.emails[folded])}")
    else:
        seen.emails[folded] = here
    login_key = folded if login == email else login.casefold()
    if len(report.errors) > before:
        pass  # an invalid or duplicate email: a login clash would only repeat it
    elif login_key in seen.logins and seen.place(seen.logins[login_key]) != here:
        report.error(f"login {login!r} is used twice", where(("login",) if "login" in data else ("email",)),
                     name_of(("login",)), f"first used at {seen.place(seen.logins[login_key])}")
    else:
        seen.logins[login_key] = here


def device_entry(entry: str | dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A device entry as a mapping; True when it was written as a bare profile name."""
    if isinstance(entry, str):
        return {"profile": entry}, True
    return entry, False


def device_name_path(index: int, entry: Mapping[str, Any], short: bool) -> FieldPath:
    """Where a device's name is written: its ``name``, else its profile."""
    path: FieldPath = ("devices", index)
    if "name" in entry:
        return path + ("name",)
    return path if short else path + ("profile",)


def _check_devices(entry: UserEntry, profiles: Mapping[str, Profile], report: Report) -> None:
    where, name_of = entry.where, entry.field
    names_seen: set[str] = set()
    for index, raw in enumerate(entry.data["devices"]):
        device, short = device_entry(raw)
        path: FieldPath = ("devices", index)
        profile = device["profile"]
        name = device.get("name", profile)
        name_path = device_name_path(index, device, short)
        problem = _device_name_problem(name)
        if problem is not None:
            report.error(problem[0], where(name_path), name_of(name_path), problem[1])
            continue
        if name.casefold() in names_seen:
            report.error(f"device name {name!r} is used twice for this user", where(name_path), name_of(name_path),
                         "give each device a distinct 'name'")
            continue
        names_seen.add(name.casefold())
        if profile not in profiles:
            report.error(f"{profile!r} is not a device profile", where(path if short else path + ("profile",)),
                         name_of(path + ("profile",)),
                         close_matches(profile, profiles) or "profiles: " + ", ".join(sorted(profiles)))
            continue
        check_layer(device, where, path, "device", report)


@functools.lru_cache(maxsize=4096)
def _device_name_problem(name: str) -> tuple[str, str] | None:
    """(message, hint) when ``name`` cannot name a device's folder; devices repeat their names, so each
    name is judged once."""
    problem = textrules.text_problem(name)
    if problem:
        return f"device name {problem}", ""
    try:
        component = safe_component(name)
    except UnsafeName as exc:
        return f"cannot make a safe file name: {exc}", SAFE_NAME_HINT
    if component in RESERVED:
        return f"device name {name!r} is the name of a file made per user", "give the device another 'name'"
    return None


SAFE_NAME_HINT = "use a shorter name, or one with fewer characters outside a-z 0-9 . _ @ + -"
