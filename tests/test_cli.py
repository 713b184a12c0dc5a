"""The command line, run as a subprocess exactly as an admin would."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import BASE, EXAMPLES, ROOT


def test_init_validate_generate_show(tmp_path, cli):
    folder = tmp_path / "site"
    result = cli("init", str(folder))
    assert result.returncode == 0, result.stderr
    assert (folder / "inventory.yaml").exists() and (folder / "users.csv").exists()
    assert cli("init", str(folder)).returncode == 1          # refuses to overwrite
    result = cli("validate", str(folder))
    assert result.returncode == 0, result.stderr
    assert "valid (4 users, 9 devices" in result.stdout
    out = tmp_path / "out"
    result = cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "created: anna@example.com/desktop/prefs.js" in result.stdout
    assert "apple-no-bcc" in result.stderr
    again = cli("generate", str(folder), "-o", str(out), "--json")
    recap = json.loads(again.stdout)
    # 30 device files (10 of them Outlook's Autodiscover pairs), 4 handouts, 1 autoconfig and 1 autodiscover file;
    # 10 device and policy warnings, 4 about the autoconfig file, 6 about the domain's Autodiscover answer, 4 POP3
    # retentions that the Outlook desktops' answers cannot carry, 5 fetch intervals that Apple (5, 10, 15 minutes) and
    # Outlook (5, 10) profiles cannot carry, once each
    assert recap["unchanged"] == 36 and recap["changed"] == 0 and recap["created"] == 0
    assert recap["manifest_changed"] is False and recap["warnings"] == 29
    shown = cli("show", str(folder), "anna@example.com", "--json")
    data = json.loads(shown.stdout)
    desktop = data["devices"][0]["settings"]
    assert desktop["servers.smtp.host"]["value"] == "smtp2.example.com"
    assert desktop["servers.smtp.host"]["source"].startswith("group sales (")
    assert desktop["protocol"]["source"] == "profile desktop (built-in)"
    text = cli("show", str(folder), "anna@example.com")
    assert text.returncode == 0 and "group sales" in text.stdout
    assert cli("show", str(folder), "nobody@example.com").returncode == 1


def test_check_and_diff_through_cli(tmp_path, cli):
    out = tmp_path / "out"
    result = cli("generate", str(EXAMPLES), "-o", str(out), "--check")
    assert result.returncode == 4 and not out.exists()         # 4: would change
    assert "check mode" in result.stdout
    cli("generate", str(EXAMPLES), "-o", str(out))
    inv = tmp_path / "inv.yaml"
    inv.write_text((EXAMPLES / "inventory.yaml").read_text().replace("users_file: users.csv\n", "")
                   .replace("Anna Muster", "Anna Muster-Beispiel"))
    result = cli("generate", str(inv), "-o", str(out), "--check", "--diff")
    assert result.returncode == 4
    assert "+user_pref(\"mail.identity.id1.fullName\", \"Anna Muster-Beispiel\");" in result.stdout
    assert "removed: ben@example.com/desktop/prefs.js" in result.stdout
    assert (out / "ben@example.com/desktop/prefs.js").exists()


def test_validate_reports_every_problem_with_position(tmp_path, cli, write_inventory):
    folder = write_inventory(BASE + """users:
  - email: a@example.com
    devices: [dekstop]
  - email: b@example.com
    devices: [desktop]
    colour: blue
""")
    result = cli("validate", str(folder))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(":8:15: users[0].devices[0].profile: 'dekstop' is not a device profile (did you mean 'desktop'?)" in line
               for line in lines), result.stderr
    assert any(":11:5: users[1].colour: unknown key 'colour'" in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    as_json = cli("validate", str(folder), "--format", "json")
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and data["valid"] is False and len(data["inventories"][0]["errors"]) == 2
    data = data["inventories"][0]
    assert data["errors"][0]["line"] == 8 and data["errors"][0]["field"] == "users[0].devices[0].profile"


def test_usage_errors_exit_2(cli, tmp_path):
    assert cli("generate", str(EXAMPLES)).returncode == 2             # missing -o
    assert cli("validate", str(EXAMPLES), "--format", "xml").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_version_and_module_entry_point(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("mailprofiles ")


def test_installed_package_works_from_another_directory(tmp_path):
    """Templates, schemas and profiles ship in the package: run from a folder unrelated to the source tree."""
    where = subprocess.run([sys.executable, "-c", "import generator, sys; print(generator.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True)
    if where.returncode != 0:
        import pytest
        pytest.skip("mailprofiles is not installed in this interpreter (run the README's install command)")
    package = where.stdout.strip()
    assert not package.startswith(str(ROOT / "generator")), "tests must run against the installed wheel, not the source tree"
    assert "site-packages" in package
    result = subprocess.run([sys.executable, "-m", "generator", "init", "site"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "generator", "generate", "site", "-o", "out"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "manifest.json").exists()


def test_large_runs_are_summarised_not_flooded(tmp_path, cli, write_inventory):
    users = "".join(f"  - {{email: u{i}@example.com, devices: [desktop, phone]}}\n" for i in range(30))
    folder = write_inventory(BASE + "users:\n" + users)
    result = cli("generate", str(folder), "-o", str(tmp_path / "out"))
    assert result.returncode == 0
    # 180 device files, 30 handouts, the autoconfig and autodiscover files
    assert "212 files changed (listed with --verbose or --json)" in result.stdout
    assert "warning: apple-no-bcc: 30 devices, e.g. u0@example.com/phone, u10@example.com/phone, " \
           "u11@example.com/phone, …: Apple's" in result.stderr
    # apple-no-bcc, apple-no-fetch-schedule (twice: once per interval, 10 and 15: a finding of no user is its own
    # line), apple-no-pop-retention, autoconfig-no-bcc, autoconfig-no-fetch-schedule, autodiscover-no-bcc,
    # autodiscover-no-fetch-schedule, autodiscover-no-pop-retention, autodiscover-pop-and-imap,
    # outlook-autodiscover-pop-retention, outlook-no-fetch-schedule, pointer
    assert len(result.stderr.splitlines()) == 13, result.stderr
    assert result.stderr.count("warning: apple: apple-no-fetch-schedule:") == 2
    full = json.loads(cli("generate", str(folder), "-o", str(tmp_path / "o2"), "--json").stdout)
    assert len(full["changes"]) == 212 and len(full["findings"]) == 61 + 4 + 4 + 30


def test_progress_bar_is_silent_when_not_a_terminal(monkeypatch):
    import io

    from rich.console import Console

    from generator.cli.console import ProgressBar

    stream = io.StringIO()
    progress = ProgressBar(Console(file=stream, force_terminal=False), delay=0.0)
    for done in range(1, 101):
        progress(done, 100)
    progress.close()
    assert progress.bar is None and stream.getvalue() == ""
    # A terminal that can show it: rich draws no live display on a dumb one, whatever the test runs in.
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    shown = io.StringIO()
    progress = ProgressBar(Console(file=shown, force_terminal=True, width=80), delay=0.0)
    progress(1, 10)
    progress.close()
    assert progress.bar is not None and "rendering" in shown.getvalue()
