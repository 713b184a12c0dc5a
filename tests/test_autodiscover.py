"""Outlook's Autodiscover files: the domain's answer, each Outlook device's own answer and its autodiscover.reg.

The bytes are what Microsoft specifies (see generator/formats/render/autodiscover.py and autodiscover_reg.py), each
verifier refuses what breaks its format, and the STARTTLS case that has no PRF gets the pair and a handout that says
how to apply it. A real automx2 answering Outlook's POST is compared with these files in test_autodiscover_automx2.py;
real Dovecot and SMTP servers accept their settings in test_real_servers.py.
"""
from __future__ import annotations

import re

import pytest
from conftest import BASE
from readers import read_autodiscover, read_reg_values

from generator import generate, load_inventory
from generator.formats.registry import named
from generator.model import Site

STARTTLS = BASE.replace("imap: {host: imap.example.com}", "imap: {host: imap.example.com, security: starttls}") \
    .replace("pop3: {host: pop.example.com}", "pop3: {host: pop.example.com, security: starttls}")


def _device(write_inventory, text: str, name: str = "laptop"):
    inventory = load_inventory(write_inventory(text))
    return inventory, next(d for d in inventory.devices if d.name == name)


def test_the_pair_is_made_for_every_outlook_device_and_stands_in_for_the_prf_where_starttls_is_asked(
        write_inventory, tmp_path):
    folder = write_inventory(STARTTLS + "users:\n  - {email: a@example.com, name: A, login: a, devices: [desktop, laptop]}\n")
    out = tmp_path / "out"
    result = generate(folder, out)
    paths = {a.path for a in result.artifacts}
    for device in ("desktop", "laptop"):
        assert f"a@example.com/{device}/outlook.prf" not in paths
        assert {f"a@example.com/{device}/autodiscover.xml", f"a@example.com/{device}/autodiscover.reg"} <= paths
        (incoming, smtp) = read_autodiscover((out / f"a@example.com/{device}/autodiscover.xml").read_bytes())["protocols"]
        assert (incoming["Encryption"], incoming["SSL"], incoming["Port"]) == ("TLS", "on", "143" if device == "laptop"
                                                                               else "110")
        assert (smtp["Encryption"], smtp["UsePOPAuth"], smtp["SMTPLast"]) == ("SSL", "on", "off")
    page = (out / "a@example.com/handout.html").read_text(encoding="utf-8")
    assert "<code>laptop/outlook.prf</code>: not made for this device; the other Outlook files here set it up instead." \
        in page
    assert "set it up with the two Autodiscover files above (a PRF cannot ask for STARTTLS)" in page
    assert "C:\\ProgramData\\Autodiscover\\a@example.com\\autodiscover.xml" in page
    assert "<code>reg import autodiscover.reg</code>" in page
    entries = {a.path: a for a in result.artifacts}
    assert (entries["a@example.com/laptop/autodiscover.reg"].kind, entries["a@example.com/laptop/autodiscover.reg"].client) \
        == ("device", "outlook")
    assert entries["autodiscover/example.com/autodiscover.xml"].kind == "autodiscover"


def test_the_german_handout_says_the_same(write_inventory, tmp_path):
    folder = write_inventory(STARTTLS.replace("identifier: com.example}", "identifier: com.example, language: de}")
                             + "users:\n  - {email: a@example.com, name: A, devices: [laptop]}\n")
    generate(folder, tmp_path / "out")
    page = (tmp_path / "out/a@example.com/handout.html").read_text(encoding="utf-8")
    assert "für dieses Gerät nicht erstellt; die anderen Outlook-Dateien hier richten es stattdessen ein." in page
    assert "als <code>C:\\ProgramData\\Autodiscover\\a@example.com\\autodiscover.xml</code> speichern" in page
    assert "mit den beiden Autodiscover-Dateien oben einrichten" in page


