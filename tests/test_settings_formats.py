"""Every setting (and server and user field) against every format: rendered and read back, or a named warning.

One table, ``TABLE``: a row per setting of ``generator.settings.SETTINGS``, per server field of the incoming and
the outgoing server and per user field; a column per format of ``generator.formats.registry.FORMATS``. A cell says

* ``rendered``: the value reaches the file and the format's verifier reads it back (the file made for one value,
  verified against the other, has a problem, or its ``read_settings`` differ);
* ``warning:<code>``: the run warns with that code, and the warning differs between the two values (for a device
  format: its own limitations; for the handout: the warnings it shows or that the run gives for the device);
* ``chooses:<why>``: the setting selects which files are made or their names, not what they hold;
* ``asks:<why>``: no file of the format is about one user, and the program asks the user for it;
* ``points:<why>``: the file is the same for both values: it only points the client at another of the device's
  files, whose column says where the value goes (Outlook's ``autodiscover.reg`` names its ``autodiscover.xml``).

Each cell is measured from two values of its row, on devices resolved by the real loader, and must be what the
table claims. A setting or format without its row or column fails. The fleet's formats are each a device format's
fleet form; ``tests/test_fleet.py::test_every_setting_reaches_each_fleet_form_or_is_a_named_limitation`` holds them.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from generator import load_inventory
from generator.formats.registry import DEVICE, DOMAIN, FLEET, FORMATS, GROUP, ORGANIZATION, USER, Format, GroupUsers
from generator.model import SERVER_KEYS, Device, Finding, Inventory, Organization, Site
from generator.plan.planner import device_limitations
from generator.plan.scopes import DomainDevices, user_devices
from generator.settings import SETTINGS

FILE_CHOICE = "chooses:which files a device gets (clients) or their names (thunderbird_file), not what they hold"
R, C = "rendered", FILE_CHOICE
NAME_ASKED = "asks:a domain's file is no user's; Thunderbird's setup asks for the name before it reads the file"
NAME_ASKED_OUTLOOK = "asks:a domain's answer is no user's; Outlook's Add Account asks for the name"
P = "points:autodiscover.reg names the domain and where its autodiscover.xml is, which holds the rest"

COLUMNS = ("thunderbird", "apple", "outlook", "outlook-autodiscover", "outlook-autodiscover-reg", "autoconfig",
           "autodiscover", "handout", "group-handout")
TABLE: dict[str, tuple[str, ...]] = {
    #                           thunderbird  apple                               outlook
    #                           outlook-autodiscover                     outlook-autodiscover-reg
    #                           autoconfig                               autodiscover
    #                           handout
    "protocol":                 (R, R, R, R, P, R, R, R),
    "clients":                  (C, C, C, C, C, C, C, C),
    "bcc_self":                 (R, "warning:apple-no-bcc", "warning:outlook-no-bcc",
                                 "warning:outlook-no-bcc", P,
                                 "warning:autoconfig-no-bcc", "warning:autodiscover-no-bcc", R),
    "fetch_automatically":      (R, "warning:apple-no-fetch-schedule", "warning:outlook-no-fetch-schedule",
                                 "warning:outlook-no-fetch-schedule", P,
                                 R, "warning:autodiscover-no-fetch-schedule", R),
    "check_interval_minutes":   (R, "warning:apple-no-fetch-schedule", "warning:outlook-no-fetch-schedule",
                                 "warning:outlook-no-fetch-schedule", P,
                                 "warning:autoconfig-no-fetch-schedule", "warning:autodiscover-no-fetch-schedule",
                                 "warning:apple-no-fetch-schedule"),
    "thunderbird_file":         (C, C, C, C, C, C, C, C),
    "signature":                (R, "warning:apple-no-signature", "warning:outlook-no-signature",
                                 "warning:outlook-no-signature", P,
                                 "warning:autoconfig-no-signature", "warning:autodiscover-no-signature", R),
    "pop3.leave_on_server":     (R, "warning:apple-no-pop-retention", R,
                                 "warning:outlook-autodiscover-pop-retention", P,
                                 R, "warning:autodiscover-no-pop-retention", "warning:apple-no-pop-retention"),
    "pop3.delete_after_days":   (R, "warning:apple-no-pop-retention", R,
                                 "warning:outlook-autodiscover-pop-retention", P,
                                 R, "warning:autodiscover-no-pop-retention", "warning:apple-no-pop-retention"),
    "incoming.host":            (R, R, R, R, P, R, R, R),
    "incoming.port":            (R, R, R, R, P, R, R, R),
    "incoming.security":        (R, "warning:apple-tls-mode", "warning:outlook-incoming-starttls", R, P, R, R, R),
    "incoming.auth":            (R, R, R, R, P, R, R, "warning:handout-no-auth"),
    "outgoing.host":            (R, R, R, R, P, R, R, R),
    "outgoing.port":            (R, R, R, R, P, R, R, R),
    "outgoing.security":        (R, "warning:apple-tls-mode", R, R, P, R, R, R),
    "outgoing.auth":            (R, R, R, R, P, R, R, "warning:handout-no-auth"),
    "user.email":               (R, R, R, R, R, R, C, R),
    "user.name":                (R, R, R, R, P, NAME_ASKED, NAME_ASKED_OUTLOOK, R),
    "user.login":               (R, R, R, R, P, R, "warning:autodiscover-domain-login", R),
}

# A group's file holds its users' handouts: its column is the handout's.
TABLE = {row: (*cells, cells[COLUMNS.index("handout")]) for row, cells in TABLE.items()}

# Two values per row, set in the inventory (settings: at the top level, the servers, the user).
SAMPLES: dict[str, tuple[Any, Any]] = {
    "protocol": ("pop3", "imap"), "clients": (["thunderbird", "apple", "outlook"], ["thunderbird", "apple"]),
    "bcc_self": (False, True), "fetch_automatically": (True, False), "check_interval_minutes": (10, 60),
    "thunderbird_file": ("prefs.js", "user.js"), "signature": (None, "Anna Muster\nExample GmbH"),
    "pop3.leave_on_server": (True, False), "pop3.delete_after_days": (28, 14),
    "incoming.host": ("pop.example.com", "pop2.example.com"), "incoming.port": (995, 1995),
    "incoming.security": ("ssl", "starttls"), "incoming.auth": ("password", "ntlm"),
    "outgoing.host": ("smtp.example.com", "smtp2.example.com"), "outgoing.port": (465, 2465),
    "outgoing.security": ("ssl", "starttls"), "outgoing.auth": ("password", "ntlm"),
    "user.email": ("anna@example.com", "anna@example.org"), "user.name": ("Anna Muster", "Anna Beispiel"),
    "user.login": ("anna", "anna@example.com"),
}
# Security is compared on a port that is no protocol's standard one, so that the port says nothing about it.
FIXED_PORTS = {"incoming.security": 1995, "outgoing.security": 2465}

ROWS = ([s.name for s in SETTINGS] + [f"{d}.{k}" for d in ("incoming", "outgoing") for k in SERVER_KEYS]
        + ["user.email", "user.name", "user.login"])


def _inventory(row: str, value: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"protocol": "pop3", "clients": ["thunderbird", "apple", "outlook"]}
    servers: dict[str, Any] = {"imap": {"host": "imap.example.com"}, "pop3": {"host": "pop.example.com"},
                               "smtp": {"host": "smtp.example.com"}}
    user: dict[str, Any] = {"email": "anna@example.com", "name": "Anna Muster", "login": "anna",
                            "devices": ["desktop"]}
    head, _, tail = row.partition(".")
    if head in ("incoming", "outgoing"):
        server = servers["pop3" if head == "incoming" else "smtp"]
        server[tail] = value
        if row in FIXED_PORTS:
            server["port"] = FIXED_PORTS[row]
    elif head == "user":
        user[tail] = value
    elif tail and head == "pop3":
        settings.setdefault("pop3", {})[tail] = value
    else:
        settings[row] = value
    return {"organization": {"name": "Example GmbH", "identifier": "com.example"}, "servers": servers,
            "settings": settings, "users": [user]}


def _device(write_inventory, row: str, value: Any) -> Device:
    folder = write_inventory(yaml.safe_dump(_inventory(row, value), allow_unicode=True))
    (device,) = load_inventory(folder).devices
    return device


ORG = Organization("Example GmbH", "com.example")      # the inventories' organization


def _findings(device: Device) -> list[Finding]:
    """What every format of the device cannot express, as the run says it."""
    return device_limitations(Inventory(ORG, (device,), (), "inventory.yaml"), device)[0]


def named_format(name: str) -> Format:
    return next(fmt for fmt in FORMATS if fmt.name == name)


def _subject(fmt: Format, device: Device) -> Any:
    if fmt.scope == DEVICE:
        return device
    if fmt.scope == USER:
        return user_devices(device.user, (device,), tuple(sorted(_findings(device), key=Finding.sort_key)))
    if fmt.scope == DOMAIN:
        return DomainDevices(device.user.domain, (device,))
    if fmt.scope == GROUP:
        return GroupUsers("_no-group", (_subject(named_format("handout"), device),), ORG.language)
    raise AssertionError(f"format {fmt.name}: scope {fmt.scope} has no subject here: give it one")


def _files(device: Device) -> tuple[tuple[str, str], ...]:
    """The device's files as the run makes them: (format, file name), without those a limitation skips."""
    _, skipped = device_limitations(Inventory(ORG, (device,), (), "inventory.yaml"), device)
    return tuple((fmt.name, fmt.file_name(device)) for fmt in FORMATS
                 if fmt.scope == DEVICE and fmt.client in device.clients and fmt.name not in skipped)


