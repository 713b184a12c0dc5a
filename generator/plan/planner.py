"""Plan: what every artifact is made from, and how it is rendered and verified. Pure: reads nothing from OUT.

The plan is a sorted list of units (one per user folder, one per file of the other scopes);
a unit's files are known, with the fingerprint of their inputs, before anything is
rendered, so the compare stage can skip a unit whose files are up to date, and render the
others unit by unit (in worker processes when there are many). Nothing holds every file in
memory. Verification failures are collected; the pipeline refuses to commit when there is any.
"""
from __future__ import annotations

import gc
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import jinja2

from ..errors import Diagnostic, Location, SiteTemplateError, UnrepresentableValue
from ..formats import registry
from ..formats.engine import template_origin
from ..formats.registry import DEVICE, FLEET, GROUP, USER, Format, Scope, UserDevices, by_scope, no_limitations, of_client
from ..formats.verify import Settings, cross_check
from ..model import Device, Finding, Inventory, Layout, Roster, Site, User, quick_init
from ..output.manifest import ArtifactRecord
from ..paths import artifact_path, safe_component
from .fingerprint import device_text, fingerprint, run_salt, salted_hash
from .scopes import TARGETS, Target, findings_of, user_target, users_of
from .selection import Patterns, matches, matches_device
from .shard import Shard

Progress = Callable[[int, int], None]
# a file a worker process wrote to the staging folder itself: its path, manifest entry JSON and index line,
# and its record (with size and time) when the run keeps records
Staged = tuple[str, bytes, bytes, "ArtifactRecord | None"]


@quick_init
@dataclass(frozen=True, slots=True)
class Planned:
    """One rendered and verified artifact."""

    record: ArtifactRecord
    content: bytes
    format: Format[Any]
    template: str = "built-in"      # the site template it was made from, or built-in


def generated_kinds() -> frozenset[str]:
    """The manifest kinds of ``generate``'s files: every registered format's but the fleet scope's."""
    return frozenset(fmt.manifest_kind for fmt in registry.FORMATS if fmt.scope != FLEET)


def device_limitations(inventory: Inventory, device: Device) -> tuple[list[Finding], set[str]]:
    """What each of the device's formats cannot express, and which of them (by format name) are not produced for it.

    Formats of one client may say the same of the client (Outlook: no Bcc, whatever the file): such a finding is
    listed once."""
    findings: list[Finding] = []
    skipped: set[str] = set()
    for client in device.clients:
        for fmt in of_client(client):
            for finding in fmt.limitations(inventory.organization, device):
                if finding not in findings:
                    findings.append(finding)
                if finding.code in fmt.skips:
                    skipped.add(fmt.name)
    return findings, skipped


def device_files(inventory: Inventory, device: Device) -> list[tuple[str, str, str]]:
    """(format, path in OUT, template it is made from: a site file or ``built-in``) for each file of the device."""
    _, skipped = device_limitations(inventory, device)
    return [(fmt.name, artifact_path(device.user.email, device.name, fmt.file_name(device)),
             ", ".join(template_origin(inventory.site, t) for t in fmt.templates_used(device)))
            for fmt in by_scope(DEVICE) if fmt.client in device.clients and fmt.name not in skipped]


def all_findings(inventory: Inventory, skipped: dict[int, set[str]] | None = None) -> tuple[Finding, ...]:
    """The inventory's policy warnings plus what every format cannot express, sorted, once each.

    ``skipped`` (by ``id`` of the device) receives the formats not produced for a device, where there are any.

    A device format's limitations depend on the device's settings and servers only (the user and device are
    stamped on them), and a per-user format's on its user's devices' settings and servers
    (``formats/registry.py``): devices, and users, resolved alike share the work. The findings are sorted user
    first, so each user's are gathered and sorted on their own, and the users put in order of their address.
    """
    gather = _Gather(inventory, skipped)
    general, stray = gather.general, gather.stray
    every = inventory.devices
    if isinstance(every, Roster):
        users = _by_user(inventory.findings, [user.email for user in every.users], _roster_findings(gather, every),
                         general, stray)
    else:
        for user, devices in users_of(inventory):
            gather.user(user, devices, None)
        flat, starts = gather.flat, gather.starts
        starts.append(len(flat))
        users = _by_user(inventory.findings, gather.emails, lambda index: (flat[starts[index]:starts[index + 1]], False),
                         general, stray)
        del flat, starts
    del gather
    for scope, targets in TARGETS.items():
        if scope != USER:
            _scope_findings(inventory, scope, targets, tuple(users) if scope == GROUP else (), general, stray)
    users[:0] = sorted(general, key=Finding.sort_key)    # in place: a million users' findings are not copied
    if stray:
        users = sorted(set(users).union(stray), key=Finding.sort_key)
    return inventory.acknowledged(users)


