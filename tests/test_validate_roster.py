"""``validate`` keeps a roster compactly (``model.Roster``) and shares the work of users resolved alike: what it
says is what ``generate`` says of the same inventory, device by device, warning by warning, error by error."""
from __future__ import annotations

import itertools

import pytest

from generator import all_findings, load_inventory, validate
from generator.errors import InventoryError
from generator.model import Roster

INVENTORY = """\
organization: {name: Mixed GmbH, identifier: com.example.mixed}
servers:
  imap: {host: imap.example.com}
  pop3: {host: pop.example.com}
  smtp: {host: smtp.example.com}
groups:
  sales: {servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}}
  ops: {settings: {bcc_self: false}}
  de: {settings: {check_interval_minutes: 15}}
acknowledge:
  apple-no-bcc: the phones' users know
users:
  - email: boss@example.org
    name: Boss
    login: boss
    devices: [desktop, {name: tab, profile: phone, settings: {bcc_self: false}}]
users_file: users.csv
"""
# Rows alike but for the user's own cells, and rows of every other kind: clients, logins, groups, languages, two
# POP3 desktops (a lint), an address in capitals on another domain
DEVICES = ["desktop;laptop;phone", "laptop;phone", "desktop", "anna-mac:laptop;phone", "desktop;home:desktop"]
CLIENTS = ["", "", "thunderbird", "apple;outlook", "thunderbird outlook"]
GROUPS = ["", "sales", "ops", "sales;de"]
LOGINS = ["", "", "u{i}", "x.{i}"]
LANGUAGES = ["", "de", "en"]


def _roster(rows: int) -> str:
    lines = ["email,name,login,groups,devices,clients,language"]
    for i, (devices, clients, groups, login, language) in zip(range(rows), itertools.cycle(
            itertools.product(DEVICES, CLIENTS, GROUPS, LOGINS, LANGUAGES))):
        if ";" in clients and len(devices.split(";")) != 2:
            clients = clients.split(";")[0]
        domain = "Example.com" if i % 7 == 3 else "example.net" if i % 5 == 1 else "example.com"
        lines.append(f'u{i}@{domain},User {i},{login.format(i=i)},"{groups}","{devices}","{clients}",{language}')
    return "\n".join(lines) + "\n"


def test_validate_says_what_generate_would(write_inventory):
    folder = write_inventory(INVENTORY, users__csv=_roster(1300))
    checked = validate(folder)
    loaded = load_inventory(folder)
    devices = checked.inventory.devices if checked.inventory else None
    assert isinstance(devices, Roster) and isinstance(loaded.devices, tuple)
    assert checked.findings == all_findings(loaded)
    assert {f.code for f in checked.findings} >= {"multiple-pop3", "apple-no-bcc", "autoconfig-split-domain",
                                                  "autoconfig-custom-logins", "autodiscover-domain-login"}
    assert any(f.acknowledged for f in checked.findings) and any(not f.acknowledged for f in checked.findings)
    # the roster reads as the devices themselves: in order, each with its user, name and resolved values
    assert list(devices) == list(loaded.devices) and len(devices) == len(loaded.devices)
    assert [devices[i] for i in (0, 1, 2, 1000, -1)] == [loaded.devices[i] for i in (0, 1, 2, 1000, -1)]
    assert devices[5:9] == loaded.devices[5:9] and devices[-3:] == loaded.devices[-3:]
    with pytest.raises(IndexError):
        devices[len(devices)]
    assert checked.users == 1301 == len({d.user.email for d in loaded.devices})
    assert checked.devices == len(loaded.devices)


def test_rows_alike_with_a_problem_each_are_each_reported(write_inventory):
    """Rows of one shape share their checks only when they pass: each row's own problems, and the shape's, are
    named at each row."""
    rows = _roster(40).splitlines()
    rows[5] = rows[5].replace("User 4", "User\x074")
    rows[9] = rows[9].replace('"desktop;laptop;phone"', '"desktop;desktop"')
    rows[15] = rows[15].replace('"desktop;laptop;phone"', '"desktop;desktop"')
    rows[20] = rows[20].replace("u19@", "u3@")
    folder = write_inventory(INVENTORY, users__csv="\n".join(rows) + "\n")
    errors = [d.format() for d in validate(folder).errors]
    with pytest.raises(InventoryError) as raised:
        load_inventory(folder)
    assert errors == [d.format() for d in raised.value.diagnostics]
    shown = "\n".join(errors)
    assert "row 5, column 'name'" in shown and "control character" in shown
    assert shown.count("device name 'desktop' is used twice for this user") == 2
    assert "row 9, column 'devices'" in shown and "row 15, column 'devices'" in shown
    assert "email 'u3@example.com' is used twice" in shown


# A user's own cells that each break one check (the schema, text, address, file name, login, used twice)
OWN_PROBLEMS = [
    ("'q1@example.com'", "", ""), ("q2@@example.com", "", ""), ("q3@192.0.2.1", "", ""), ("q4@exämple.com", "", ""),
    ("a" * 65 + "@example.com", "", ""), ("!" * 64 + "@example.com", "", ""), ("q7@example.com", "N" * 201, ""),
    ("q8@example.com", "\"Quoted\"", ""), ("q9@example.com", "Bidi\u202eName", ""), ("q10@example.com", "", "lo gin"),
    ("q11@example.com", "", "lo\u3000gin"), ("q12@example.com", "", "BOSS"), ("q13@example.com", "", "ok0@example.com"),
    ("OK1@EXAMPLE.COM", "", ""), ("boss@example.org", "", ""), ("q16@example.com", "", "x" * 255), ("ab", "", ""),
    ("q18@example.com", "", "q18@example.com"),
]


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@pytest.mark.parametrize("alike", [True, False])
def test_a_row_alike_to_a_clean_one_gets_every_error_of_its_own_cells(write_inventory, alike):
    """A row whose cells but the user's own are those of a row loaded without a problem is checked for its own
    cells all the same: the errors are those of the same rows when none is alike to a clean one."""
    def roster(devices: str) -> str:
        lines = ["email,name,login,devices"]
        for index, (email, name, login) in enumerate(OWN_PROBLEMS):
            lines.append(f"ok{index}@example.com,,,desktop")
            lines.append(",".join(map(_quoted, (email, name, login, devices))))
        return "\n".join(lines) + "\n"
    errors = [d.format() for d in validate(write_inventory(INVENTORY, users__csv=roster(
        "desktop" if alike else "laptop"))).errors]
    # each row but the last (its login is its own address) has its error, at its line
    assert sorted({int(error.split(":")[1]) for error in errors}) == list(range(3, 2 * len(OWN_PROBLEMS), 2))
    if alike:
        assert [error.replace("desktop", "laptop") for error in errors] == [
            d.format() for d in validate(write_inventory(INVENTORY, users__csv=roster("laptop"))).errors]
