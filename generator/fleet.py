"""``fleet``: one artifact set per group and device profile, for deployment systems that fill in the user.

Each set is resolved like a user with no settings of their own (layers: profile < settings <
group), whose address, full name and login are the MDM's payload variables. Users in no group
form the set ``_no-group``. The variables are the vendor's; a literal value of the inventory
that contains the vendor's variable syntax is refused, so the MDM cannot substitute into it.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Diagnostic, FieldPath, Location, UsageError, Where, excerpt, fail_if
from .formats.registry import DEVICE, FLEET, FORMATS, Format, named
from .formats.subjects import FleetSet
from .inventory.bounds import DEFAULT_LIMITS, Limits
from .inventory.checks import NO_GROUP, UserEntry
from .inventory.load import Prepared, prepare, user_entries
from .inventory.read import format_path
from .model import Device, Finding, Inventory, Site
from .output.manifest import ArtifactRecord
from .paths import safe_component
from .plan.fingerprint import fingerprint, run_salt
from .plan.planner import Plan, Unit
from .plan.scopes import Target

SAME_IN_FLEET_FILES = {
    "thunderbird_file": "chooses between the per-user prefs.js and user.js; the fleet's AutoConfig file adds its "
                        "account to new profiles and to profiles in use alike",
}
"""Settings that choose between per-user files and mean nothing to the fleet's files (held so by a test)."""


@dataclass(frozen=True, slots=True)
class Vendor:
    """An MDM's payload variables for the user's address, full name and user name, and how to spot its syntax."""

    email: str
    name: str
    username: str
    syntax: str          # a regular expression matching any of its variables
    documented: str      # where the names were checked


VENDORS: dict[str, Vendor] = {
    # Jamf Pro, "Payload Variables for Configuration Profiles" (Jamf Pro documentation).
    "jamf-pro": Vendor("$EMAIL", "$FULLNAME", "$USERNAME", r"\$[A-Z][A-Z_0-9]*",
                       "Jamf Pro documentation: Payload Variables for Configuration Profiles"),
    # Jamf School, "Payload Variables" (Jamf School documentation): %Username% is an alias of %ShortName%.
    "jamf-school": Vendor("%Email%", "%FullName%", "%Username%", r"%[A-Za-z]+%",
                          "Jamf School documentation: Payload Variables"),
    # Workspace ONE UEM lookup values (documentation of profile lookup values).
    "workspace-one": Vendor("{EmailAddress}", "{FirstName} {LastName}", "{EmailUserName}", r"\{[A-Za-z]+\}",
                            "Workspace ONE UEM documentation: lookup values"),
}


@dataclass(frozen=True, slots=True)
class Fleet:
    """The sets, and an inventory whose devices are the sets' devices (what the plan renders from)."""

    inventory: Inventory
    sets: tuple[FleetSet, ...]
    vendor: Vendor


def vendor_for(name: str, data: dict[str, Any]) -> Vendor:
    if name in VENDORS:
        return VENDORS[name]
    if name == "custom":
        mdm = data.get("mdm")
        if not isinstance(mdm, dict):
            raise UsageError("--mdm custom needs an 'mdm:' block in the inventory (email, name, username)")
        values = [str(mdm[k]) for k in ("email", "name", "username")]
        return Vendor(values[0], values[1], values[2], "|".join(re.escape(v) for v in values),
                      "the inventory's mdm: block")
    raise UsageError(f"--mdm {name!r} is not one of: {', '.join([*VENDORS, 'custom'])}")


def _fixed(location: Location) -> Where:
    return lambda path: location


def _fixed_name(name: str) -> Callable[[FieldPath], str]:
    return lambda path: name


def _literals(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, dict):
        return [item for key, child in value.items() if key not in ("mdm", "fleet")
                for item in _literals(child, path + (key,))]
    if isinstance(value, list):
        return [item for index, child in enumerate(value) for item in _literals(child, path + (index,))]
    return [(path, value)] if isinstance(value, str) else []