class _Gather:
    """Every user's device findings (and a user's file's), user by user, for :func:`all_findings` to sort."""

    def __init__(self, inventory: Inventory, skipped: dict[int, set[str]] | None):
        self.inventory, self.skipped = inventory, skipped
        self.general: set[Finding] = set()   # of no user: said once per run
        self.stray: list[Finding] = []       # of another user than the one at hand (then all are sorted at once)
        self.flat: list[Finding] = []        # each user's device findings, user by user, in the inventory's order
        self.emails: list[str] = []
        self.starts = array("q")            # where each user's findings start in ``flat``
        self.kinds = _Kinds(inventory)
        self.user_formats = [fmt for fmt in by_scope(USER) if fmt.limitations is not no_limitations]
        self.said: set[tuple[Any, ...]] = set()     # (user format, kinds of a user's devices): said, of no user
        # A Roster's users' devices, by the ids of their DeviceKinds, once a user with them was gathered: their kinds
        self.layouts: dict[tuple[int, ...], tuple[int, ...]] = {}

    def user(self, user: User, devices: tuple[Device, ...] | None, layout: Layout | None,
             key: tuple[int, ...] = ()) -> None:
        """One user's findings, from the user's devices or (a Roster's) their layout, whose ``key`` is :func:`_key`."""
        email = user.email
        self.emails.append(email)
        self.starts.append(len(self.flat))
        shape = self.layouts.get(key) if layout is not None else None
        if shape is None:
            if devices is None:
                assert layout is not None
                devices = tuple(Device(user, name, kind) for name, kind in layout)
            shape = tuple(self._device(device, email) for device in devices)
            if layout is not None:
                self.layouts[key] = shape
        else:
            assert layout is not None
            limits, flat = self.kinds.limits, self.flat
            for (name, _), kind in zip(layout, shape):    # no device is the first of its kind: each is stamped
                flat.extend(Finding(f.code, f.message, email, name, f.client) for f in limits[kind][0]
                            if f.user is not None)
        for fmt in self.user_formats:
            seen = (fmt.name, *shape)
            if seen in self.said:
                continue
            if devices is None:
                assert layout is not None
                devices = tuple(Device(user, name, kind) for name, kind in layout)
            own = sorted({*self.flat[self.starts[-1]:], *findings_of(self.inventory.findings, email)},
                         key=Finding.sort_key)
            found = fmt.limitations(self.inventory.organization, user_target(fmt, user, devices, tuple(own)).subject)
            if all(finding.user is None for finding in found):
                self.said.add(seen)
            _route(found, self.general, self.stray)

    def _device(self, device: Device, email: str) -> int:
        kind, stamped, not_made = self.kinds.of(device)
        for finding in stamped:
            if finding.user == email:
                self.flat.append(finding)
            elif finding.user is None:
                self.general.add(finding)
            else:
                self.stray.append(finding)
        if not_made and self.skipped is not None:
            self.skipped[id(device)] = not_made
        return kind


class _Kinds:
    """Devices by kind (the same settings and servers), with what the formats of a kind's first device say."""

    def __init__(self, inventory: Inventory):
        self.inventory = inventory
        self.kinds: dict[tuple[int, int, int, str], int] = {}
        self.known: dict[int, int] = {}     # id of a DeviceKind -> its kind here (kinds alike are one)
        self.limits: list[tuple[list[Finding], set[str]]] = []

    def of(self, device: Device) -> tuple[int, list[Finding], set[str]]:
        """The device's kind, its findings (a kind's, with the device's user and name) and the formats not made."""
        resolved = device.kind
        kind = self.known.get(id(resolved))
        if kind is None:
            key = (id(resolved.values), id(resolved.incoming), id(resolved.outgoing), resolved.profile)
            kind = self.kinds.get(key)
            if kind is None:
                kind = self.kinds[key] = self.known[id(resolved)] = len(self.limits)
                self.limits.append(device_limitations(self.inventory, device))
                return kind, *self.limits[kind]
            self.known[id(resolved)] = kind
        found, not_made = self.limits[kind]
        email, name = device.user.email, device.name
        # A finding without a user is said once per run (not stamped: its kind's first device said it), e.g.
        # Apple's fetch interval
        return kind, [Finding(f.code, f.message, email, name, f.client) for f in found if f.user is not None], not_made


