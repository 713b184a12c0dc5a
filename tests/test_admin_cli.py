"""For the admin who runs it every day: acknowledged warnings, grouped output, --limit on the findings,
--strict, the exit codes of --check, generate and fleet sharing a folder, paths in messages."""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from conftest import BASE, EXAMPLES, ROOT

from generator import validate
from generator.codes import WARNING_CODES
from generator.errors import EXIT_CODES, InventoryError, shown_path
from generator.formats.registry import CLIENTS, named
from generator.formats.render.apple_oauth2 import OAUTH2_KINDS
from generator.output.manifest import Previous
from generator.output.safefs import OutDir
from generator.pipeline import fleet, generate

ROSTER_INVENTORY = BASE + "users_file: users.csv\n"


def roster(users: int, devices: str = "desktop;laptop;phone") -> str:
    return "email,name,groups,devices\n" + "".join(f"u{i}@example.com,User {i},,{devices}\n" for i in range(users))


# ---------------------------------------------------------------- one table of warning codes

def _emitted_codes() -> tuple[set[str], list[ast.JoinedStr]]:
    """The codes of every ``Finding(...)`` made in generator/: literals and module constants, and the f-strings."""
    codes: set[str] = set()
    dynamic: list[ast.JoinedStr] = []
    for path in sorted((ROOT / "generator").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {target.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    codes.add(first.value)
                elif isinstance(first, ast.Name) and first.id in constants:
                    codes.add(constants[first.id])
                elif isinstance(first, ast.JoinedStr):
                    dynamic.append(first)
                elif not (isinstance(first, ast.Attribute) and first.attr == "code"):   # a copy of a finding
                    raise AssertionError(f"{path}: a Finding whose code this test cannot read: {ast.dump(first)}")
    return codes, dynamic


def test_every_emitted_warning_code_is_in_the_table_and_back():
    codes, dynamic = _emitted_codes()
    # the codes made from a pattern: Apple's OAuth2 payloads, and each device format's fleet form
    assert sorted(ast.unparse(d) for d in dynamic) == ["f'apple-oauth2-{kind}'", "f'fleet-{client}-no-pattern'",
                                                       "f'fleet-{client}-per-user'"]
    codes |= {f"apple-oauth2-{kind}" for kind in OAUTH2_KINDS.values()}
    codes |= {f"fleet-{c}-per-user" for c in CLIENTS if not named(c).fleet.formats}
    codes |= {f"fleet-{c}-no-pattern" for c in CLIENTS if named(c).fleet.needs_address_pattern}
    assert codes == set(WARNING_CODES)


def test_the_examples_emit_only_codes_of_the_table():
    found = {f.code for f in validate(EXAMPLES).findings}
    assert found and found <= set(WARNING_CODES)


# ---------------------------------------------------------------- acknowledge:

ACK = """acknowledge:
  apple-no-bcc: "the server copies sent mail"
groups:
  sales:
    acknowledge: {outlook-no-bcc: "sales use a rule"}
"""


def test_acknowledged_warnings_carry_their_reason(write_inventory):
    folder = write_inventory(BASE + ACK + """users:
  - {email: a@example.com, groups: [sales], devices: [desktop, phone, laptop]}
  - {email: b@example.com, devices: [desktop, laptop]}
""")
    findings = validate(folder).findings
    reasons = {(f.user, f.device, f.code): f.acknowledged for f in findings}
    assert reasons[("a@example.com", "phone", "apple-no-bcc")] == "the server copies sent mail"
    assert reasons[("a@example.com", "laptop", "outlook-no-bcc")] == "sales use a rule"
    assert reasons[("b@example.com", "laptop", "outlook-no-bcc")] is None       # not in the group
    assert {f.code for f in findings if f.acknowledged is None} >= {"apple-no-pop-retention"}


def test_an_unknown_code_or_an_empty_reason_is_an_error_at_its_place(write_inventory):
    folder = write_inventory(BASE + """acknowledge:
  apple-no-bc: "typo"
groups:
  sales:
    acknowledge: {no-archive: "  "}
users: [{email: a@example.com, devices: [desktop]}]
""")
    result = validate(folder)
    assert not result.valid
    text = [d.format() for d in result.errors]
    assert any(":7:3: acknowledge.apple-no-bc: unknown warning code 'apple-no-bc' (did you mean 'apple-no-bcc'?)"
               in t for t in text), text
    assert any(":10:31: groups.sales.acknowledge.no-archive: the reason is empty" in t for t in text), text


# ---------------------------------------------------------------- the console

def test_the_console_groups_what_repeats_and_verbose_lists_every_one(tmp_path, cli, write_inventory):
    folder = write_inventory(ROSTER_INVENTORY, users__csv=roster(40))
    grouped = cli("validate", str(folder))
    assert grouped.returncode == 0
    lines = grouped.stderr.splitlines()
    assert sum(line.startswith("warning: apple-no-bcc: 80 devices, e.g. u0@example.com/laptop, "
                               "u0@example.com/phone, u10@example.com/laptop, …: ") for line in lines) == 1
    assert len(lines) < 15
    verbose = cli("validate", str(folder), "--verbose")
    assert sum("apple-no-bcc" in line for line in verbose.stderr.splitlines()) == 80
    quiet = cli("validate", str(folder), "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""
    acknowledged = write_inventory(ROSTER_INVENTORY + "acknowledge: {apple-no-bcc: server copies, no-archive: ok}\n",
                                   users__csv=roster(40))
    result = cli("validate", str(acknowledged))
    assert "apple-no-bcc" not in result.stderr and ", 80 acknowledged)" in result.stdout
    assert "(acknowledged: server copies)" in cli("validate", str(acknowledged), "-v").stderr


def test_a_missing_server_is_one_root_cause_error(write_inventory):
    folder = write_inventory(BASE.replace("  pop3: {host: pop.example.com}\n", "") + "users_file: users.csv\n",
                             users__csv=roster(300))
    try:
        generate(folder, folder / "out", check=True)
    except InventoryError as exc:
        assert len(exc.diagnostics) == 1 and not exc.more
        text = exc.diagnostics[0].format()
        assert text.startswith(f"{shown_path(folder / 'users.csv')}:2:")
        assert "no pop3 server is defined for this device; the same for 299 more, e.g. " in text
        assert exc.diagnostics[0].code == "missing-server-pop3"
    else:
        raise AssertionError("no error")


# ---------------------------------------------------------------- --limit, --strict, --check

def test_limit_selects_the_findings_too(tmp_path, write_inventory):
    folder = write_inventory(ROSTER_INVENTORY, users__csv=roster(20))
    result = generate(folder, tmp_path / "out", check=True, limit="u3@*")
    assert result.findings and {f.user for f in result.findings} <= {"u3@example.com", None}
    assert any(f.user is None for f in result.findings)       # the organization's and the domain's stay
    generate(folder, tmp_path / "out", limit="u3@*")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len({w["user"] for w in manifest["warnings"]}) > 2          # the manifest keeps every one


def test_strict_fails_on_unacknowledged_warnings_with_its_own_exit_code(tmp_path, cli, write_inventory):
    folder = write_inventory(BASE + "users: [{email: a@example.com, devices: [phone]}]\n")
    out = tmp_path / "out"
    assert cli("validate", str(folder), "--strict").returncode == 5
    result = cli("generate", str(folder), "-o", str(out), "--strict")
    assert result.returncode == 5 and not out.exists() and "--strict" in result.stderr
    assert cli("fleet", str(folder), "-o", str(out), "--mdm", "jamf-pro", "--strict").returncode == 5
    codes = sorted({f.code for f in validate(folder).findings})
    (folder / "inventory.yaml").write_text(BASE + "acknowledge:\n" + "".join(f"  {c}: accepted\n" for c in codes) +
                                           "users: [{email: a@example.com, devices: [phone]}]\n")
    assert cli("validate", str(folder), "--strict").returncode == 0
    assert cli("generate", str(folder), "-o", str(out), "--strict").returncode == 0 and out.exists()


def test_check_exits_4_when_something_would_change(tmp_path, cli, write_inventory):
    folder = write_inventory(BASE + "users: [{email: a@example.com, devices: [desktop]}]\n")
    out = tmp_path / "out"
    assert cli("generate", str(folder), "-o", str(out), "--check").returncode == 4
    assert cli("generate", str(folder), "-o", str(out)).returncode == 0
    assert cli("generate", str(folder), "-o", str(out), "--check").returncode == 0
    assert cli("fleet", str(folder), "-o", str(out), "--mdm", "jamf-pro", "--check").returncode == 4
    assert cli("fleet", str(folder), "-o", str(out), "--mdm", "jamf-pro").returncode == 0
    assert cli("fleet", str(folder), "-o", str(out), "--mdm", "jamf-pro", "--check").returncode == 0
    assert {4, 5} <= set(EXIT_CODES) and EXIT_CODES[3].startswith("internal error")


def test_exit_codes_are_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"| {code} |" in readme, code


# ---------------------------------------------------------------- generate and fleet in one folder

def test_generate_and_fleet_sharing_a_folder_each_keep_their_findings(tmp_path, write_inventory):
    folder = write_inventory(BASE + "users: [{email: a@example.com, devices: [desktop, phone]}]\n")
    out = tmp_path / "out"
    assert generate(folder, out).manifest_changed
    assert fleet(folder, out, "jamf-pro").manifest_changed
    for _ in range(2):
        assert not generate(folder, out).manifest_changed
        assert not fleet(folder, out, "jamf-pro").manifest_changed
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    commands = [w["command"] for w in warnings]
    assert commands == sorted(commands) and set(commands) == {"fleet", "generate"}


def test_a_rerun_holds_only_the_other_commands_warnings_of_the_old_manifest(tmp_path, write_inventory):
    """The old manifest's warnings of the run's own command are made again, so they are not kept while the run
    reads the old manifest: a large roster's warnings are not held twice."""
    folder = write_inventory(BASE + "users: [{email: a@example.com, devices: [desktop, phone]}]\n")
    out = tmp_path / "out"
    generate(folder, out)
    fleet(folder, out, "jamf-pro")
    written = json.loads((out / "manifest.json").read_text())["warnings"]
    outdir = OutDir.open(out, create=False)
    assert outdir is not None
    for command, other in (("generate", "fleet"), ("fleet", "generate")):
        previous = Previous(outdir, command)
        try:
            assert sum(1 for _ in previous) > 0
            assert previous.warnings == [w for w in written if w["command"] == other] != []
            assert previous.others(command) == previous.warnings
        finally:
            previous.close()
    outdir.close()


# ---------------------------------------------------------------- paths and styles

def test_paths_in_messages_are_relative_to_the_working_directory(tmp_path, cli, write_inventory):
    folder = write_inventory(BASE + "users_file: users.csv\n", users__csv="email,name,groups,devices\nbad,x,,desktop\n")
    csv_error = cli("validate", "inv", cwd=tmp_path)
    assert csv_error.stderr.startswith(f"inv{os.sep}users.csv:2:1: "), csv_error.stderr
    (folder / "inventory.yaml").write_text("organization: [\n")
    yaml_error = cli("validate", "inv", cwd=tmp_path)
    assert yaml_error.stderr.startswith(f"inv{os.sep}inventory.yaml:"), yaml_error.stderr
    outside = cli("validate", str(folder), cwd=tmp_path / "inv" / "..")
    assert outside.stderr.startswith("inv"), outside.stderr
    elsewhere = Path(tmp_path / "elsewhere")
    elsewhere.mkdir()
    assert cli("validate", str(folder), cwd=elsewhere).stderr.startswith(str(folder / "inventory.yaml"))


def test_no_color_turns_off_bold_and_piped_show_is_not_cut(cli, tmp_path):
    styled = cli("generate", str(EXAMPLES), "-o", str(tmp_path / "out"), "--check",
                 env={"FORCE_COLOR": "1", "NO_COLOR": "", "TERM": "xterm-256color"})
    assert "\x1b[" in styled.stdout          # the RECAP title is bold on a terminal ...
    plain = cli("generate", str(EXAMPLES), "-o", str(tmp_path / "out"), "--check",
                env={"FORCE_COLOR": "1", "NO_COLOR": "1", "TERM": "xterm-256color"})
    assert "\x1b[" not in plain.stdout + plain.stderr and "RECAP" in plain.stdout     # ... and not with NO_COLOR
    shown = cli("show", str(EXAMPLES), "anna@example.com", env={"COLUMNS": "40"})
    assert shown.returncode == 0
    assert any("servers.smtp.host" in line and "smtp2.example.com" in line and "group sales" in line
               for line in shown.stdout.splitlines()), shown.stdout


def test_the_other_commands_warnings_are_carried_only_as_well_typed_text(tmp_path, write_inventory):
    folder = write_inventory(BASE + "users: [{email: a@example.com, devices: [desktop, phone]}]\n")
    out = tmp_path / "out"
    generate(folder, out)
    fleet(folder, out, "jamf-pro")
    manifest = out / "manifest.json"
    data = json.loads(manifest.read_text())
    fleets = [w for w in data["warnings"] if w["command"] == "fleet"]
    # reformatted by a tool (read whole), with one fleet warning edited by hand: that one is dropped
    data["warnings"][0] = {**fleets[0], "message": 42}
    data["warnings"][1] = {**fleets[1], "path": "../elsewhere"}
    manifest.write_text(json.dumps(data, indent=4))
    assert generate(folder, out).manifest_changed
    carried = [w for w in json.loads(manifest.read_text())["warnings"] if w["command"] == "fleet"]
    assert carried == fleets[2:]
    assert not generate(folder, out).manifest_changed


def test_the_readme_lists_every_warning_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [code for code in WARNING_CODES if f"`{code}`" not in readme] == []