def _vendor_syntax(base: Prepared, vendor: Vendor) -> list[Diagnostic]:
    """Every literal of the inventory and its profile files that reaches a fleet file and holds a vendor variable:
    values, group names, profile names and the address patterns (but for their ``{login}``)."""
    doc, data = base.doc, base.data
    reword = "reword it; only the per-user fields carry MDM variables"
    rename = "rename it; only the per-user fields carry MDM variables"
    found: list[Diagnostic] = []

    def check(text: str, location: Location | None, field: str, what: str = "", hint: str = reword) -> None:
        match = re.search(vendor.syntax, text)
        if match:
            found.append(Diagnostic(f"{what}contains {match.group()!r}, which the MDM would replace with a user's value",
                                    location, field, hint))

    for path, value in _literals({k: v for k, v in data.items() if k not in ("users", "users_file")}, ()):
        check(value, doc.where(path), format_path(path))
    for name in base.groups or {}:
        check(name, doc.where_key(("groups", name)), "groups", f"group {excerpt(name)} ", rename)
    for prefix in [("fleet",), *(("groups", name, "fleet") for name in base.groups or {})]:
        block: Any = data
        for key in prefix:
            block = block.get(key) if isinstance(block, dict) else None
        pattern = block.get("address_pattern") if isinstance(block, dict) else None
        if isinstance(pattern, str):
            path = prefix + ("address_pattern",)
            check(pattern.replace("{login}", ""), doc.where(path), format_path(path))
    for profile in base.profiles.values():
        if profile.document is None:
            continue        # built-in: ours
        check(profile.name, doc.where(("profiles_dir",)), "profiles_dir",
              f"profile file {excerpt(Path(profile.origin).name)}: the name ", rename)
        for path, value in _literals(profile.document.data, ()):
            check(value, profile.document.where(path), format_path(path))
    return found


def _form_findings(device: Device, group: str, profile: str, pattern: str | None) -> list[Finding]:
    """What the fleet cannot make for the device's clients (each format's fleet form says)."""
    found = []
    for client in device.clients:
        form = named(client).fleet
        if not form.formats:
            found.append(Finding(f"fleet-{client}-per-user", form.none, group, profile, client))
        elif form.needs_address_pattern and not pattern:
            found.append(Finding(
                f"fleet-{client}-no-pattern",
                f"no fleet.address_pattern (e.g. '{{login}}@example.com') for this group, so the {client.capitalize()} "
                f"fleet files {', '.join(named(n).filename for n in form.needs_address_pattern)} are not made: add "
                "it to the group's (or the top-level) fleet: block.",
                group, profile, client))
    return found


def _group_domains(base: Prepared, limits: Limits) -> dict[str, set[str]]:
    """The mail domains of each group's users (users in no group: ``_no-group``), from the inventory's users."""
    domains: dict[str, set[str]] = {}
    for entry in user_entries(base, limits):
        email = entry.data.get("email")
        if isinstance(email, str) and "@" in email:
            for group in entry.data.get("groups") or [NO_GROUP]:
                domains.setdefault(group, set()).add(email.rpartition("@")[2].casefold())
    return domains


def _pattern_findings(group: str, pattern: str | None, own: bool, domains: set[str]) -> list[Finding]:
    """A group whose users are on other domains than the address pattern forms (the top-level pattern
    taken by a group on another domain, typically)."""
    if not pattern or not domains:
        return []
    domain = pattern.rpartition("@")[2].casefold()
    if domain in domains:
        return []
    where = f"its fleet.address_pattern {pattern!r}" if own else f"the top-level fleet.address_pattern {pattern!r}"
    return [Finding(
        "fleet-pattern-domain",
        f"the users of this group are on {', '.join(sorted(domains))}, but {where} forms addresses on {domain}: "
        f"set the group's own pattern (groups.{group}.fleet.address_pattern, e.g. '{{login}}@{min(domains)}')"
        if group != NO_GROUP else
        f"the users in no group are on {', '.join(sorted(domains))}, but {where} forms addresses on {domain}: "
        "correct the top-level pattern, or give these users a group with its own pattern",
        group, None, "thunderbird")]


def fleet_formats(device: Device, pattern: str | None) -> list[Format[Any]]:
    """The formats of a fleet set's files, in registry order: each client's fleet form, where it has one."""
    names: set[str] = set()
    for client in device.clients:
        form = named(client).fleet
        names.update(name for name in form.formats if pattern or name not in form.needs_address_pattern)
    return [fmt for fmt in FORMATS if fmt.name in names]