def test_the_reg_file_is_what_regedit_writes(write_inventory):
    inventory, device = _device(write_inventory, BASE + "users:\n  - {email: Anna.M@Example.com, devices: [laptop]}\n")
    data = named("outlook-autodiscover-reg").render(inventory.site, device)
    assert data.startswith(b"\xff\xfe")
    text = data[2:].decode("utf-16-le")
    assert text == ("Windows Registry Editor Version 5.00\r\n\r\n"
                    "[HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook\\AutoDiscover]\r\n"
                    "\"PreferLocalXML\"=dword:00000001\r\n"
                    "\"example.com\"=\"C:\\\\ProgramData\\\\Autodiscover\\\\anna.m@example.com\\\\autodiscover.xml\"\r\n"
                    "\r\n")
    assert read_reg_values(data) == {"HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook\\AutoDiscover": {
        "PreferLocalXML": 1, "example.com": "C:\\ProgramData\\Autodiscover\\anna.m@example.com\\autodiscover.xml"}}


def test_a_path_with_quotes_and_backslashes_reads_back_and_a_line_break_is_refused(write_inventory, monkeypatch):
    from generator.errors import UnrepresentableValue
    from generator.formats.render import autodiscover_reg

    inventory, device = _device(write_inventory, BASE + "users:\n  - {email: a@example.com, devices: [laptop]}\n")
    fmt = named("outlook-autodiscover-reg")
    monkeypatch.setattr(autodiscover_reg, "local_path", lambda device: 'C:\\a "b"\\\\c\\')
    data = fmt.render(inventory.site, device)
    (values,) = read_reg_values(data).values()
    assert values["example.com"] == 'C:\\a "b"\\\\c\\' and set(values) == {"PreferLocalXML", "example.com"}
    monkeypatch.setattr(autodiscover_reg, "local_path", lambda device: 'C:\\x"\r\n"PreferLocalXML"=dword:00000000')
    with pytest.raises(UnrepresentableValue):
        fmt.render(inventory.site, device)


@pytest.mark.parametrize("old, new, problem", [
    ("<Encryption>SSL</Encryption>", "<Encryption>TLS</Encryption>", "incoming is Connection"),
    ("<LoginName>anna</LoginName>", "<LoginName>ben</LoginName>", "incoming is Connection"),
    ("<SPA>off</SPA>", "<SPA>on</SPA>", "<SPA> is 'on', expected 'off'"),
    ("<SSL>on</SSL>", "<SSL>off</SSL>", "<SSL> is 'off', expected 'on'"),
    ("<AuthRequired>on</AuthRequired>", "<AuthRequired>on</AuthRequired><Password>x</Password>",
     "elements we never write: ['Password']"),
    ("<Action>settings</Action>", "<Action>redirectAddr</Action>", "<Action>settings</Action>"),
    ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
     "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE x [<!ENTITY e \"x\">]>\n", "cannot be read"),
    ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
     "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>\n",
     "cannot be read"),
    ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
     "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n", "cannot be read"),
    ("<Server>imap.example.com</Server>", "<Server>&e;</Server>", "cannot be read"),
    ("<Port>993</Port>", "<Port>993</Port><Port>143</Port>", "<Protocol> needs exactly one <Port>"),
    ("<DisplayName>Anna Muster</DisplayName>", "<DisplayName>Mallory</DisplayName>", "<DisplayName> is 'Mallory'"),
])
def test_the_xml_verifier_refuses_what_breaks_the_answer(write_inventory, old, new, problem):
    inventory, device = _device(write_inventory, BASE + "users:\n  - {email: anna@example.com, name: Anna Muster, "
                                                         "login: anna, devices: [laptop]}\n")
    fmt = named("outlook-autodiscover")
    data = fmt.render(inventory.site, device)
    assert fmt.check(data, inventory.organization, device) == []
    assert old.encode() in data
    problems = fmt.check(data.replace(old.encode(), new.encode(), 1), inventory.organization, device)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("mutate, problem", [
    (lambda t: t.replace('"PreferLocalXML"=dword:00000001', '"PreferLocalXML"=dword:00000000'), "PreferLocalXML is"),
    (lambda t: t.replace("AutoDiscover]\r\n", "AutoDiscover]\r\n\"Evil\"=\"x\"\r\n"), "values that are not ours"),
    (lambda t: t.replace("\r\n\r\n[", "\r\n\r\n[HKEY_LOCAL_MACHINE\\Software\\X]\r\n\"a\"=\"b\"\r\n[", 1),
     "expected only"),
    (lambda t: t.replace("\r\n", "\n"), "without CRLF"),
    (lambda t: t.replace('"example.com"=', '"example.org"='), "the value named 'example.com'"),
    (lambda t: t.replace('\\\\autodiscover.xml"', '\\autodiscover.xml"'), "no value of a key"),
    (lambda t: t.replace("Windows Registry Editor Version 5.00", "REGEDIT4"), "must start with"),
])
def test_the_reg_verifier_refuses_what_breaks_the_file(write_inventory, mutate, problem):
    inventory, device = _device(write_inventory, BASE + "users:\n  - {email: a@example.com, devices: [laptop]}\n")
    fmt = named("outlook-autodiscover-reg")
    data = fmt.render(inventory.site, device)
    assert fmt.check(data, inventory.organization, device) == []
    changed = b"\xff\xfe" + mutate(data[2:].decode("utf-16-le")).encode("utf-16-le")
    problems = fmt.check(changed, inventory.organization, device)
    assert any(problem in p for p in problems), problems
    assert fmt.check(data[2:], inventory.organization, device) == [
        "the file does not start with the UTF-16LE byte-order mark (FF FE) of regedit's files"]


