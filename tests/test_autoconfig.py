"""Autoconfig files (one per mail domain): read back independently and held against the per-device files."""
from __future__ import annotations

import pytest
from conftest import BASE
from readers import read_autoconfig, read_prefs

from generator import generate, validate

SOCKET = {"SSL": 3, "STARTTLS": 2, "plain": 0}


def test_autoconfig_agrees_with_every_device_file(write_inventory, tmp_path):
    folder = write_inventory(BASE.replace("imap: {host: imap.example.com}", "imap: {host: imap.example.com, port: 143, "
                                          "security: starttls}") + (
        "users:\n  - {email: anna@example.com, devices: [desktop, laptop]}\n"
        "  - {email: ben@example.com, devices: [desktop]}\n"
        "  - {email: cem@example.org, login: cem, devices: [laptop]}\n"))
    out = tmp_path / "out"
    result = generate(folder, out)
    com = read_autoconfig((out / "autoconfig/example.com/mail/config-v1.1.xml").read_bytes())
    assert com["domain"] == com["id"] == "example.com"
    assert set(com["servers"]) == {"imap", "pop3", "smtp"}
    assert com["servers"]["pop3"]["pop3"] == {"leaveMessagesOnServer": "true", "daysToLeaveMessagesOnServer": "28",
                                              "downloadOnBiff": "true"}
    assert all(s["username"] == "%EMAILADDRESS%" for s in com["servers"].values())
    org = read_autoconfig((out / "autoconfig/example.org/mail/config-v1.1.xml").read_bytes())
    assert set(org["servers"]) == {"imap", "smtp"} and org["servers"]["imap"]["username"] == "%EMAILLOCALPART%"
    for artifact in result.artifacts:
        if artifact.client != "thunderbird":
            continue
        prefs = read_prefs((out / artifact.path).read_bytes())
        config = com if artifact.user.endswith("@example.com") else org
        incoming = config["servers"][prefs["mail.server.server1.type"]]
        assert incoming["hostname"] == prefs["mail.server.server1.hostname"]
        assert int(incoming["port"]) == prefs["mail.server.server1.port"]
        assert SOCKET[incoming["socketType"]] == prefs["mail.server.server1.socketType"]
        smtp = config["servers"]["smtp"]
        assert (smtp["hostname"], int(smtp["port"]), SOCKET[smtp["socketType"]]) == (
            prefs["mail.smtpserver.smtp1.hostname"], prefs["mail.smtpserver.smtp1.port"],
            prefs["mail.smtpserver.smtp1.try_ssl"])
    manifest_kinds = {a.kind for a in result.artifacts}
    assert {"device", "autoconfig", "handout"} <= manifest_kinds
    entry = next(a for a in result.artifacts if a.kind == "autoconfig" and a.domain == "example.org")
    assert entry.path == "autoconfig/example.org/mail/config-v1.1.xml"
    assert {f.code for f in result.findings if f.client == "autoconfig"} == {"autoconfig-no-bcc"}


def test_what_one_file_cannot_say_is_named(write_inventory):
    folder = write_inventory(BASE + (
        "settings: {pop3: {delete_after_days: null}}\n"
        "groups:\n  sales: {servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}}\n"
        "users:\n  - {email: anna@example.com, login: anna, groups: [sales], devices: [desktop]}\n"
        "  - {email: ben@example.com, login: bb, devices: [desktop]}\n"))
    messages = {f.code: f.message for f in validate(folder).findings if f.client == "autoconfig"}
    assert "smtp.example.com:465 ssl for (no group); smtp2.example.com:587 starttls for sales" in \
        messages["autoconfig-split-domain"]
    assert "must type their login by hand: anna@example.com, ben@example.com" in messages["autoconfig-custom-logins"]
    assert "cannot say 'never delete from the server'" in messages["autoconfig-pop-keep-forever"]


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t.replace(b"<socketType>SSL</socketType>", b"<socketType>TLS</socketType>", 1), "vocabulary"),
    (lambda t: t.replace(b"<port>993</port>", b"<port>994</port>"), "is no device's server"),
    (lambda t: t.replace(b'<?xml version="1.0" encoding="UTF-8"?>\n',
                         b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n'), "cannot be read"),
    (lambda t: t.replace(b"%EMAILADDRESS%", b"anna", 1), "is not a placeholder"),
    (lambda t: t.replace(b'id="example.com"', b'id="example.org"'), "is not its <domain>"),
])
def test_the_autoconfig_verifier_catches(write_inventory, tmp_path, mutation, rule):
    from generator import load_inventory
    from generator.formats.registry import named
    from generator.plan.scopes import DomainDevices

    folder = write_inventory(BASE + "users:\n  - {email: anna@example.com, devices: [desktop, laptop]}\n")
    inventory = load_inventory(folder)
    subject = DomainDevices("example.com", inventory.devices)
    fmt = named("autoconfig")
    sound = fmt.render(inventory.site, subject)
    assert fmt.check(sound, inventory.organization, subject) == []
    broken = mutation(sound)
    assert broken != sound
    assert any(rule in p for p in fmt.check(broken, inventory.organization, subject))