def _scope_findings(inventory: Inventory, scope: Scope[Any], targets: Callable[..., Iterator[Target]],
                    per_device: tuple[Finding, ...], general: set[Finding], stray: list[Finding]) -> None:
    """What the formats of a scope that is not per user cannot express (``per_device``: the users' findings, for a
    group's file, which holds its users' pages)."""
    for fmt in by_scope(scope):
        if fmt.limitations is not no_limitations:
            for target in targets(inventory, fmt, None, per_device):
                _route(fmt.limitations(inventory.organization, target.subject), general, stray)


def _route(findings: list[Finding], general: set[Finding], stray: list[Finding]) -> None:
    for finding in findings:
        if finding.user is None:
            general.add(finding)
        else:
            stray.append(finding)


def _key(layout: Layout) -> tuple[int, ...]:
    """A layout's DeviceKinds (by id: the Roster keeps them), what its devices' findings come from."""
    return tuple(id(kind) for _, kind in layout)


MAX_REMEMBERED = 4096


def _roster_findings(gather: _Gather, roster: Roster) -> Callable[[int], tuple[list[Finding], bool]]:
    """A Roster's users' device findings, by the user's place: the first user of each set of kinds of devices is
    gathered (in the inventory's order, which decides the first device of each kind); the others' are stamped from
    their kinds with their address and devices' names when they are asked for, in order and once each (True)."""
    firsts: dict[int, list[Finding]] = {}
    keys: dict[int, tuple[int, ...]] = {}      # by id of a layout (users alike share one), a few at a time

    def key_of(layout: Layout) -> tuple[int, ...]:
        key = keys.get(id(layout))
        if key is None:
            if len(keys) >= MAX_REMEMBERED:
                keys.clear()
            key = keys[id(layout)] = _key(layout)
        return key

    for index, (user, layout) in enumerate(roster.by_user()):
        key = key_of(layout)
        shape = gather.layouts.get(key)
        if shape is not None and all((fmt.name, *shape) in gather.said for fmt in gather.user_formats):
            continue
        start = len(gather.flat)
        gather.user(user, None, layout, key)
        firsts[index] = gather.flat[start:]
        del gather.flat[start:]
    limits, shapes = gather.kinds.limits, gather.layouts
    ordered: dict[int, list[tuple[str, Finding]]] = {}     # by id of a layout: (device, finding), in order

    def findings(index: int) -> tuple[list[Finding], bool]:
        if index in firsts:
            return firsts[index], False
        layout = roster.layouts[index]
        stamps = ordered.get(id(layout))
        if stamps is None:
            stamps = [(name, f) for (name, _), kind in zip(layout, shapes[key_of(layout)]) for f in limits[kind][0]
                      if f.user is not None]
            stamps.sort(key=lambda stamp: (stamp[0], stamp[1].client or "", stamp[1].code, stamp[1].message))
            if len(ordered) >= MAX_REMEMBERED:
                ordered.clear()
            ordered[id(layout)] = stamps
        email = roster.users[index].email
        return [Finding(f.code, f.message, email, name, f.client) for name, f in stamps], True
    return findings


def _by_user(lints: tuple[Finding, ...], emails: list[str], own: Callable[[int], tuple[list[Finding], bool]],
             general: set[Finding], stray: list[Finding]) -> list[Finding]:
    """Every user's findings (the policy lints, sorted by user, and ``own``: a user's device findings by the user's
    place, and whether they are in order and once each already), once each, in the order of
    :meth:`Finding.sort_key`. A lint of no user goes to ``general``; of a user without devices, or of an address
    listed twice, to ``stray``."""
    out: list[Finding] = []
    at, count = 0, len(lints)
    while at < count and not lints[at].user:
        general.add(lints[at])
        at += 1
    last = ""
    for index in sorted(range(len(emails)), key=emails.__getitem__):
        email = emails[index]
        found, ready = own(index)
        if email == last:
            stray.extend(found)
            continue
        last = email
        while at < count and (lints[at].user or "") < email:
            stray.append(lints[at])
            at += 1
        if at < count and lints[at].user == email:
            found, ready = list(found), False
            while at < count and lints[at].user == email:
                found.append(lints[at])
                at += 1
        out.extend(found if ready else sorted(dict.fromkeys(found), key=Finding.sort_key))
    stray.extend(lints[at:])
    return out


