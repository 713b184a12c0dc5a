"""``load_inventory``: from the inventory's files to the typed model, in visible stages.

    read        the inventory file (YAML with positions) and its JSON Schema
    profiles    stage 1: the device profiles (built-in, then ``profiles_dir``)
    checks      stage 2: semantic checks of the organization, servers, groups and each user
    resolve     stage 3: layering into frozen devices, only for input that passed 1 and 2
    lints       stage 4: policy warnings per user

Users are streamed (the YAML list, then the CSV roster row by row), each going through
stages 2 to 4 before the next is read. Every problem is collected; if any is an error the
load fails with one :class:`InventoryError` carrying them all.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, FieldPath, InventoryError, Location, excerpt, fail_if, shown_path, within
from ..model import Acknowledged, Device, Finding, Inventory, Layout, Organization, Roster, User
from ..textrules import text_problem
from .acknowledged import check_acknowledge
from .alike import AlikeRows
from .bounds import DEFAULT_LIMITS, OUTSIDE, Limits, confined, confined_files, roots_of
from .checks import Report, Seen, UserEntry, check_layer, check_names, check_organization, check_user
from .lints import Lints
from .oauth2_block import check_oauth2
from .profiles import Profile, read_profiles
from .read import Document, format_path, load_yaml
from .resolve import Base, Layer, Resolver
from .roster import CsvRecords
from .schema import RowCheck, schema_diagnostics


def _user_of(finding: Finding) -> str:
    return finding.user or ""


def find_inventory_file(path: Path) -> Path:
    """A directory stands for its ``inventory.yaml``."""
    if path.is_dir():
        for name in ("inventory.yaml", "inventory.yml"):
            if (path / name).is_file():
                return path / name
        raise InventoryError([Diagnostic("directory holds no inventory.yaml", Location(shown_path(path)))])
    return path


def _schema_failures(diagnostics: list[Diagnostic]) -> tuple[set[str], set[int]]:
    """The top-level keys, and the indexes of ``users``, that failed the schema ("" for the root)."""
    keys: set[str] = set()
    users: set[int] = set()
    for diagnostic in diagnostics:
        head = diagnostic.field.split(".")[0]
        if head.startswith("users[") and "]" in head:
            users.add(int(head[6:head.index("]")]))
        else:
            keys.add(head.split("[")[0])
    return keys, users


@dataclass(slots=True)
class Prepared:
    """An inventory read, schema-checked and checked up to its users (stages 1 and 2 of the base)."""

    doc: Document
    data: dict[str, Any]
    report: Report
    bad_users: set[int]
    usable: Callable[[str], bool]
    groups: dict[str, Any] | None
    profiles: dict[str, Profile]
    templates: str | None
    resolver: Resolver | None     # None when the base has errors: nothing is resolved from it
    template_roots: tuple[str, ...] = ()   # where the site's templates may lead
    acknowledge: Acknowledged = ()          # the organization's acknowledged warnings (code, reason)
    group_acknowledge: tuple[tuple[str, Acknowledged], ...] = ()    # each group's


def load_inventory(path: str | Path, limits: Limits = DEFAULT_LIMITS, compact: bool = False) -> Inventory:
    """Load, validate and resolve an inventory file or directory.

    ``compact``: the devices are held as a :class:`Roster` (``validate``: a million users in a few hundred bytes
    each) instead of a tuple of devices. Raises :class:`InventoryError` carrying every problem found.
    """
    base = prepare(path, limits)
    loading = _Loading(base, compact)
    for entry in _users(base.doc, base.data, base.bad_users, base.usable, limits, base.report, loading.alike):
        loading.add(entry)
    report, resolver, devices, findings = base.report, base.resolver, loading.devices, loading.findings
    del loading
    fail_if(report.errors, limits.max_diagnostics)
    assert resolver is not None   # no error, so the base was resolved
    findings.sort(key=_user_of)   # stable: each user's are together and sorted, so this is Finding.sort_key's order
    return Inventory(resolver.base.organization, devices if isinstance(devices, Roster) else tuple(devices),
                     tuple(findings), str(base.doc.file),
                     base.templates, base.template_roots, base.acknowledge, base.group_acknowledge)


class _Loading:
    """Stages 2 to 4 for one user after another, into the devices and the findings; and the roster's rows alike
    (:mod:`alike`), which skip what their like went through."""

    def __init__(self, base: Prepared, compact: bool):
        self.report, self.groups, self.profiles, self.resolver = base.report, base.groups, base.profiles, base.resolver
        self.devices: list[Device] | Roster = Roster() if compact else []
        self.findings: list[Finding] = []
        self.seen = Seen()
        self.clean: set[object] = set()
        self.lints = Lints()
        self.rows: AlikeRows | None = None

    def add(self, entry: UserEntry) -> None:
        """One user, through stages 2 to 4."""
        report, resolver = self.report, self.resolver
        before = len(report.errors)
        if not check_user(entry, self.groups, self.profiles, self.seen, report, self.clean) or resolver is None:
            return
        if isinstance(self.devices, Roster) and (layout := resolver.shaped(entry)) is not None:
            # a roster row whose like was resolved before: no Device is made
            user = resolver.person(entry)
            self._add_layout(user, layout)
        else:
            user, user_devices = resolver.user(entry, report)
            if len(report.errors) == before:
                self.findings.extend(self.lints.of(user, user_devices))
            if isinstance(self.devices, Roster):
                self.devices.add(user, user_devices)
            else:
                self.devices.extend(user_devices)
        if self.rows is not None and entry.shape is not None and len(report.errors) == before \
                and (layout := resolver.shaped(entry)) is not None:
            self.rows.learn(entry.shape, user, layout)   # the rows alike to this one skip what it went through

    def _add_layout(self, user: User, layout: Layout) -> None:
        if isinstance(self.devices, Roster):
            self.findings.extend(self.lints.of_layout(user, layout))
            self.devices.add_layout(user, layout)
        else:
            user_devices = [Device(user, name, kind) for name, kind in layout]
            self.findings.extend(self.lints.of(user, user_devices))
            self.devices.extend(user_devices)

    def alike(self, records: CsvRecords, check: RowCheck) -> Callable[[int, list[str]], bool] | None:
        """What loads a row of the roster alike to one before (True), or None when no row can be."""
        if self.resolver is None or not AlikeRows.usable(records.columns, check.lengths):
            return None
        self.rows = rows = AlikeRows(records.shown, records.columns, check.lengths, self.seen)

        def row(line: int, record: list[str]) -> bool:
            found = rows.user(line, record)
            if found is None:
                return False
            self._add_layout(*found)
            return True
        return row


def prepare(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """Read the inventory, check it against the schema, read the profiles and check everything but the users."""
    doc = load_yaml(find_inventory_file(Path(path)), "inventory", limits)
    data = doc.data
    if not isinstance(data, dict):
        raise InventoryError([Diagnostic("the inventory must be a mapping (organization:, servers:, users: ...)",
                                         doc.where(()))])
    report = Report()
    report.errors.extend(schema_diagnostics(data, "inventory", doc.where, key_where=doc.where_key,
                                            limit=limits.max_diagnostics + 1))
    if len(report.errors) > limits.max_diagnostics:   # the schema check stopped early: nothing more is checked
        fail_if(report.errors, limits.max_diagnostics)
    bad_keys, bad_users = _schema_failures(report.errors)

    def usable(key: str) -> bool:
        return key in data and key not in bad_keys

    profiles = read_profiles(doc, data["profiles_dir"] if usable("profiles_dir") else None, limits,
                             report.errors)
    if usable("organization"):
        check_organization(data["organization"], doc.where, report)
    check_names(data, doc.where, doc.where_key, usable, report)
    acknowledge, group_acknowledge = check_acknowledge(data, doc.where, doc.where_key, usable, report)
    check_layer({k: data[k] for k in ("servers", "settings") if usable(k)}, doc.where, (), "settings", report)
    if usable("oauth2"):
        check_oauth2(data["oauth2"], doc.where, ("oauth2",), report)
    groups: dict[str, Any] | None = None          # None: the groups failed the schema; references go unchecked
    if "groups" not in data or usable("groups"):
        groups = data.get("groups") or {}
        for name, group in groups.items():
            check_layer(group, doc.where, ("groups", name), "group", report)
            if (group or {}).get("oauth2"):
                check_oauth2(group["oauth2"], doc.where, ("groups", name, "oauth2"), report)
    templates = _templates_dir(doc, data, usable, limits, report)
    template_roots = tuple(str(root) for root in roots_of(Path(doc.file).parent, limits))
    resolver = None
    if not report.errors and not bad_keys - {"users"}:   # resolve nothing from a broken base
        resolver = Resolver(Base(Organization(**data["organization"]), profiles, groups or {},
                                 Layer("inventory", data, doc.where), doc.where, data.get("oauth2")))
    return Prepared(doc, data, report, bad_users, usable, groups, profiles, templates, resolver, template_roots,
                    acknowledge, group_acknowledge)


def _templates_dir(doc: Document, data: dict[str, Any], usable: Callable[[str], bool], limits: Limits,
                   report: Report) -> str | None:
    """The site's template folder, confined like the roster, and every file in it (links followed only where
    they stay in the inventory's folder or an allowed one; see :func:`limits.confined_files`); None when the
    inventory names none."""
    if not usable("templates_dir") or text_problem(data["templates_dir"]):   # the latter: see check_names
        return None
    folder, outside = confined(Path(doc.file).parent, data["templates_dir"], limits)
    if outside:
        report.error(f"templates_dir {excerpt(data['templates_dir'])} {outside}", doc.where(("templates_dir",)),
                     "templates_dir", "keep the templates beside the inventory, or allow their folder with --allow-path")
    elif not folder.is_dir():
        report.error("templates_dir is not a directory", doc.where(("templates_dir",)), "templates_dir")
    else:
        real = folder.resolve()
        for path, _, problem in confined_files(real, roots_of(Path(doc.file).parent, limits), limits):
            if problem is not None:
                report.error(problem, Location(shown_path(path)), "templates_dir", _OUT_HINT if problem.endswith(OUTSIDE) else "")
    return str(folder.resolve())


_OUT_HINT = "keep the templates beside the inventory, or allow their folder with --allow-path"


def _field_within(prefix: FieldPath) -> Callable[[FieldPath], str]:
    return lambda path: format_path(prefix + path)


def user_entries(base: Prepared, limits: Limits = DEFAULT_LIMITS) -> Iterator[UserEntry]:
    """The users of a prepared inventory that pass the schema (inline, then the roster's rows); their
    problems are left to ``validate`` and ``generate`` (``fleet`` reads them only for their domains)."""
    return _users(base.doc, base.data, base.bad_users, base.usable, limits, Report())


def _users(doc: Document, data: dict[str, Any], bad_users: set[int], usable: Callable[[str], bool],
           limits: Limits, report: Report, alike: _Alike | None = None) -> Iterator[UserEntry]:
    """The inline users that passed the schema, then the roster's rows, each checked against the user schema.

    ``alike``: for the roster once its header is read, what loads a row alike to one before and says so (the row
    is then not yielded)."""
    if usable("users"):
        for index, user in enumerate(data["users"]):
            if index not in bad_users:
                yield UserEntry(user, within(doc.where, ("users", index)), _field_within(("users", index)))
    if not usable("users_file") or text_problem(data["users_file"]):         # the latter: see check_names
        return
    csv_path, outside = confined(Path(doc.file).parent, data["users_file"], limits)
    if outside:
        report.error(f"users_file {excerpt(data['users_file'])} {outside}", doc.where(("users_file",)), "users_file",
                     "keep the roster beside the inventory, or allow its folder with --allow-path")
        return
    check = RowCheck()
    records = CsvRecords(csv_path, shown_path(csv_path), limits)
    quick: Callable[[int, list[str]], bool] | None = None
    try:
        for row_no, line, record in records:
            if row_no == 1 and alike is not None:
                quick = alike(records, check)
            if quick is not None and quick(line, record):
                continue
            row = records.row(row_no, line, record)
            entry = UserEntry(row.data, row.where_path, row.field, row.shape)
            problems = list(row.problems) or (
                [] if check.valid(row.data, row.shape) else schema_diagnostics(row.data, "user", entry.where,
                                                                              entry.field))
            if problems:
                report.errors.extend(problems)
                continue
            yield entry
    except InventoryError as exc:
        first = exc.diagnostics[0].location
        if first is None or first.line == 0:   # the roster cannot be opened: point at the users_file key
            report.error(f"{exc.diagnostics[0].message}: {shown_path(csv_path)}", doc.where(("users_file",)), "users_file")
        else:
            report.errors.extend(exc.diagnostics)


_Alike = Callable[[CsvRecords, RowCheck], Callable[[int, list[str]], bool] | None]