def load_fleet(path: str | Path, vendor_name: str, limits: Limits = DEFAULT_LIMITS) -> Fleet:
    """The inventory's sets (group x device profile) with the vendor's variables; raises InventoryError."""
    base = prepare(path, limits)
    report, doc, data = base.report, base.doc, base.data
    fail_if(report.errors, limits.max_diagnostics)
    vendor = vendor_for(vendor_name, data)
    report.errors.extend(_vendor_syntax(base, vendor))
    fail_if(report.errors, limits.max_diagnostics)
    assert base.resolver is not None
    sets: list[FleetSet] = []
    findings: list[Finding] = []
    top = data.get("fleet") or {}
    domains = _group_domains(base, limits)
    for group in [None, *sorted(base.groups or {})]:
        own = (((base.groups or {}).get(group) or {}).get("fleet") or {}) if group else top
        rules = {**top, **own}      # a group's fleet: block takes what it does not set from the top-level one
        findings.extend(_pattern_findings(group or NO_GROUP, rules.get("address_pattern"),
                                          "address_pattern" in own, domains.get(group or NO_GROUP, set())))
        login_rule = rules.get("login", "address")
        login = vendor.email if login_rule == "address" else vendor.username
        where = doc.where(("groups", group) if group else ())
        for profile in sorted(base.profiles):
            entry = UserEntry({"email": vendor.email, "name": vendor.name, "login": login,
                               "groups": [group] if group else [], "devices": [profile]},
                              _fixed(where), _fixed_name(f"fleet set {group or NO_GROUP}/{profile}"))
            _, devices = base.resolver.user(entry, report)
            for device in devices:
                sets.append(FleetSet(group or NO_GROUP, device, rules.get("address_pattern"), login_rule))
                findings.extend(_form_findings(device, group or NO_GROUP, profile, rules.get("address_pattern")))
    fail_if(report.errors, limits.max_diagnostics)
    inventory = Inventory(base.resolver.base.organization, tuple(s.device for s in sets),
                          tuple(sorted(findings, key=Finding.sort_key)), str(doc.file), base.templates,
                          base.template_roots, base.acknowledge, base.group_acknowledge)
    return Fleet(inventory, tuple(sets), vendor)


class FleetPlan(Plan):
    """Every file of a fleet: per set, the Apple profile with the MDM's variables, Thunderbird's policies and the
    AutoConfig pair."""

    kinds = frozenset({FLEET})      # every file of a fleet set has the fleet scope's kind
    command = "fleet"

    def __init__(self, fleet: Fleet, signer: object = None):
        self.fleet = fleet
        self.inventory = inventory = fleet.inventory
        self.patterns = None
        self.site = Site(inventory.organization, inventory.templates_dir, signer, inventory.template_roots)
        self.salt = run_salt(self.site)
        self._shared_text = {}
        found = set(inventory.findings)
        for fleet_set in fleet.sets:
            for fmt in fleet_formats(fleet_set.device, fleet_set.address_pattern):
                if fmt.scope == DEVICE:     # the device format itself, with the MDM's variables: its own limits
                    found.update(dataclasses.replace(f, user=fleet_set.group)
                                 for f in fmt.limitations(inventory.organization, fleet_set.device))
                elif fmt.scope == FLEET:    # a format of the fleet's own: its limits for the set
                    found.update(fmt.limitations(inventory.organization, fleet_set))
        # a set's findings name its group where a user's name their email: the group's acknowledgements apply
        groups = {s.group: (s.group,) for s in fleet.sets}
        self.findings = inventory.acknowledged(sorted(found, key=Finding.sort_key), groups)

    def unmatched(self) -> tuple[str, ...]:
        return ()

    def units(self) -> list[Unit]:
        """One unit per fleet set: the Apple profile, Thunderbird's policies and, with an address pattern, the
        AutoConfig pair."""
        units = []
        for fleet_set in self.fleet.sets:
            device = fleet_set.device
            folder = f"fleet/{safe_component(fleet_set.group)}/{safe_component(device.profile)}"
            formats = [fmt for fmt in fleet_formats(device, fleet_set.address_pattern) if not self._skipped(fmt, device)]
            targets = tuple((fmt, Target(device if fmt.scope == DEVICE else fleet_set, f"{folder}/{fmt.filename}",
                                         {"group": fleet_set.group, "profile": device.profile,
                                          "client": fmt.name.split("-")[0]}))
                            for fmt in formats)
            units.append(Unit(folder + "/", targets=targets))
        return sorted(units, key=lambda unit: unit.key)

    def _skipped(self, fmt: Format[Any], device: Device) -> bool:
        """A device format whose own limitations say it is not made for this set (the plan's findings say why)."""
        return fmt.scope == DEVICE and any(f.code in fmt.skips
                                           for f in fmt.limitations(self.inventory.organization, device))

    def _record(self, fmt: Format[Any], target: Target, inputs: bool, texts: dict[int, str]) -> ArtifactRecord:
        return ArtifactRecord("fleet", target.path, "", group=target.names["group"], profile=target.names["profile"],
                              client=target.names["client"],
                              inputs=fingerprint(self.salt, fmt.name, target.subject) if inputs else None)