@quick_init
@dataclass(frozen=True, slots=True)
class Item:
    """One file to make: its format, subject and manifest entry (no hash yet), before rendering."""

    fmt: Format[Any]
    subject: Any
    record: ArtifactRecord
    label: str                        # names the file in messages


@dataclass(frozen=True, slots=True)
class Unit:
    """The files made together, below one folder (a user's) or at one path (a domain's, the organization's).

    Units are planned in the order of ``key``, and the paths of two units never interleave, so the plan
    and the previous manifest (sorted by path) are compared in one pass.
    """

    key: str
    devices: tuple[Device, ...] = ()                        # device files: cross-checked per device
    targets: tuple[tuple[Format[Any], Target], ...] = ()    # files of the other scopes
    user_formats: tuple[Format[Any], ...] = ()              # per-user files, made when the unit is rendered
    user_devices: tuple[Device, ...] = ()                   # ... from all of the user's devices


@dataclass(slots=True)
class Rendered:
    """What rendering one unit gave: its files (sorted by path) and what went wrong."""

    planned: list[Planned] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    template_errors: list[Diagnostic] = field(default_factory=list)
    # files a worker process wrote to the staging folder itself (see ``Staged``)
    staged: list[Staged] = field(default_factory=list)


@dataclass(slots=True)
class _Made:
    """One item's outcome while a group of units is rendered (see :meth:`Plan.render_units`)."""

    item: Item
    planned: Planned | None
    reading: Settings | None
    problems: Rendered | None      # its failures and template errors, when it has any


