"""Providers Thunderbird knows by the host name beyond Microsoft 365 and Google, from their published settings.

ISPDB-shaped config-v1.1.xml files (``tests/autoconfig/``) go through ``import-autoconfig``, ``validate`` and
``generate``: each OAuth2 server needs no ``oauth2:`` block, each format either signs in with OAuth2 or makes no
file and names why, and no server that signs in with OAuth2 is set up with a password.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from readers import read_plist, read_prefs

from generator import generate, load_inventory
from generator.formats.registry import named
from generator.formats.subjects import DomainDevices
from generator.oauth2 import provider_for

FILES = Path(__file__).resolve().parent / "autoconfig"
ORG = "organization: {name: Example GmbH, identifier: com.example}\n"
OAUTH2_METHOD, PASSWORD_METHOD = 10, 3
ALL = {"imap": "oauth2", "pop3": "oauth2", "smtp": "oauth2"}

# file, provider name (generator/oauth2.py), issuer, the auth import-autoconfig chooses per protocol
PROVIDERS = [
    ("yahoo.com", "Yahoo", "login.yahoo.com", ALL),
    ("aol.com", "AOL", "login.aol.com", ALL),
    ("hotmail.com", "Microsoft 365", "login.microsoftonline.com", ALL),
    ("fastmail.com", "Fastmail", "www.fastmail.com", ALL),
    # pop.yandex.com is not in Thunderbird's table and lists a password only.
    ("yandex.com", "Yandex", "oauth.yandex.com", {"imap": "oauth2", "pop3": "password", "smtp": "oauth2"}),
    # pop.mail.ru is not in Thunderbird's table; smtp.mail.ru publishes a password login only.
    ("mail.ru", "mail.ru", "o2.mail.ru", {"imap": "oauth2", "pop3": "password", "smtp": "password"}),
]


def _imported(name: str) -> tuple[str, dict[str, object]]:
    printed = run_cli("import-autoconfig", str(FILES / f"{name}.xml"))
    assert printed.returncode == 0, printed.stderr
    return printed.stdout, yaml.safe_load(printed.stdout)


@pytest.mark.parametrize("name, provider, issuer, auths", PROVIDERS)
def test_import_chooses_oauth2_at_a_host_thunderbird_knows(name, provider, issuer, auths):
    printed, data = _imported(name)
    servers = data["servers"]
    assert isinstance(servers, dict)
    assert {kind: server["auth"] for kind, server in servers.items()} == auths
    assert "oauth2" not in data, "a known provider needs no oauth2: block"
    assert "client_id" not in printed
    for server in servers.values():
        if server["auth"] == "oauth2":
            found = provider_for(server["host"])
            assert found is not None and (found.name, found.issuer) == (provider, issuer)
            assert f"{server['host']}:{server['port']}: chose OAuth2 over the other logins listed" in printed or \
                name == "hotmail.com"        # OAuth2 is all the file lists
    if provider != "Microsoft 365":
        assert f"Thunderbird knows {provider}'s sign-in ({issuer}) by the host name" in printed


def _generated(tmp_path: Path, name: str):
    printed, data = _imported(name)
    folder = tmp_path / "inv"
    folder.mkdir()
    domain = name
    (folder / "inventory.yaml").write_text(
        ORG + printed + f"users:\n  - {{email: anna@{domain}, devices: [laptop, desktop]}}\n", encoding="utf-8")
    checked = run_cli("validate", str(folder))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = tmp_path / "out"
    return load_inventory(folder), generate(folder, out), out, domain


@pytest.mark.parametrize("name, provider, issuer, auths", PROVIDERS)
def test_every_format_signs_in_with_oauth2_or_names_why_not(tmp_path, name, provider, issuer, auths):
    inventory, result, out, domain = _generated(tmp_path, name)
    codes = {(f.code, f.device) for f in result.findings}
    messages = {f.code: f.message for f in result.findings}
    thunderbird, autoconfig = named("thunderbird"), named("autoconfig")
    assert not {code for code, _ in codes} & {"thunderbird-oauth2-custom-provider", "autoconfig-oauth2-provider"}
    for device in inventory.devices:
        servers = (device.incoming, device.outgoing)
        oauth2 = [s for s in servers if s.auth == "oauth2"]
        assert [s.auth for s in servers] == [auths[device.protocol], auths["smtp"]]
        assert device.oauth2 is None
        folder = out / device.user.email / device.name
        # Thunderbird: authMethod 10 wherever the server signs in with OAuth2, and the verifier agrees.
        prefs_bytes = (folder / "prefs.js").read_bytes()
        prefs = read_prefs(prefs_bytes)
        assert prefs["mail.server.server1.authMethod"] == (
            OAUTH2_METHOD if device.incoming.auth == "oauth2" else PASSWORD_METHOD)
        assert prefs["mail.smtpserver.smtp1.authMethod"] == (
            OAUTH2_METHOD if device.outgoing.auth == "oauth2" else PASSWORD_METHOD)
        assert thunderbird.check(prefs_bytes, inventory.organization, device) == []
        # Outlook: a PRF cannot sign in with OAuth2: no file, and the warning says so.
        prf = [a for a in result.artifacts if a.client == "outlook" and a.device == device.name]
        if oauth2:
            assert prf == [] and ("outlook-no-oauth2", device.name) in codes
        # Apple: an OAuth2 payload exists for Microsoft only; for the others no file and a warning naming them.
        mobileconfig = folder / "mail.mobileconfig"
        if not oauth2:
            assert mobileconfig.is_file()
        elif provider == "Microsoft 365":
            payload = read_plist(mobileconfig.read_bytes())["PayloadContent"][0]
            assert payload["PayloadType"] == "com.apple.eas.account" and payload["OAuth"] is True
            assert ("apple-oauth2-exchange", device.name) in codes
        else:
            assert not mobileconfig.exists() and ("apple-no-oauth2-payload", device.name) in codes
            said = next(f.message for f in result.findings
                        if f.code == "apple-no-oauth2-payload" and f.device == device.name)
            assert f"({provider}, {issuer})" in said and "own identity provider" not in said
            assert "Exchange host" not in said
        # Handout: the sign-in step names the issuer; a password is asked for only where a server uses one.
        page = (out / device.user.email / "handout.html").read_text(encoding="utf-8")
        assert f"<code>{issuer}</code>" in page and f"your {provider} account" in page
    if "outlook-no-oauth2" in messages:
        assert "neither a PRF nor an Autodiscover file can make Outlook sign in with OAuth2" in \
            messages["outlook-no-oauth2"]
    # Autoconfig: OAuth2 where the inventory says so, no <oAuth2> block (Thunderbird knows the host), verified.
    xml = (out / f"autoconfig/{domain}/mail/config-v1.1.xml").read_bytes()
    wanted = sum(1 for auth in auths.values() if auth == "oauth2")
    assert xml.count(b"<authentication>OAuth2</authentication>") == wanted
    assert b"<oAuth2>" not in xml and issuer.encode() not in xml
    subject = DomainDevices(domain, inventory.devices)
    assert autoconfig.check(xml, inventory.organization, subject) == []
    # Nothing that signs in with OAuth2 is written as a password login.
    assert xml.count(b"password-cleartext") == len(auths) - wanted


def test_a_consumer_provider_is_not_called_an_organization(tmp_path):
    """Yahoo's users are not told to have their organization approve Thunderbird (Microsoft 365 and Google)."""
    _, _, out, _ = _generated(tmp_path, "yahoo.com")
    page = (out / "anna@yahoo.com" / "handout.html").read_text(encoding="utf-8")
    assert "<code>login.yahoo.com</code>" in page
    assert "approve" not in page
    assert not re.search(r"password:", page)


def test_the_apple_verifier_refuses_a_profile_for_a_provider_without_a_payload(tmp_path):
    """A profile offered for a Yahoo device (none is made) is refused as unexpected, not a crash."""
    inventory, _, _, _ = _generated(tmp_path, "yahoo.com")
    device = next(d for d in inventory.devices if d.incoming.auth == "oauth2")
    m365 = Path(__file__).resolve().parent / "golden" / "oauth2-m365" / "anna@example.com" / "laptop"
    assert named("apple").check((m365 / "mail.mobileconfig").read_bytes(), inventory.organization, device) == [
        "no Apple payload signs in to this device's servers, so no profile is expected"]
