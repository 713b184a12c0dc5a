"""The two tables of extension points: the settings table and the format registry.

Each is held against the JSON Schema, and a format of a new scope goes through the
unchanged pipeline: plan, compare, apply, manifest, reruns, --check, --limit and removal.
"""
from __future__ import annotations

import ast
import json

import pytest
from conftest import BASE, ROOT

from generator import explain, generate, validate
from generator.formats import registry as formats
from generator.formats.registry import CLIENTS, DEVICE, DOMAIN, FLEET, FORMATS, SCOPES, USER, Format
from generator.plan.scopes import TARGETS
from generator.resources import data_dir
from generator.settings import REQUIRED, SETTINGS

SCHEMA = json.loads((ROOT / "schemas" / "inventory.schema.json").read_text(encoding="utf-8"))


def _schema_settings(node: dict, prefix: str = "") -> dict[str, dict]:
    out = {}
    for key, value in node["properties"].items():
        if value.get("type") == "object":
            out.update(_schema_settings(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_settings_table_matches_the_schema():
    in_schema = _schema_settings(SCHEMA["$defs"]["settings"])
    assert sorted(in_schema) == sorted(s.name for s in SETTINGS)
    for setting in SETTINGS:
        rule = in_schema[setting.name]
        types = rule.get("type")
        types = set(types) if isinstance(types, list) else {types}
        assert ("null" in types) == setting.nullable, setting.name
        if setting.type == "enum":
            assert tuple(rule["enum"]) == setting.choices
        elif setting.type == "bool":
            assert types == {"boolean"}
        elif setting.type == "int":
            assert types - {"null"} == {"integer"}
            assert (rule["minimum"], rule["maximum"]) == (setting.minimum, setting.maximum), setting.name
        elif setting.type == "text":
            assert types - {"null"} == {"string"} and setting.text_rule in ("line", "multiline")
        elif setting.type == "clients":
            assert rule["items"] == {"$ref": "#/$defs/client"} and rule["uniqueItems"] is True
        else:
            pytest.fail(f"unknown setting type {setting.type}")


def test_schema_client_list_is_the_registry():
    assert SCHEMA["$defs"]["client"]["enum"] == list(CLIENTS)
    assert len({f.name for f in FORMATS}) == len(FORMATS)
    assert all(f.scope in SCOPES for f in FORMATS)
    assert set(SCOPES) == {DEVICE, FLEET, *TARGETS}, \
        "every scope is planned: per device in plan.py, per fleet set in fleet.py, the others in scopes.py"
    for fmt in FORMATS:
        if fmt.scope == DEVICE:
            assert fmt.read_settings is not None, f"{fmt.name}: device formats are cross-checked"
            assert (data_dir("templates") / fmt.name).is_dir()


def test_defaults_fill_what_no_layer_sets(write_inventory):
    """A profile may set only what it needs: the table's defaults (marked 'default' in show) do the rest."""
    folder = write_inventory(BASE + "profiles_dir: p\nusers:\n  - {email: a@example.com, devices: [kiosk]}\n")
    (folder / "p").mkdir()
    (folder / "p" / "kiosk.yaml").write_text("settings: {protocol: pop3, clients: [thunderbird]}\n")
    (device,) = explain(folder, "a@example.com")
    rows = {key: (value, source) for key, value, source in device.resolved_settings()}
    for setting in SETTINGS:
        if setting.default is not REQUIRED:
            assert rows[setting.name] == (setting.default, "default"), setting.name
    assert rows["protocol"][0] == "pop3" and rows["protocol"][1].startswith("profile kiosk (")
    assert device.pop3 is not None and device.pop3.delete_after_days == 28


def test_a_required_setting_is_named_when_no_layer_sets_it(write_inventory):
    folder = write_inventory(BASE + "profiles_dir: p\nusers:\n  - {email: a@example.com, devices: [kiosk]}\n")
    (folder / "p").mkdir()
    (folder / "p" / "kiosk.yaml").write_text("settings: {protocol: imap}\n")
    result = validate(folder)
    assert not result.valid
    assert [d.format() for d in result.errors] == [
        f"{folder / 'inventory.yaml'}:8:38: users[0].devices[0]: setting 'clients' is not set by any layer "
        "(profile 'kiosk') (set it in the device profile or in 'settings')"]


def test_library_validate_returns_what_the_cli_prints(tmp_path, cli):
    from conftest import EXAMPLES

    result = validate(EXAMPLES)
    assert result.valid and result.errors == ()
    printed = json.loads(cli("validate", str(EXAMPLES), "--format", "json").stdout)["inventories"][0]["findings"]
    assert printed == [f.to_json() for f in result.findings]
    assert {f.code for f in result.findings} >= {"apple-no-bcc", "outlook-no-bcc", "apple-no-pop-retention"}
    assert result.findings == generate(EXAMPLES, tmp_path / "out", check=True).findings


# ---------------------------------------------------------------- a format the pipeline has never seen

def _render_domains(site, subject) -> bytes:
    users = sorted({d.user.email for d in subject.devices})
    return (f"# {site.organization.name}: {subject.domain}\n" + "".join(f"{u}\n" for u in users)).encode("utf-8")


def _verify_domains(content: bytes, org, subject) -> list[str]:
    lines = content.decode("utf-8").splitlines()
    wanted = sorted({d.user.email for d in subject.devices})
    return [] if lines[1:] == wanted and all(u.endswith("@" + subject.domain) for u in lines[1:]) else ["wrong users"]


def _render_card(site, subject) -> bytes:
    return f"{subject.user.name} <{subject.user.email}>: {len(subject.devices)} devices\n".encode()


def _verify_card(content: bytes, org, subject) -> list[str]:
    return [] if content.decode().startswith(subject.user.name) else ["wrong name"]


EXTRA = (Format("domain-list", DOMAIN, "domains/{domain}/users.txt", _render_domains, _verify_domains),
         Format("card", USER, "card.txt", _render_card, _verify_card))


def test_a_new_format_of_another_scope_needs_no_pipeline_change(write_inventory, tmp_path, monkeypatch):
    users = ("users:\n  - {email: a@example.com, name: Anna, groups: [g], devices: [desktop]}\n"
             "  - {email: b@example.com, name: Ben, devices: [desktop, phone]}\n"
             "  - {email: c@example.org, name: Cem, devices: [phone]}\n")
    folder = write_inventory(BASE + "groups: {g: {}}\n" + users)
    out = tmp_path / "out"
    monkeypatch.setattr(formats, "FORMATS", FORMATS + EXTRA)
    result = generate(folder, out)
    assert (out / "domains/example.com/users.txt").read_text() == "# Example GmbH: example.com\na@example.com\nb@example.com\n"
    assert (out / "b@example.com/card.txt").read_text() == "Ben <b@example.com>: 2 devices\n"
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = {e["path"]: e for e in manifest["artifacts"]}
    assert kinds["domains/example.org/users.txt"] == {
        "kind": "domain", "domain": "example.org", "path": "domains/example.org/users.txt",
        "sha256": kinds["domains/example.org/users.txt"]["sha256"]}
    assert kinds["a@example.com/card.txt"]["kind"] == "user" and kinds["a@example.com/card.txt"]["user"] == "a@example.com"
    assert kinds["a@example.com/desktop/prefs.js"]["kind"] == "device"
    assert result.count("created") == len(manifest["artifacts"])
    assert generate(folder, out).count("unchanged") == len(manifest["artifacts"])
    # --limit: per-user files of the matching users only; per-domain files are left as they are
    (out / "a@example.com/card.txt").write_text("edited")
    (out / "domains/example.com/users.txt").write_text("edited")
    limited = generate(folder, out, limit="@g")
    assert [c.path for c in limited.changes] == ["a@example.com/card.txt"]
    assert (out / "domains/example.com/users.txt").read_text() == "edited"
    # a verifier that refuses stops the run before anything is written
    broken = (Format("card", USER, "card.txt", lambda site, s: b"x\n", _verify_card),)
    monkeypatch.setattr(formats, "FORMATS", FORMATS + EXTRA[:1] + broken)
    from generator import VerificationError
    with pytest.raises(VerificationError) as info:
        generate(folder, out)
    assert "a@example.com/card.txt: wrong name" in info.value.failures
    # the format is gone from the registry: its files are removed as stale, the rest stays
    monkeypatch.setattr(formats, "FORMATS", FORMATS)
    removed = generate(folder, out)
    assert sorted(c.path for c in removed.changes if c.status == "removed") == [
        "a@example.com/card.txt", "b@example.com/card.txt", "c@example.org/card.txt", "domains/example.org/users.txt"]
    # the hand-edited file is no longer what mailprofiles wrote: it stays, and the run says so
    assert (out / "domains/example.com/users.txt").read_text() == "edited"
    assert any("domains/example.com/users.txt: it was changed after mailprofiles wrote it" in n for n in removed.alerts)
    assert not (out / "domains/example.org").exists()


def test_limit_by_group_removes_stale_files_of_its_members(write_inventory, tmp_path):
    two = ("groups: {g: {}}\nusers:\n  - {email: a@example.com, groups: [g], devices: [desktop, laptop]}\n"
           "  - {email: b@example.com, devices: [desktop, laptop]}\n")
    folder = write_inventory(BASE + two)
    out = tmp_path / "out"
    generate(folder, out)
    write_inventory(BASE + two.replace("[desktop, laptop]", "[desktop]"))
    result = generate(folder, out, limit="@g")
    assert sorted(c.path for c in result.changes) == [
        "a@example.com/handout.html", "a@example.com/laptop/autodiscover.reg", "a@example.com/laptop/autodiscover.xml",
        "a@example.com/laptop/mail.mobileconfig", "a@example.com/laptop/outlook.prf", "a@example.com/laptop/prefs.js"]
    assert (out / "b@example.com/laptop/prefs.js").exists()


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_imports_the_jinja_environment_back():
    """formats/engine.py holds the one Jinja environment; it imports no renderer, and nothing imports inside functions."""
    package = ROOT / "generator"
    allowed = {"__future__", "collections.abc", "contextlib", "functools", "os", "pathlib", "resource", "signal",
               "threading", "time", "types", "typing", "weakref", "jinja2", "jinja2.exceptions", "jinja2.loaders",
               "jinja2.sandbox", "..errors", "..inventory.bounds", "..model", "..resources"}
    assert _imports(package / "formats" / "engine.py") <= allowed
    assert _imports(package / "formats" / "render" / "__init__.py") == set()
    for module in package.rglob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and module.parent.name != "cli"):
            nested = [n for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not nested or module.name == "writer.py", f"{module.name}: import inside {func.name}()"


def test_files_of_a_kind_no_format_makes_any_more_are_removed_by_either_command(write_inventory, tmp_path, monkeypatch):
    """A format of its own kind, then dropped from the registry: generate and fleet alike remove its files."""
    from generator.pipeline import fleet

    folder = write_inventory(BASE + 'fleet: {login: local-part, address_pattern: "{login}@example.com"}\n'
                             "users:\n  - {email: a@example.com, devices: [desktop]}\n"
                             "  - {email: c@example.org, devices: [phone]}\n")
    gone = Format("domain-roster", DOMAIN, "rosters/{domain}.txt", _render_domains, _verify_domains, kind="roster")
    for command in ("generate", "fleet"):
        out = tmp_path / command
        monkeypatch.setattr(formats, "FORMATS", FORMATS + (gone,))
        generate(folder, out)
        assert json.loads((out / "manifest.json").read_text())["artifacts"][-1]["kind"] == "roster"
        (out / "rosters/example.org.txt").write_text("edited")
        monkeypatch.setattr(formats, "FORMATS", FORMATS)
        result = generate(folder, out) if command == "generate" else fleet(folder, out, "jamf-pro")
        assert [c.path for c in result.changes if c.status == "removed"] == ["rosters/example.com.txt"], command
        assert not (out / "rosters/example.com.txt").exists()
        assert (out / "rosters/example.org.txt").read_text() == "edited"
        assert any("rosters/example.org.txt: it was changed after mailprofiles wrote it" in a for a in result.alerts)
        entries = json.loads((out / "manifest.json").read_text())["artifacts"]
        assert not any(e["path"].startswith("rosters/") for e in entries), command
