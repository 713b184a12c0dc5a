"""import-autoconfig: real-world-shaped provider files round-trip; hostile XML is refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from readers import read_plist, read_prefs, read_prf

from generator import generate

FILES = Path(__file__).resolve().parent / "autoconfig"
ORG = "organization: {name: Example GmbH, identifier: com.example}\n"
SOCKET = {"ssl": 3, "starttls": 2, "none": 0}


@pytest.mark.parametrize("name, devices", [
    ("charter.net", "[desktop, laptop]"),
    ("oauth-and-password", "[laptop]"),
    ("several-servers", "[laptop]"),
])
def test_provider_settings_round_trip(tmp_path, name, devices):
    printed = run_cli("import-autoconfig", str(FILES / f"{name}.xml"))
    assert printed.returncode == 0, printed.stderr
    data = json.loads(run_cli("import-autoconfig", str(FILES / f"{name}.xml"), "--format", "json").stdout)
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(ORG + printed.stdout + f"users:\n  - {{email: a@{data['domains'][0]}, "
                                           f"devices: {devices}}}\n")
    out = tmp_path / "out"
    result = generate(folder, out)
    checked = 0
    for artifact in result.artifacts:
        content = (out / artifact.path).read_bytes()
        wanted_in = data["servers"][artifact.protocol] if artifact.protocol else None
        smtp = data["servers"]["smtp"]
        if artifact.client == "thunderbird":
            prefs = read_prefs(content)
            assert (prefs["mail.server.server1.hostname"], prefs["mail.server.server1.port"],
                    prefs["mail.server.server1.socketType"]) == (wanted_in["host"], wanted_in["port"],
                                                                  SOCKET[wanted_in["security"]])
            assert (prefs["mail.smtpserver.smtp1.hostname"], prefs["mail.smtpserver.smtp1.port"],
                    prefs["mail.smtpserver.smtp1.try_ssl"]) == (smtp["host"], smtp["port"], SOCKET[smtp["security"]])
        elif artifact.client == "apple":
            mail = read_plist(content)["PayloadContent"][0]
            assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"]) == (
                wanted_in["host"], wanted_in["port"])
            assert (mail["OutgoingMailServerHostName"], mail["OutgoingMailServerPortNumber"]) == (smtp["host"], smtp["port"])
        elif artifact.client == "outlook":
            account = read_prf(content)["account1"]
            assert account["smtpserver"] == smtp["host"] and int(account["smtpport"]) == smtp["port"]
            assert int(account["smtpsecureconnection"]) == {"none": 0, "ssl": 1, "starttls": 2}[smtp["security"]]
        else:
            continue
        checked += 1
    assert checked >= 2


def test_choices_and_refusals_are_said(tmp_path):
    result = run_cli("import-autoconfig", str(FILES / "several-servers.xml"))
    assert "chose the encrypted imap.provider.example:993 ssl (others: imap.provider.example:143 starttls)" in result.stdout
    assert "NOT IMPORTED: pop3: only a plain-text server is published (pop.provider.example:110)" in result.stdout
    assert "warning: pop3: only a plain-text server" in result.stderr
    assert "# logins: the part before the @ (%EMAILLOCALPART%)" in result.stdout
    result = run_cli("import-autoconfig", str(FILES / "oauth-and-password.xml"))
    assert "NOT IMPORTED: pop3 pop.mail.example:995: no password login (authentication: 'OAuth2')" in result.stdout
    assert "auth: password" in result.stdout
    only = run_cli("import-autoconfig", str(FILES / "oauth-only.xml"))
    assert only.returncode == 1 and "no server could be imported" in only.stderr


@pytest.mark.parametrize("content, message", [
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
     '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><clientConfig>&c;</clientConfig>', "refused: DTDForbidden"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><clientConfig>&e;</clientConfig>',
     "refused: DTDForbidden"),
    ("<clientConfig>" + "<a>" * 50_000 + "</a>" * 50_000 + "</clientConfig>", "no <emailProvider>"),
    ("<clientConfig><emailProvider>" + "x" * (1024 * 1024) + "</emailProvider></clientConfig>", "limit 1,048,576"),
    ("not xml at all", "not well-formed XML"),
    ("<html><body>a web page</body></html>", "the root element is <'html'>"),
], ids=["billion-laughs", "external-entity", "deep-nesting", "huge", "not-xml", "wrong-root"])
def test_hostile_files_are_refused(tmp_path, content, message):
    path = tmp_path / "config-v1.1.xml"
    path.write_text(content)
    result = run_cli("import-autoconfig", str(path))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "root:" not in result.stdout + result.stderr
