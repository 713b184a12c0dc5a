"""Names and literal text that reach the fleet's folders and files: group and profile names, placeholders, patterns."""
from __future__ import annotations

import os

import pytest
from conftest import BASE, run_cli

from generator import InventoryError, load_inventory
from generator.fleet import load_fleet

PATTERN = 'fleet: {address_pattern: "{login}@example.com"}\n'
USER = "users:\n  - {email: a@example.com, devices: [desktop]}\n"
ESC = "\x1b"


def _problems(folder, vendor: str | None = None) -> list[str]:
    """Every problem's text, from fleet (with ``vendor``) or from validate."""
    with pytest.raises(InventoryError) as info:
        if vendor is None:
            load_inventory(folder)
        else:
            load_fleet(folder, vendor)
    return [d.format() for d in info.value.diagnostics]


# Fleet folders are distinct or refused up front, by validate as by fleet.

@pytest.mark.parametrize("groups, line, message", [
    ("  Sales: {}\n  sales: {}\n", 9, "groups: group 'sales' shares its fleet folder with group 'Sales' (line 8)"),
    ("  _No-Group: {}\n", 8, "groups: group '_No-Group' has the name of the fleet's folder for users in no group"),
    ("  " + "ü" * 64 + ": {}\n", 8, "groups: group 'üüü"),
])
def test_group_names_that_cannot_have_a_fleet_folder_of_their_own_are_refused(write_inventory, tmp_path, groups,
                                                                               line, message):
    folder = write_inventory(BASE + PATTERN + "groups:\n" + groups + USER)
    for problems in (_problems(folder), _problems(folder, "jamf-pro")):
        assert len(problems) == 1 and problems[0].startswith(f"{folder / 'inventory.yaml'}:{line}:3: ")
        assert message in problems[0]
    checked = run_cli("fleet", str(folder), "-o", str(tmp_path / "out"), "--mdm", "jamf-pro", "--check")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr and not (tmp_path / "out").exists()


def test_long_group_names_say_why(write_inventory):
    folder = write_inventory(BASE + "groups:\n  " + "ü" * 64 + ": {}\n" + USER)
    (problem,) = _problems(folder)
    assert "cannot make a safe file name: the file name would be 384 characters long (limit 200)" in problem


# Every text field passes the text rules.

def test_a_group_name_with_escape_sequences_never_reaches_the_terminal(write_inventory, tmp_path):
    folder = write_inventory(BASE + PATTERN + 'groups:\n  "\\e[31mred": {settings: {bcc_self: true}}\n'
                             'users:\n  - {email: a@example.com, groups: ["\\e[31mred"], devices: [desktop]}\n')
    runs = [run_cli("validate", str(folder)), run_cli("generate", str(folder), "-o", str(tmp_path / "o1")),
            run_cli("show", str(folder), "a@example.com"),
            run_cli("fleet", str(folder), "-o", str(tmp_path / "o2"), "--mdm", "jamf-pro")]
    for result in runs:
        assert result.returncode == 1, result.stderr
        assert ESC not in result.stdout + result.stderr and "Traceback" not in result.stderr
        assert "inventory.yaml:8:3: groups: group name" in result.stderr
        assert "contains the control character U+001B at position 1" in result.stderr
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_keys_in_field_paths_are_shown_escaped(write_inventory):
    folder = write_inventory(BASE + 'settings: {"\\e[31mset": 1}\n' + USER)
    (problem,) = _problems(folder)
    assert ESC not in problem and "settings['\\x1b[31mset']: unknown key" in problem


def test_mdm_placeholders_pass_the_text_rules(write_inventory, tmp_path):
    folder = write_inventory(BASE + PATTERN + 'mdm: {email: "%mail\\e%", name: "%name%", username: " %upn%"}\n')
    problems = _problems(folder)
    assert problems == [
        f"{folder / 'inventory.yaml'}:7:14: mdm.email: contains the control character U+001B at position 6",
        f"{folder / 'inventory.yaml'}:7:52: mdm.username: has leading or trailing blanks"]
    assert _problems(folder, "custom") == problems
    result = run_cli("fleet", str(folder), "-o", str(tmp_path / "out"), "--mdm", "custom")
    assert result.returncode == 1 and ESC not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("pattern, message", [
    ('"{login}@exa mple.com"', "does not form an address"),
    ('"{login}@exa\\nmple\\e.com"', "contains the control character U+000A at position 12"),
    ('"{login}\\");lockPref(\\"x\\", 1);//@example.com"', "does not form an address"),
    ('"{login}@example.com "', "has leading or trailing blanks"),
])
def test_an_address_pattern_must_form_an_address(write_inventory, tmp_path, pattern, message):
    folder = write_inventory(BASE + f"fleet: {{address_pattern: {pattern}}}\n" + USER)
    for problems in (_problems(folder), _problems(folder, "jamf-pro")):
        (problem,) = problems
        assert problem.startswith(f"{folder / 'inventory.yaml'}:6:26: fleet.address_pattern: ") and message in problem
        assert ESC not in problem and "\n" not in problem
    write_inventory(BASE + f"groups:\n  g:\n    fleet: {{address_pattern: {pattern}}}\n" + USER)
    (problem,) = _problems(folder)
    assert problem.startswith(f"{folder / 'inventory.yaml'}:8:30: groups.g.fleet.address_pattern: ")