class Plan:
    """Every artifact of one run, within ``--limit`` and ``--shard`` (``shard.py``)."""

    shard: Shard | None = None

    command = "generate"     # the command whose findings the manifest lists as this plan's

    @property
    def kinds(self) -> frozenset[str]:
        """The manifest kinds this run makes: every format's but the fleet scope's, as registered now."""
        return generated_kinds()

    @staticmethod
    def known_kinds() -> frozenset[str]:
        """The kinds some command makes (``fleet`` makes its scope's): a file of another kind is of a format that
        is gone, and no command's to keep."""
        return generated_kinds() | {FLEET}

    def __init__(self, inventory: Inventory, patterns: Patterns, signer: object = None, shard: Shard | None = None):
        self.inventory = inventory
        self.shard = shard
        self.site = Site(inventory.organization, inventory.templates_dir, signer, inventory.template_roots)
        self.salt = run_salt(self.site)
        self._shared_text: dict[int, str] = {}
        self._salted: dict[str, Any] = {}        # by format name: see _fingerprint
        self.patterns = patterns
        self.skipped: dict[int, set[str]] = {}
        self.findings = all_findings(inventory, self.skipped)   # every user's: a file may name any of them

    @property
    def reported(self) -> tuple[Finding, ...]:
        """The warnings this run reports and lists in its manifest: all of them, or its shard's."""
        shard = self.shard
        return self.findings if shard is None else tuple(f for f in self.findings if shard.reports(f))

    def selected_findings(self) -> tuple[Finding, ...]:
        """The findings of the users and devices ``--limit`` selects, and those of no user (the organization's,
        a domain's), of the run's shard; the manifest keeps them all."""
        if not self.patterns:
            return self.reported
        groups = {d.user.email: d.user.groups for d in self.inventory.devices}
        return tuple(f for f in self.reported
                     if f.user is None or matches(f.user, f.device, groups.get(f.user, ()), self.patterns))

    def unmatched(self) -> tuple[str, ...]:
        """A warning for each ``--limit`` pattern that selects nobody."""
        return tuple(f"--limit pattern {pattern!r} matches no user, device or group"
                     for pattern in self.patterns or ()
                     if not any(matches_device(d, (pattern,)) for d in self.inventory.devices))

    def units(self) -> list[Unit]:
        """Every unit of the run, sorted by ``key``: one per user folder, one per file of the other scopes.

        A user's unit holds only what names its files; the per-user files' subjects are made when the unit
        is rendered or compared, so a large roster's plan stays small.
        """
        patterns, user_formats, shard = self.patterns, tuple(by_scope(USER)), self.shard
        units: list[Unit] = []
        for user, devices in users_of(self.inventory):
            if shard is not None and not shard.has(user.email):
                continue
            selected = devices if not patterns else tuple(d for d in devices if matches_device(d, patterns))
            formats = user_formats if user_formats and matches(user.email, None, user.groups, patterns) else ()
            if selected or formats:
                units.append(Unit(safe_component(user.email) + "/", selected, (), formats,
                                  devices if formats else ()))
        for scope, make_targets in TARGETS.items():
            if scope != USER and (shard is None or shard.makes_shared):
                for fmt in by_scope(scope):
                    units.extend(Unit(target.path, targets=((fmt, target),))
                                 for target in make_targets(self.inventory, fmt, patterns, self.findings))
        units.sort(key=lambda unit: unit.key)
        return units

    def items(self, unit: Unit, inputs: bool = True) -> list[Item]:
        """The unit's files, sorted by path, each with the fingerprint of its inputs where it has one
        (unless ``inputs`` is false: rendering does not need them)."""
        found: list[Item] = []
        texts: dict[int, str] = {}
        device_formats = by_scope(DEVICE)
        for device in unit.devices:
            skipped = self.skipped.get(id(device), ())
            text = device_text(device, self._shared_text) if inputs else ""   # once for the device's formats
            texts[id(device)] = text
            shown = text.encode() if inputs else b""
            email, name, clients = device.user.email, device.name, device.clients
            folder = artifact_path(email, name, "")                          # once per device
            profile, protocol, label = device.profile, device.protocol, f"{email} {name} "
            for fmt in device_formats:
                client = fmt.client
                if client in clients and fmt.name not in skipped:
                    record = ArtifactRecord(fmt.manifest_kind, folder + fmt.file_name(device), "", email, name, profile,
                                            client, protocol, None, None, None,
                                            self._fingerprint(fmt.name, shown) if inputs else None)
                    found.append(Item(fmt, device, record, label + fmt.name))
        targets = [*unit.targets, *((fmt, user_target(fmt, unit.user_devices[0].user, unit.user_devices, self.findings))
                                    for fmt in unit.user_formats)]
        for fmt, target in targets:
            found.append(Item(fmt, target.subject, self._record(fmt, target, inputs, texts), target.path))
        found.sort(key=lambda item: item.record.path)
        return found

    def _fingerprint(self, fmt_name: str, shown: bytes) -> str:
        """``fingerprint(self.salt, fmt_name, subject, text)`` from the text's UTF-8 bytes (a device's, encoded once
        for its formats), hashed on from the salt and the format's name hashed once per run."""
        salted = self._salted.get(fmt_name)
        if salted is None:
            salted = self._salted[fmt_name] = salted_hash(self.salt, fmt_name)
        digest = salted.copy()
        digest.update(shown)
        return digest.hexdigest()[:32]

    def _record(self, fmt: Format[Any], target: Target, inputs: bool, texts: dict[int, str]) -> ArtifactRecord:
        """A target's manifest entry; files made from many users' devices (domain, organization) have no fingerprint,
        a group's (its users' pages) the fingerprint of its users' pages."""
        fingerprinted = None
        if inputs and fmt.scope == USER:
            subject = target.subject
            fingerprinted = fingerprint(self.salt, fmt.name, subject, self._user_text(subject, texts))
        elif inputs and fmt.scope == GROUP:
            subject = target.subject
            pages = "; ".join(self._user_text(page, texts) for page in subject.users)
            fingerprinted = fingerprint(self.salt, fmt.name, subject,
                                        f"GroupUsers({subject.group!r}, [{pages}], {subject.language!r})")
        return ArtifactRecord(fmt.manifest_kind, target.path, "", user=target.names.get("user"),
                              group=target.names.get("group"), domain=target.names.get("domain"),
                              inputs=fingerprinted)

    def _user_text(self, subject: UserDevices, texts: dict[int, str]) -> str:
        """A user's page as its fingerprint sees it: the user, the devices (as ``device_text``) and the findings."""
        shown = ", ".join(texts.get(id(d)) or device_text(d, self._shared_text) for d in subject.devices)
        return f"UserDevices({subject.user!r}, [{shown}], {subject.findings!r})"

    def render(self, unit: Unit, items: list[Item] | None = None) -> Rendered:
        """Render and verify the unit's files; the files of one device are cross-checked against each other.

        ``items``: the unit's files as :meth:`items` gives them, when they are at hand; else they are made here,
        each with the fingerprint of its inputs (a worker process renders the unit: the parent needs no list of
        a unit it does not compare with anything).
        """
        return self.render_units([unit], [items])[0]

    def render_units(self, units: Sequence[Unit], items: Sequence[list[Item] | None]) -> list[Rendered]:
        """:meth:`render` for several units at once, each unit's ``items`` where they are at hand (else None).

        The files are made format by format across the units (every Apple profile of the units, then every
        handout, ...), then put back in each unit's order: one format's code and tables, run many times in a
        row, stay in the processor's caches, where a user's files one after the other (six formats in turn)
        take about a third more CPU time for the same bytes. Results, failures and their order are the same.

        The cycle collector is paused meanwhile: rendering and verifying leave no garbage in cycles (what they
        make is freed as soon as it is dropped; tests/test_plan_render.py), yet every few hundred objects made
        would start a collection that finds nothing, a fifth of the time. It runs again once the units are done.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            lists = [self.items(unit) if given is None else given for unit, given in zip(units, items)]
            made: list[list[_Made | None]] = [[None] * len(found) for found in lists]
            by_format: dict[str, list[tuple[list[_Made | None], int, Item]]] = {}
            for found, slots in zip(lists, made):
                for position, item in enumerate(found):
                    by_format.setdefault(item.fmt.name, []).append((slots, position, item))
            for group in by_format.values():
                for slots, position, item in group:
                    slots[position] = self._made(item)
            return [self._assemble(unit, slots) for unit, slots in zip(units, made)]
        finally:
            if collecting:
                gc.enable()

    def _made(self, item: Item) -> _Made:
        """One file rendered and verified, with what it says of its connection (for the cross-check)."""
        fmt = item.fmt
        made = self._render(item)
        if isinstance(made, Rendered):
            return _Made(item, None, None, made)
        reading = fmt.read_settings(made.content) \
            if fmt.scope == DEVICE and fmt.read_settings is not None else None
        return _Made(item, made, reading, None)

    @staticmethod
    def _assemble(unit: Unit, results: list[_Made | None]) -> Rendered:
        """A unit's files and problems in the order of its items, then the cross-check of each device's files."""
        out = Rendered()
        planned = out.planned
        readings: dict[int, dict[str, Settings]] = defaultdict(dict)
        for result in results:
            assert result is not None
            if result.problems is not None:
                out.failures.extend(result.problems.failures)
                out.template_errors.extend(result.problems.template_errors)
            if result.planned is None:
                continue
            if result.reading is not None:     # None: the file names no connection (Apple Exchange or Google)
                readings[id(result.item.subject)][result.item.fmt.name] = result.reading
            planned.append(result.planned)
        for device in unit.devices:
            out.failures.extend(f"{device.user.email} {device.name}: {p}"
                                for p in cross_check(readings.get(id(device), {})))
        return out

    def _render(self, item: Item) -> Planned | Rendered:
        """Render and verify one artifact; a failure gives what went wrong, and no file.

        A failure of a file made from a site template is the site's input problem (``template_errors``,
        naming the template); of a built-in one, a bug (``failures``).
        """
        site, fmt, subject, label = self.site, item.fmt, item.subject, item.label
        try:
            content = fmt.render(site, subject)
        except UnrepresentableValue as exc:
            return Rendered(failures=[f"{label}: {exc}"])
        except (jinja2.TemplateError, SiteTemplateError) as exc:
            return Rendered(template_errors=[_template_error(exc, label)])
        problems = fmt.check(content, site.organization, subject)
        # Without a site's templates folder every template is the built-in one (``template_origin``)
        overrides = [o for o in (template_origin(site, t) for t in fmt.templates_used(subject)) if o != "built-in"] \
            if site.templates_dir else []
        if problems:
            if overrides:
                return Rendered(template_errors=[Diagnostic(
                    f"the file made from this site template fails its verification ({label}): {problem}",
                    Location(overrides[0]), hint="fix the template, or remove it to use the built-in one")
                    for problem in problems])
            return Rendered(failures=[f"{label}: {problem}" for problem in problems])
        signed = fmt.signable and site.signer is not None
        return Planned(item.record.made(sha256(content).hexdigest(), signed or None), content, fmt,
                       ", ".join(overrides) or "built-in")


def _template_error(exc: jinja2.TemplateError | SiteTemplateError, label: str) -> Diagnostic:
    """A template that does not render: its file and line (from the error, or the template's frame)."""
    file, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None and file is None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(".j2"):
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return Diagnostic(f"template error while making {label}: {type(exc).__name__}: {exc.message or exc}",
                      Location(file or "templates", line or 0), hint="fix the site template")