def _made(fmt: Format, device: Device) -> bool:
    return fmt.scope != DEVICE or any(name == fmt.name for name, _ in _files(device))


def _warnings(fmt: Format, device: Device) -> dict[str, set[tuple[Any, ...]]]:
    """The warnings of the cell by code: the format's own limitations; the handout adds what it is shown."""
    found = list(fmt.limitations(ORG, _subject(fmt, device)))
    if fmt.scope in (USER, GROUP):
        found += _findings(device)
    by_code: dict[str, set[tuple[Any, ...]]] = {}
    for finding in found:
        by_code.setdefault(finding.code, set()).add((finding.message, finding.user, finding.device))
    return by_code


def _read_back(fmt: Format, a: Device, b: Device) -> bool:
    """Does the verifier tell the file made for ``a`` from the file made for ``b``?"""
    site = Site(ORG)
    subject_a, subject_b = _subject(fmt, a), _subject(fmt, b)
    content_a, content_b = fmt.render(site, subject_a), fmt.render(site, subject_b)
    assert fmt.check(content_a, ORG, subject_a) == [] and fmt.check(content_b, ORG, subject_b) == []
    if fmt.check(content_a, ORG, subject_b) or fmt.check(content_b, ORG, subject_a):
        return True
    return fmt.read_settings is not None and fmt.read_settings(content_a) != fmt.read_settings(content_b)


