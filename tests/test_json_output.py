"""--json: one JSON document per invocation, of the shape its schema in schemas/output/ gives, for every command
that reports (the real command's output, successes and failures)."""
from __future__ import annotations

import json

import pytest
from conftest import BASE, EXAMPLES, ROOT
from jsonschema import Draft202012Validator

SCHEMAS = ROOT / "schemas" / "output"
FILES = ROOT / "tests" / "autoconfig"


def schema(name: str) -> Draft202012Validator:
    data = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(data)
    return Draft202012Validator(data)


def document(result, name: str) -> dict:
    """The one document the command printed, valid against its schema."""
    doc = json.loads(result.stdout)          # one document: json.loads refuses anything after it
    errors = sorted(schema(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    return doc


def test_the_schemas_share_their_definitions():
    """The shapes every schema has in common (a diagnostic, a finding, a refusal) are the same in each."""
    seen: dict[str, dict] = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        for name, definition in json.loads(path.read_text(encoding="utf-8"))["$defs"].items():
            if name != "success":
                assert seen.setdefault(name, definition) == definition, (path.name, name)
    assert {"diagnostic", "finding", "refused", "input_errors"} <= set(seen)


def test_validate_prints_one_document_for_several_inventories(cli, write_inventory):
    broken = write_inventory(BASE + "users: [{email: a@example.com, devices: [dekstop]}]\n")
    result = cli("validate", str(EXAMPLES), str(broken), "--json")
    doc = document(result, "validate")
    assert result.returncode == 1 and doc["valid"] is False and doc["command"] == "validate"
    good, bad = doc["inventories"]
    assert good["valid"] and good["findings"] and bad["errors"][0]["field"] == "users[0].devices[0].profile"
    assert good["inventory"].endswith("examples") and bad["inventory"].endswith("inv")
    alias = cli("validate", str(EXAMPLES), str(broken), "--format", "json")
    assert json.loads(alias.stdout) == doc
    strict = document(cli("validate", str(EXAMPLES), "--json", "--strict"), "validate")
    assert strict["ok"] is False and strict["valid"] is True and strict["strict"] is True


def test_generate_and_fleet_documents(tmp_path, cli, write_inventory):
    out = tmp_path / "out"
    result = cli("generate", str(EXAMPLES), "-o", str(out), "--json", "--check", "--diff", "--limit", "anna@*")
    doc = document(result, "generate")
    assert result.returncode == 4 and doc["exit_code"] == 4 and doc["ok"] is True and doc["check"] is True
    assert doc["inventory"].endswith("examples") and doc["output"].endswith("out") and doc["diffs"]
    assert {f["user"] for f in doc["findings"]} <= {"anna@example.com", None}
    done = document(cli("generate", str(EXAMPLES), "-o", str(out), "--format", "json"), "generate")
    assert done["exit_code"] == 0 and done["created"] > 0
    fleet = cli("fleet", str(EXAMPLES), "-o", str(out), "--mdm", "jamf-pro", "--json", "--strict")
    doc = document(fleet, "generate")
    assert fleet.returncode == 5 and doc["command"] == "fleet" and doc["mdm"] == "jamf-pro"
    assert doc["strict_failed"] and doc["ok"] is False
    broken = write_inventory(BASE + "users: [{email: a@example.com, devices: [dekstop]}]\n")
    failed = cli("generate", str(broken), "-o", str(out), "--json")
    doc = document(failed, "generate")
    assert failed.returncode == 1 and doc["errors"][0]["line"] == 6 and doc["inventory"].endswith("inv")
    (tmp_path / "file").write_text("not a folder")
    refused = cli("generate", str(EXAMPLES), "-o", str(tmp_path / "file"), "--json")
    doc = document(refused, "generate")
    assert refused.returncode == 1 and doc["ok"] is False and doc["error"]


def test_show_document(cli):
    doc = document(cli("show", str(EXAMPLES), "anna@example.com", "--json"), "show")
    assert doc["email"] == "anna@example.com" and doc["devices"][0]["settings"]["protocol"]["value"] == "pop3"
    missing = cli("show", str(EXAMPLES), "nobody@example.com", "--json")
    assert missing.returncode == 1 and document(missing, "show")["error"].startswith("no user")


def test_check_servers_document(cli, write_inventory):
    # nothing listens on these ports: each check fails at once, and the document says so
    folder = write_inventory("""organization: {name: Example GmbH, identifier: com.example}
servers:
  imap: {host: localhost, port: 1}
  pop3: {host: localhost, port: 2}
  smtp: {host: localhost, port: 3}
users: [{email: a@example.com, devices: [desktop]}]
""")
    result = cli("check-servers", str(folder), "--json", "--timeout", "5")
    doc = document(result, "check-servers")
    assert result.returncode == 1 and doc["ok"] is False and {s["status"] for s in doc["servers"]} == {"failed"}
    quiet = cli("check-servers", str(folder), "--quiet", "--timeout", "5")
    assert quiet.returncode == 1 and "refused" in quiet.stdout
    broken = write_inventory(BASE + "users: [{email: a@example.com, devices: [dekstop]}]\n")
    assert document(cli("check-servers", str(broken), "--json"), "check-servers")["valid"] is False


@pytest.mark.parametrize("name", ["fastmail.com", "oauth-only"])
def test_import_autoconfig_document(cli, name):
    result = cli("import-autoconfig", str(FILES / f"{name}.xml"), "--json")
    doc = document(result, "import-autoconfig")
    assert doc["file"].endswith(f"{name}.xml") and doc["servers"] and doc["ok"] is True
    assert json.loads(cli("import-autoconfig", str(FILES / f"{name}.xml"), "--format", "json").stdout) == doc
    missing = cli("import-autoconfig", str(FILES / "nothing-here.xml"), "--json")
    assert missing.returncode == 1 and document(missing, "import-autoconfig")["ok"] is False


def test_the_schemas_ship_in_the_package():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"schemas" = "generator/_data/schemas"' in pyproject      # the whole folder, output/ with it
