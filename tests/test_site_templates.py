"""Site templates (templates_dir): overrides that work, overrides the verifiers refuse, and where each file came from."""
from __future__ import annotations

import json

from conftest import BASE, ROOT, run_cli

from generator import generate

USERS = "users:\n  - {email: a@example.com, name: Anna, devices: [desktop, phone]}\n"
BUILT_IN = (ROOT / "templates" / "thunderbird" / "prefs.js.j2").read_text(encoding="utf-8")


def _site(write_inventory, files: dict[str, str]):
    folder = write_inventory(BASE + "templates_dir: site\n" + USERS)
    for name, text in files.items():
        (folder / "site" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "site" / name).write_text(text, encoding="utf-8")
    return folder


def test_an_override_is_used_and_named(write_inventory, tmp_path):
    prefs = BUILT_IN + 'user_pref("mail.server.server1.empty_trash_on_exit", true);\n'
    folder = _site(write_inventory, {
        "thunderbird/prefs.js.j2": prefs,
        "handout/lang/en.j2": (ROOT / "templates/handout/lang/en.j2").read_text().replace(
            '{% set title = "Your mail setup" %}', '{% set title = "Example GmbH: your mail, step by step" %}'),
    })
    out = tmp_path / "out"
    result = run_cli("generate", str(folder), "-o", str(out), "--diff")
    assert result.returncode == 0, result.stderr
    assert b'"mail.server.server1.empty_trash_on_exit", true' in (out / "a@example.com/desktop/prefs.js").read_bytes()
    assert b"Example GmbH: your mail, step by step" in (out / "a@example.com/handout.html").read_bytes()
    site = folder.resolve() / "site"
    assert f"# a@example.com/desktop/prefs.js: made from template {site / 'thunderbird/prefs.js.j2'}" in result.stdout
    assert "# a@example.com/desktop/outlook.prf: made from template built-in" in result.stdout
    shown = json.loads(run_cli("show", str(folder), "a@example.com", "--json").stdout)
    files = {f["format"]: f["template"] for f in shown["devices"][0]["files"]}
    assert files == {"thunderbird": str(site / "thunderbird/prefs.js.j2"), "apple": "built-in", "outlook": "built-in",
                     "outlook-autodiscover": "built-in", "outlook-autodiscover-reg": "built-in"}
    table = run_cli("show", str(folder), "a@example.com").stdout
    assert "file (thunderbird)" in table and "prefs.js.j2" in table


def test_an_override_that_breaks_the_format_is_refused(write_inventory, tmp_path):
    folder = write_inventory(BASE + USERS)
    out = tmp_path / "out"
    generate(folder, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _site(write_inventory, {"thunderbird/prefs.js.j2": BUILT_IN + 'user_pref("mail.server.server9.hostname", "x");\n'})
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 1, result.stderr
    assert f"{folder.resolve() / 'site/thunderbird/prefs.js.j2'}: the file made from this site template fails its " \
           "verification (a@example.com desktop thunderbird): pref mail.server.server9.hostname belongs to no account" \
        in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_template_errors_name_the_file_and_line(write_inventory, tmp_path):
    valid = 'user_pref("mail.identity.{{ keys.identity }}.valid", true);'
    assert valid in BUILT_IN
    broken = BUILT_IN.replace(valid, valid.replace("true", "{{ device.no_such_thing }}"))
    line = broken.splitlines().index(valid.replace("true", "{{ device.no_such_thing }}")) + 1
    folder = _site(write_inventory, {"thunderbird/prefs.js.j2": broken})
    result = run_cli("generate", str(folder), "-o", str(tmp_path / "out"))
    template = folder.resolve() / "site/thunderbird/prefs.js.j2"
    assert result.returncode == 1 and f"{template}:{line}:1: template error" in result.stderr, result.stderr
    _site(write_inventory, {"thunderbird/prefs.js.j2": "{% if %}\n"})
    result = run_cli("validate", str(folder))
    assert result.returncode == 0      # templates are used when files are made, not by validate
    result = run_cli("generate", str(folder), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and f"{template}:1:1: template error" in result.stderr and "TemplateSyntaxError" in \
        result.stderr
    assert not (tmp_path / "out").exists()


def test_site_templates_run_in_the_sandbox(write_inventory, tmp_path):
    folder = _site(write_inventory, {
        "thunderbird/prefs.js.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}\n" + BUILT_IN})
    result = run_cli("generate", str(folder), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "SecurityError" in result.stderr, result.stderr


def test_templates_dir_stays_in_the_inventory_folder(write_inventory, tmp_path):
    folder = write_inventory(BASE + "templates_dir: /etc\n" + USERS)
    result = run_cli("validate", str(folder))
    assert result.returncode == 1 and "templates_dir '/etc' leads outside the inventory's folder" in result.stderr