def measure(fmt: Format, row: str, a: Device, b: Device) -> set[str]:
    """Every kind of cell that the two devices show for the format."""
    kinds = set()
    if _files(a) != _files(b):
        kinds.add(FILE_CHOICE)
    if _made(fmt, a) and _made(fmt, b) and _read_back(fmt, a, b):
        kinds.add("rendered")
    warned_a, warned_b = _warnings(fmt, a), _warnings(fmt, b)
    kinds.update(f"warning:{code}" for code in set(warned_a) | set(warned_b)
                 if warned_a.get(code) != warned_b.get(code))
    if fmt.scope == DOMAIN and a.user.domain != b.user.domain:
        kinds.add(FILE_CHOICE)          # the domain names the file's folder
    site = Site(ORG)
    if not kinds and row.startswith("user.") and fmt.scope == DOMAIN:
        if fmt.render(site, _subject(fmt, a)) == fmt.render(site, _subject(fmt, b)):
            kinds.add(NAME_ASKED if fmt.name == "autoconfig" else NAME_ASKED_OUTLOOK)
    if fmt.scope == DEVICE and _made(fmt, a) and _made(fmt, b) and \
            fmt.render(site, a) == fmt.render(site, b) and not set(_warnings(fmt, a)) | set(_warnings(fmt, b)):
        kinds.add(P)
    return kinds


def test_the_table_has_a_row_per_setting_and_field_and_a_column_per_format():
    assert list(TABLE) == ROWS, "a row per setting of SETTINGS and per server and user field, in that order"
    assert set(SAMPLES) == set(ROWS), "two values per row"
    assert all(len(cells) == len(COLUMNS) for cells in TABLE.values())
    tabled = [fmt.name for fmt in FORMATS if fmt.scope not in (FLEET, ORGANIZATION)]
    assert list(COLUMNS) == tabled, "a column per format (but the fleet's: see below)"
    assert not [fmt for fmt in FORMATS if fmt.scope == ORGANIZATION], "give the organization's formats a column"
    fleet_forms = {name for fmt in FORMATS if fmt.scope == DEVICE for name in fmt.fleet.formats}
    assert {fmt.name for fmt in FORMATS if fmt.scope == FLEET} <= fleet_forms, \
        "a fleet format is a device format's fleet form, held by tests/test_fleet.py"
    for cells in TABLE.values():
        for cell in cells:
            assert cell == "rendered" or cell.split(":", 1)[0] in ("warning", "chooses", "asks", "points"), cell


@pytest.mark.parametrize("row", ROWS)
def test_each_cell_is_what_the_table_says(write_inventory, row):
    first, second = (_device(write_inventory, row, value) for value in SAMPLES[row])
    assert first != second
    wrong = []
    for column, claim in zip(COLUMNS, TABLE[row]):
        fmt = next(f for f in FORMATS if f.name == column)
        kinds = measure(fmt, row, first, second)
        if not kinds:
            wrong.append(f"{column}: neither rendered and read back nor a named warning")
        elif claim not in kinds:
            wrong.append(f"{column}: the table says {claim!r}, measured {sorted(kinds)}")
    assert not wrong, f"{row}: " + "; ".join(wrong)