def test_a_login_inside_a_quoted_local_part_or_a_good_pattern_passes(write_inventory):
    folder = write_inventory(BASE + 'fleet: {address_pattern: "mail.{login}+fleet@mail.example.com"}\n' + USER)
    assert load_inventory(folder).devices


def _profiles(write_inventory, *names: str, inventory: str = ""):
    folder = write_inventory(BASE + PATTERN + "profiles_dir: profiles\n" + inventory + USER)
    (folder / "profiles").mkdir(exist_ok=True)
    for name in names:
        (folder / "profiles" / f"{name}.yaml").write_text("settings: {protocol: imap, clients: [apple]}\n")
    return folder


@pytest.mark.parametrize("name, message", [
    (f"kiosk{ESC}[31m", "profile file 'kiosk\\x1b[31m.yaml': the name contains the control character U+001B"),
    ("k" * 65, "is 65 characters long; a device names its profile in at most 64"),
    ("Desktop", "profile 'Desktop' shares its fleet folder with the built-in profile 'desktop'"),
])
def test_profile_file_names_pass_the_text_and_file_name_rules(write_inventory, tmp_path, name, message):
    folder = _profiles(write_inventory, name)
    for problems in (_problems(folder), _problems(folder, "jamf-pro")):
        (problem,) = problems
        assert problem.startswith(f"{folder / 'inventory.yaml'}:7:15: profiles_dir: ") and message in problem
        assert ESC not in problem
    result = run_cli("fleet", str(folder), "-o", str(tmp_path / "out"), "--mdm", "jamf-pro")
    assert result.returncode == 1 and ESC not in result.stderr and "Traceback" not in result.stderr


def test_profile_names_that_differ_only_in_case_are_refused(write_inventory):
    folder = _profiles(write_inventory, "Kiosk", "kiosk")
    (problem,) = _problems(folder)
    assert "profile 'kiosk' shares its fleet folder with profile 'Kiosk'" in problem


def test_a_profile_file_name_that_is_not_utf8_is_refused(write_inventory):
    folder = _profiles(write_inventory)
    (folder / "profiles").joinpath(os.fsdecode(b"ki\xffosk.yaml")).write_text("settings: {protocol: imap}\n")
    (problem,) = _problems(folder)
    assert "profile file 'ki\\udcffosk.yaml': the name contains a lone surrogate U+DCFF" in problem


# Literal text in fleet files never carries vendor variables.

def test_profile_and_group_names_with_vendor_variables_are_refused_by_fleet(write_inventory):
    folder = _profiles(write_inventory, "$SERIALNUMBER", inventory="groups:\n  '%Group%': {}\n")
    assert load_inventory(folder).devices                 # only a literal for the MDM, not for generate
    problems = _problems(folder, "jamf-pro")
    assert problems == [f"{folder / 'inventory.yaml'}:7:15: profiles_dir: profile file '$SERIALNUMBER.yaml': the "
                        "name contains '$SERIALNUMBER', which the MDM would replace with a user's value (rename it; "
                        "only the per-user fields carry MDM variables)"]
    problems = _problems(folder, "jamf-school")
    assert problems == [f"{folder / 'inventory.yaml'}:9:3: groups: group '%Group%' contains '%Group%', which the MDM "
                        "would replace with a user's value (rename it; only the per-user fields carry MDM variables)"]


def test_setting_values_in_profile_files_are_held_to_the_vendor_syntax(write_inventory):
    folder = _profiles(write_inventory)
    (folder / "profiles/kiosk.yaml").write_text("settings:\n  protocol: imap\n  signature: 'Serial $SERIALNUMBER'\n")
    (problem,) = _problems(folder, "jamf-pro")
    assert problem.startswith(f"{folder / 'profiles/kiosk.yaml'}:3:14: settings.signature: contains '$SERIALNUMBER'")


def test_an_address_pattern_with_vendor_variables_is_refused_by_fleet(write_inventory):
    folder = write_inventory(BASE + 'fleet: {address_pattern: "{login}.$DEPT@example.com"}\n' + USER)
    assert load_inventory(folder).devices
    assert load_fleet(folder, "workspace-one").sets       # {login} itself is not a variable of theirs
    (problem,) = _problems(folder, "jamf-pro")
    assert "fleet.address_pattern: contains '$DEPT', which the MDM would replace" in problem


def test_text_settings_in_profile_files_pass_the_text_rules(write_inventory, tmp_path):
    folder = _profiles(write_inventory)
    (folder / "profiles/kiosk.yaml").write_text('settings:\n  protocol: imap\n  signature: "Anna\\e[31m"\n')
    for problems in (_problems(folder), _problems(folder, "jamf-pro")):
        assert problems == [f"{folder / 'profiles/kiosk.yaml'}:3:14: settings.signature: contains the control "
                            "character U+001B at position 5"]


def test_paths_of_the_inventory_pass_the_text_rules(write_inventory):
    folder = write_inventory(BASE + 'users_file: "\\e[31mx.csv"\ntemplates_dir: "\\e[32mt"\nprofiles_dir: "\\e[33mp"\n')
    problems = _problems(folder)
    assert problems == [f"{folder / 'inventory.yaml'}:{line}:{column}: {field}: contains the control character U+001B "
                        "at position 1" for line, column, field in ((6, 13, "users_file"), (7, 16, "templates_dir"),
                                                                   (8, 15, "profiles_dir"))]
