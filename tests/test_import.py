"""import-autoconfig: real-world-shaped provider files round-trip; hostile XML is refused."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import examples, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from readers import read_autodiscover, read_plist, read_prefs, read_prf, read_reg_values

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
        elif artifact.client == "outlook" and artifact.path.endswith(".prf"):
            account = read_prf(content)["account1"]
            assert account["smtpserver"] == smtp["host"] and int(account["smtpport"]) == smtp["port"]
            assert int(account["smtpsecureconnection"]) == {"none": 0, "ssl": 1, "starttls": 2}[smtp["security"]]
        elif artifact.client == "outlook" and artifact.path.endswith(".xml"):
            protocols = {p["Type"]: p for p in read_autodiscover(content)["protocols"]}
            assert (protocols["SMTP"]["Server"], int(protocols["SMTP"]["Port"])) == (smtp["host"], smtp["port"])
            incoming = protocols[artifact.protocol.upper()]
            assert (incoming["Server"], int(incoming["Port"])) == (wanted_in["host"], wanted_in["port"])
        elif artifact.client == "outlook":
            (values,) = read_reg_values(content).values()          # the .reg that points Outlook at the file above
            assert values["PreferLocalXML"] == 1 and values[data["domains"][0]].endswith("\\autodiscover.xml")
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
    assert ("NOT IMPORTED: pop3 pop.mail.example:995: OAuth2 only, and the file names no identity provider"
            in result.stdout)
    assert "imap imap.mail.example:993: chose the password login; OAuth2 is listed too" in result.stdout
    assert "auth: password}" in result.stdout and "auth: oauth2}" not in result.stdout


def _validate(tmp_path: Path, printed: str, domain: str, client_id: str | None = None):
    folder = tmp_path / "inv"
    folder.mkdir(exist_ok=True)
    if client_id is not None:
        printed = re.sub(r"(?m)^  # client_id: .*$", f"  client_id: {client_id}", printed)
    (folder / "inventory.yaml").write_text(ORG + printed + f"users:\n  - {{email: a@{domain}, devices: [laptop]}}\n")
    return folder, run_cli("validate", str(folder))


def test_oauth2_only_servers_with_the_files_provider_become_an_oauth2_block(tmp_path):
    import yaml

    printed = run_cli("import-autoconfig", str(FILES / "oauth-only.xml"))
    assert printed.returncode == 0, printed.stderr
    data = yaml.safe_load(printed.stdout)
    assert data["servers"]["imap"]["auth"] == data["servers"]["smtp"]["auth"] == "oauth2"
    assert data["oauth2"] == {"issuer": "login.oauth.example",
                              "authorization_endpoint": "https://login.oauth.example/oauth2/authorize",
                              "token_endpoint": "https://login.oauth.example/oauth2/token",
                              "scopes": "mail offline_access"}
    assert json.loads(run_cli("import-autoconfig", str(FILES / "oauth-only.xml"), "--format", "json").stdout)[
        "oauth2"] == data["oauth2"]
    assert "# client_id: NOT IMPORTED: add the client ID registered at login.oauth.example" in printed.stdout
    assert "warning: oauth2: client_id: an autoconfig file carries no client ID" in printed.stderr
    # Pasted as printed, validate names the one thing to add, nothing else.
    _, checked = _validate(tmp_path, printed.stdout, "oauth.example")
    assert checked.returncode != 0
    problems = [line for line in checked.stdout.splitlines() + checked.stderr.splitlines() if "problem" not in line
                and line.strip() and "inventory.yaml:" in line]
    assert len(problems) == 1 and "oauth2: missing required key 'client_id'" in problems[0], checked.stdout + \
        checked.stderr
    # With the client ID added, it validates and generates the own provider's sign-in.
    folder, checked = _validate(tmp_path, printed.stdout, "oauth.example", "thunderbird-mail")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = generate(folder, tmp_path / "out")
    prefs = read_prefs((tmp_path / "out" / next(a.path for a in result.artifacts if a.client == "thunderbird"))
                       .read_bytes())
    assert prefs["mail.server.server1.authMethod"] == prefs["mail.smtpserver.smtp1.authMethod"] == 10


def test_microsoft_365_gets_oauth2_over_the_password_listed_beside_it(tmp_path):
    import yaml

    printed = run_cli("import-autoconfig", str(FILES / "office365.xml"))
    assert printed.returncode == 0, printed.stderr
    data = yaml.safe_load(printed.stdout)
    assert {kind: server["auth"] for kind, server in data["servers"].items()} == {
        "imap": "oauth2", "pop3": "oauth2", "smtp": "oauth2"}
    assert "oauth2" not in data      # known by the host name: no own provider
    assert ("smtp smtp.office365.com:587: chose OAuth2 over the other logins listed, as Microsoft 365 requires it"
            in printed.stdout)
    assert "<oAuth2> block (login.microsoftonline.com) is not printed" in printed.stdout
    _, checked = _validate(tmp_path, printed.stdout, "office365.example")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_oauth2_and_password_at_another_host_validates_as_printed(tmp_path):
    printed = run_cli("import-autoconfig", str(FILES / "oauth-and-password.xml"))
    assert printed.returncode == 0, printed.stderr
    _, checked = _validate(tmp_path, printed.stdout, "mail.example")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("tag, value, said", [
    ("authURL", "http://login.oauth.example/authorize", "authorization_endpoint is not an https URL"),
    ("issuer", "not a host", "oauth2.issuer"),
    ("tokenURL", "", "<tokenURL> is missing"),
])
def test_an_unusable_oauth2_block_is_said_and_its_servers_not_imported(tmp_path, tag, value, said):
    text = (FILES / "oauth-only.xml").read_text()
    text = re.sub(f"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", text)
    path = tmp_path / "config-v1.1.xml"
    path.write_text(text)
    result = run_cli("import-autoconfig", str(path))
    assert result.returncode == 1 and "no server could be imported" in result.stderr, result.stderr
    assert said in result.stdout and "the block is not imported" in result.stdout, result.stdout
    assert "OAuth2 only, and the file names no identity provider" in result.stdout


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


def _provider(host: str = "imap.example.com", port: str = "993") -> str:
    from xml.sax.saxutils import escape

    return ('<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="example.com">'
            "<domain>example.com</domain><displayName>Example</displayName>"
            f'<incomingServer type="imap"><hostname>{escape(host)}</hostname><port>{escape(port)}</port>'
            "<socketType>SSL</socketType><authentication>password-cleartext</authentication></incomingServer>"
            '<outgoingServer type="smtp"><hostname>smtp.example.com</hostname><port>465</port>'
            "<socketType>SSL</socketType><authentication>password-cleartext</authentication></outgoingServer>"
            "</emailProvider></clientConfig>")


YAML_SPECIAL = ["null", "Null", "NULL", "0x1f", "0o17", "on", "off", "yes", "no", "y", "n", "true", "False", "1e3",
                "2001:db8::", "2001:db8::1", "::1", "1_000", "1:20", "0b101", "nan", "inf", "017", "1.5.x", "-1a",
                "0", "1.2.3.4"]


def _imported(tmp_path: Path, host: str = "imap.example.com", port: str = "993"):
    from generator.ispdb import as_json, as_yaml, import_autoconfig

    path = tmp_path / "config-v1.1.xml"
    path.write_text(_provider(host, port), encoding="utf-8")
    result = import_autoconfig(path)
    return result, as_yaml(result), json.loads(as_json(result))


@pytest.mark.parametrize("host", ["null", "0x1f", "on", "yes", "~", "1e3", "2001:db8::", "0o17", "true"])
def test_yaml_special_hosts_are_printed_so_that_they_read_back_as_text(tmp_path, host):
    import yaml

    _, printed, data = _imported(tmp_path, host)
    if host == "~":      # not a host name: said, not printed
        assert "NOT IMPORTED: imap" in printed and "imap:" not in printed.split("servers:")[1]
        return
    assert yaml.safe_load(printed)["servers"]["imap"]["host"] == host == data["servers"]["imap"]["host"]


def test_the_command_prints_a_special_host_quoted(tmp_path):
    import yaml

    path = tmp_path / "config-v1.1.xml"
    path.write_text(_provider("null"))
    printed = run_cli("import-autoconfig", str(path))
    assert printed.returncode == 0, printed.stderr
    assert "host: 'null'" in printed.stdout and yaml.safe_load(printed.stdout)["servers"]["imap"]["host"] == "null"


_HOSTS = st.one_of(
    st.sampled_from(YAML_SPECIAL),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,8}(\.[A-Za-z0-9-]{1,8}){0,3}", fullmatch=True),
    st.ip_addresses().map(str),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=_HOSTS)
def test_any_host_reads_back_the_same_from_yaml_and_json(tmp_path, host):
    import yaml

    if any(ord(ch) < 0x20 and ch not in "\t\n\r" or 0xFFFE <= ord(ch) <= 0xFFFF for ch in host):
        return        # not a character an XML file can hold
    _, printed, data = _imported(tmp_path, host)
    assert yaml.safe_load(printed)["servers"] == data["servers"]
    if "imap" in data["servers"]:
        assert data["servers"]["imap"]["host"] == host.strip()
    else:
        assert any(p.startswith("imap ") for p in data["problems"])


@pytest.mark.parametrize("port", ["²", "٣", "99999", "-1", "", "0", "+993", " 9 9 3", "993.0", "1" * 400])
def test_ports_that_are_not_1_to_65535_are_not_imported(tmp_path, port):
    _, printed, data = _imported(tmp_path, port=port)
    assert "imap" not in data["servers"] and "smtp" in data["servers"]
    assert "NOT IMPORTED: imap" in printed and "is not 1..65535; not imported" in printed


def test_a_unicode_digit_port_is_said_not_an_internal_error(tmp_path):
    path = tmp_path / "config-v1.1.xml"
    path.write_text(_provider(port="²"), encoding="utf-8")
    result = run_cli("import-autoconfig", str(path))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "NOT IMPORTED: imap imap.example.com:" in result.stdout and "port '²' is not 1..65535" in result.stdout
