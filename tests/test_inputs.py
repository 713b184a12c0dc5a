"""Inputs as people keep them: rosters as spreadsheets save them, a device's clients in the roster, and
`show` for a mistyped address."""
from __future__ import annotations

import json

import pytest
from conftest import BASE, EXAMPLES

from generator import InventoryError, explain, validate
from generator.errors import close_addresses, shown_path
from generator.inventory.roster import iter_csv_users, sniff_separator

ROSTER = BASE + "users_file: users.csv\n"


@pytest.mark.parametrize("header, separator", [
    ("email,name,devices", ","),
    ("email;name;devices", ";"),
    ("email\tname\tdevices", "\t"),
    ("email", ","),                            # one column: any separator reads it
    ('"email";"name, full";devices', ";"),     # a comma inside a quoted name does not win
    ("name;email;devices,x", ";"),             # two known names with ";" against none with ","
    ("whatever|else", ","),                    # nothing known: the default, and the header's error says why
])
def test_the_separator_is_the_one_that_splits_the_header_into_known_columns(header, separator):
    assert sniff_separator(header) == separator


@pytest.mark.parametrize("content", [
    b"\xef\xbb\xbfemail;name;devices\r\na@example.com;Muster, Anna;\"desktop;phone\"\r\n",
    b"sep=;\r\nemail;name;devices\r\na@example.com;Muster, Anna;\"desktop;phone\"\r\n",
    b"email\tname\tdevices\na@example.com\tMuster, Anna\tdesktop;phone\n",
    b"email,name,devices\r\na@example.com,\"Muster, Anna\",desktop;phone\r\n",
])
def test_rosters_as_spreadsheets_save_them_read_the_same(tmp_path, content):
    path = tmp_path / "users.csv"
    path.write_bytes(content)
    (row,) = iter_csv_users(path, "users.csv")
    assert row.data == {"email": "a@example.com", "name": "Muster, Anna", "devices": ["desktop", "phone"]}
    assert row.line == content.count(b"\n")      # the physical line, after a sep= line too


def test_a_row_error_after_a_sep_line_names_the_physical_line(tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(b"sep=;\nemail;devices\na@example.com;desktop\nb@example.com;desktop;phone\n")
    with pytest.raises(InventoryError) as info:
        list(iter_csv_users(path, "users.csv"))
    assert info.value.diagnostics[0].format().startswith("users.csv:4:1: row 2 has 3 fields, the header has 2")


def test_the_clients_column_chooses_each_devices_clients(write_inventory):
    folder = write_inventory(ROSTER, **{"users.csv": (
        "email,devices,clients\n"
        'a@example.com,desktop;laptop,"thunderbird outlook;"\n'       # one entry per device; empty: the profile's
        "b@example.com,desktop;laptop,apple\n"                         # one entry: every device of the row
        "c@example.com,desktop,\n")})                                  # empty cell: the profiles' clients
    clients = {email: [d.clients for d in explain(folder, email)]
               for email in ("a@example.com", "b@example.com", "c@example.com")}
    assert clients == {"a@example.com": [("thunderbird", "outlook"), ("thunderbird", "apple", "outlook")],
                       "b@example.com": [("apple",), ("apple",)],
                       "c@example.com": [("thunderbird", "apple", "outlook")]}
    (desktop, _) = explain(folder, "a@example.com")
    sources = {key: source for key, _, source in desktop.resolved_settings()}
    assert sources["clients"] == f"device desktop ({shown_path(folder / 'users.csv')}:2:3)"


def test_a_clients_column_without_devices_is_refused(write_inventory):
    folder = write_inventory(ROSTER, **{"users.csv": "email,clients\na@example.com,apple\n"})
    assert [d.format() for d in validate(folder).errors] == [
        f"{shown_path(folder / 'users.csv')}:1:2: the 'clients' column needs a 'devices' column: it lists each device's clients"]


def test_every_client_typo_of_a_row_is_named_with_its_entry(write_inventory):
    folder = write_inventory(ROSTER, **{"users.csv": 'email,devices,clients\na@example.com,desktop;phone,"tb;evolution"\n'})
    roster = shown_path(folder / "users.csv")
    assert [d.format() for d in validate(folder).errors] == [
        f"{roster}:2:3: row 1, column 'clients', entry 1: 'tb' is not a client "
        "(clients: thunderbird, apple, outlook)",
        f"{roster}:2:3: row 1, column 'clients', entry 2: 'evolution' is not a client "
        "(clients: thunderbird, apple, outlook)"]


def test_close_addresses_by_address_local_part_and_name():
    users = [("anna@example.com", "Anna Muster"), ("anne@example.com", "Anne Beispiel"),
             ("jurgen.muller@example.com", "Jürgen Müller"), ("ben@example.com", "Ben")]
    assert close_addresses("ana@example.com", users) == ["anna@example.com"]      # not ben@: a domain alone
    assert close_addresses("ann@example.com", users) == ["anna@example.com", "anne@example.com"]
    assert close_addresses("anna@exmaple.com", users) == ["anna@example.com", "anne@example.com"]
    assert close_addresses("ANNA@EXAMPLE.COM", users)[0] == "anna@example.com"
    assert close_addresses("jürgen müller", users) == ["jurgen.muller@example.com"]
    assert close_addresses("jurgen.muller", users) == ["jurgen.muller@example.com"]
    assert close_addresses("zoe@elsewhere.org", users) == []
    many = [(f"user{i}@example.com", f"User {i}") for i in range(100)]
    assert len(close_addresses("user5@example.com", many)) == 3


def test_show_for_a_mistyped_address_suggests_the_closest_users(cli):
    from conftest import EXAMPLES

    result = cli("show", str(EXAMPLES), "ana@example.com")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"no user 'ana@example.com' in {EXAMPLES} (did you mean 'anna@example.com'?)" in result.stderr
    assert cli("show", str(EXAMPLES), "nobody@elsewhere.org").stderr.strip() == \
        f"no user 'nobody@elsewhere.org' in {EXAMPLES}"
    as_json = cli("show", str(EXAMPLES), "jürgen müller", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"] == \
        f"no user 'jürgen müller' in {EXAMPLES} (did you mean 'jurgen.muller@example.com'?)"


def test_validate_recursive_checks_every_inventory_below_a_folder(tmp_path, cli, write_inventory):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo / "a")
    (repo / "b").mkdir()
    (repo / "b" / "inventory.yml").write_text(ROSTER, encoding="utf-8")
    (repo / "b" / "users.csv").write_text("email,devices\nx@example.com,fone\n", encoding="utf-8")
    (repo / ".hidden").mkdir()
    (repo / ".hidden" / "inventory.yaml").write_text("not: [an inventory", encoding="utf-8")   # skipped
    result = cli("validate", "--recursive", str(repo))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "'fone' is not a device profile (did you mean 'phone'?)" in result.stderr
    assert "valid (4 users" in result.stdout and ".hidden" not in result.stdout + result.stderr
    (repo / "b" / "users.csv").write_text("email,devices\nx@example.com,phone\n", encoding="utf-8")
    assert cli("validate", "-r", str(repo)).returncode == 0
    empty = cli("validate", "-r", str(tmp_path / "repo" / "b" / "users.csv"))
    assert empty.returncode == 2 and "is not a folder" in empty.stderr
    (tmp_path / "none").mkdir()
    nothing = cli("validate", "-r", str(tmp_path / "none"))
    assert nothing.returncode == 1 and "no inventory.yaml in" in nothing.stderr