def test_the_domains_answer_names_no_user_and_says_what_it_cannot(write_inventory, tmp_path):
    users = ("groups: {sales: {servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}}}\n"
             "users:\n  - {email: a@example.com, login: a, devices: [desktop, laptop]}\n"
             "  - {email: b@example.com, groups: [sales], devices: [laptop]}\n"
             "  - {email: c@example.com, devices: [laptop]}\n")
    result = generate(write_inventory(BASE + users), tmp_path / "out")
    data = (tmp_path / "out/autodiscover/example.com/autodiscover.xml").read_bytes()
    answer = read_autodiscover(data)
    assert answer["user"] is None and [p["Type"] for p in answer["protocols"]] == ["IMAP", "POP3", "SMTP"]
    assert all("LoginName" not in p for p in answer["protocols"])
    assert answer["protocols"][2]["Server"] == "smtp.example.com"       # two of three laptops, the desktop
    codes = {f.code: f.message for f in result.findings if f.client == "autodiscover"}
    assert "a@example.com" in codes["autodiscover-domain-login"] and "c@example.com" not in codes["autodiscover-domain-login"]
    assert "smtp2.example.com:587 starttls for sales" in codes["autodiscover-split-domain"]
    assert {"autodiscover-pop-and-imap", "autodiscover-no-bcc", "autodiscover-no-pop-retention",
            "autodiscover-no-fetch-schedule"} <= set(codes)
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n') and b"\r" not in data


def test_the_domains_verifier_refuses_a_user_or_a_server_no_device_has(write_inventory):
    from generator.formats.subjects import DomainDevices

    inventory = load_inventory(write_inventory(BASE + "users:\n  - {email: a@example.com, devices: [laptop]}\n"))
    fmt, subject = named("autodiscover"), DomainDevices("example.com", inventory.devices)
    data = fmt.render(Site(inventory.organization), subject)
    assert fmt.check(data, inventory.organization, subject) == []
    tampered = data.replace(b"<Server>imap.example.com</Server>", b"<Server>imap.evil.example</Server>")
    assert any("is no device's server" in p for p in fmt.check(tampered, inventory.organization, subject))
    with_login = data.replace(b"<SPA>", b"<LoginName>x</LoginName><SPA>", 1)
    assert any("a domain's answer is no user's" in p for p in fmt.check(with_login, inventory.organization, subject))
    assert re.search(rb"<Type>IMAP</Type>.*<Type>SMTP</Type>", data, re.S)


def test_no_file_of_the_pair_for_an_oauth2_device(write_inventory, tmp_path):
    text = BASE.replace("imap: {host: imap.example.com}", "imap: {host: outlook.office365.com, auth: oauth2}") \
        .replace("smtp: {host: smtp.example.com}", "smtp: {host: smtp.office365.com, auth: oauth2}")
    result = generate(write_inventory(text + "users:\n  - {email: a@example.com, devices: [laptop]}\n"),
                      tmp_path / "out")
    assert not [a for a in result.artifacts if a.client == "outlook"]
    assert [f.code for f in result.findings if f.device == "laptop" and f.code == "outlook-no-oauth2"] == \
        ["outlook-no-oauth2"]                     # said once for the client, not once per file
    page = (tmp_path / "out/a@example.com/handout.html").read_text(encoding="utf-8")
    assert page.count("Outlook: no file for this device") == 1
