"""OAuth2 sign-in: the providers table against Thunderbird's own, the inventory's ``oauth2:`` block, and every format.

Thunderbird's table is read from the installed Thunderbird (``modules/OAuth2Providers.sys.mjs`` in
``omni.ja``); without Thunderbird those tests are skipped (and fail under CI).
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from golden_files import assert_matches_golden

from generator import generate, load_inventory
from generator.errors import InventoryError
from generator.formats.registry import named
from generator.formats.subjects import DomainDevices
from generator.formats.verify import autoconfig as autoconfig_verifier
from generator.model import OAuth2
from generator.oauth2 import (
    AOL,
    BY_HOST,
    FASTMAIL,
    GOOGLE,
    MAIL_RU,
    MICROSOFT_365,
    PROVIDERS,
    YAHOO,
    YANDEX,
    provider_for,
    sign_in,
)

OMNI = Path("/usr/lib/thunderbird/omni.ja")
ORG = {"name": "Example GmbH", "identifier": "com.example"}
OWN = {"issuer": "login.example.com", "authorization_endpoint": "https://login.example.com/oauth2/authorize",
       "token_endpoint": "https://login.example.com/oauth2/token", "client_id": "thunderbird-mail",
       "scopes": "openid email offline_access"}


def _providers_module() -> str:
    if not OMNI.is_file():
        if os.environ.get("CI"):
            pytest.fail("Thunderbird is needed (apt-get install thunderbird)")
        pytest.skip("Thunderbird is not installed")
    with zipfile.ZipFile(OMNI) as omni:
        return omni.read("modules/OAuth2Providers.sys.mjs").decode("utf-8")


def _js_scopes(module: str, const: str) -> dict[str, str]:
    body = re.search(rf"const {const} = \{{(.*?)\}};", module, re.S)
    assert body, const
    return dict(re.findall(r'^\s*(\w+):\s*"([^"]*)"', body.group(1), re.M))


def _block(module: str, start: str) -> str:
    begin = module.index(start)
    return module[begin:module.index("\n]);", begin)]


def _js_object(text: str) -> dict[str, str]:
    return dict(re.findall(r'^\s*(\w+):\s*"([^"]*)"', text, re.M))


def _js_hostnames(module: str) -> dict[str, tuple[str, dict[str, str] | str]]:
    """``kHostnames``: each key and its issuer and scopes, as one string (every protocol) or one per protocol."""
    block = _block(module, "var kHostnames = new Map([")
    entries = re.findall(r'\[\s*"([\w.-]+)",\s*\[\s*"([\w.-]+)",\s*("[^"]*"|\w+(?:\.\w+)?|\{.*?\})\s*,?\s*\]',
                         block, re.S)
    table: dict[str, tuple[str, dict[str, str] | str]] = {}
    for host, issuer, value in entries:
        scopes: dict[str, str] | str
        if value.startswith('"'):
            scopes = value.strip('"')
        elif value.startswith("{"):
            scopes = _js_object(value)
        elif "." in value:
            const, key = value.split(".")
            scopes = _js_scopes(module, const)[key]
        elif string := re.search(rf'^const {value} = "([^"]*)";', module, re.M):
            scopes = string.group(1)
        else:
            scopes = _js_scopes(module, value)
        table[host] = (issuer, scopes)
    # Every entry is understood: the keys the loose pattern sees are the ones parsed.
    assert set(table) == set(re.findall(r'\[\s*"([\w.-]+)",\s*\[', block))
    return table


def _js_issuer(module: str, issuer: str) -> dict[str, str]:
    block = _block(module, "var kIssuers = new Map([")
    start = block.index(f'name: "{issuer}"')
    body = block[start:block.index("}", start)]
    return dict(re.findall(r'(\w+):\s*`?"?([^"`,\n]*)"?`?,', body))


def _thunderbird_lookup(module: str, host: str, protocol: str) -> tuple[str, str] | None:
    """``OAuth2Providers.getHostnameDetails(host, protocol)`` as the module states it: the host or its longest
    parent domain in ``kHostnames``; a scope string for every protocol, or the protocol's scope plus ``extra``."""
    table = _js_hostnames(module)
    while "." in host:
        if host in table:
            issuer, scopes = table[host]
            if isinstance(scopes, str):
                return issuer, scopes
            if protocol not in scopes:
                return None
            return issuer, " ".join(s for s in (scopes[protocol], scopes.get("extra")) if s)
        host = host.split(".", 1)[1]
    return None


# kHostnames entries that are no mail server's (CardDAV, CalDAV, Graph), left out of generator/oauth2.py.
NOT_MAIL = {"www.googleapis.com", "apidata.googleusercontent.com", "carddav.fastmail.com", "caldav.fastmail.com",
            "graph.microsoft.com"}


def _mail_hosts(module: str) -> dict[str, tuple[str, dict[str, str] | str]]:
    table = _js_hostnames(module)
    assert NOT_MAIL <= set(table), "an entry left out is gone from Thunderbird's table: update NOT_MAIL"
    return {host: value for host, value in table.items() if host not in NOT_MAIL and not host.endswith(".test")}


def test_every_mail_entry_of_thunderbirds_table_is_ours():
    module = _providers_module()
    mail = _mail_hosts(module)
    assert {"yahoo.com", "att.net", "aol.com", "imap.mail.ru", "imap.fastmail.com", "thundermail.com"} <= set(mail)
    assert sorted(BY_HOST) == sorted(mail)
    assert sorted(autoconfig_verifier.KNOWN_HOSTS) == sorted(mail)     # the verifier's own restatement
    for host, (issuer, _) in mail.items():
        provider = provider_for(host)
        assert provider is not None and provider.issuer == issuer, host
        for name in (host, f"imap.{host}", f"smtp.mail.{host}"):
            for protocol in ("imap", "pop3", "smtp"):
                wanted = _thunderbird_lookup(module, name, protocol)
                assert wanted is not None, (name, protocol)
                found = provider_for(name)
                assert found is provider and (found.issuer, found.scope(protocol, name)) == wanted, (name, protocol)


def test_the_providers_table_is_thunderbirds():
    module = _providers_module()
    for provider in PROVIDERS:
        for host in provider.hosts:
            for protocol in ("imap", "pop3", "smtp"):
                assert _thunderbird_lookup(module, host, protocol) == (provider.issuer,
                                                                       provider.scope(protocol, host)), (host, protocol)
        issuer = _js_issuer(module, provider.issuer)
        assert issuer["authorizationEndpoint"] == provider.authorization_endpoint, provider.name
        assert issuer["tokenEndpoint"] == provider.token_endpoint, provider.name
    assert _thunderbird_lookup(module, "imap.example.com", "imap") is None


def test_known_hosts():
    assert provider_for("outlook.office365.com") is MICROSOFT_365
    assert provider_for("SMTP.Office365.com") is MICROSOFT_365
    assert provider_for("smtp-mail.outlook.com") is MICROSOFT_365
    assert provider_for("imap.gmail.com") is GOOGLE and provider_for("smtp.gmail.com") is GOOGLE
    assert provider_for("imap.googlemail.com") is GOOGLE
    assert provider_for("imap.mail.yahoo.com") is YAHOO and provider_for("smtp.mail.att.net") is YAHOO
    assert provider_for("imap.aol.com") is AOL and provider_for("imap.fastmail.com") is FASTMAIL
    assert provider_for("imap.mail.ru") is MAIL_RU and provider_for("imap.yandex.com") is YANDEX
    assert YANDEX.scope("smtp", "smtp.yandex.com") == "mail:smtp"
    assert YANDEX.scope("imap", "imap.yandex.com") == "mail:imap_full"
    for host in ("imap.example.com", "pop.mail.ru", "pop.yandex.com", "notyahoo.com", "yahoo.com.example",
                 "imap.fastmail.com.example", "fastmail.com", "com"):
        assert provider_for(host) is None, host


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return tmp_path


def _inventory(servers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"organization": ORG, "servers": servers, **extra,
            "users": [{"email": "anna@example.com", "devices": ["laptop", "desktop"]}]}


M365 = {"imap": {"host": "outlook.office365.com", "auth": "oauth2"},
        "pop3": {"host": "outlook.office365.com", "auth": "oauth2"},
        "smtp": {"host": "smtp.office365.com", "port": 587, "security": "starttls", "auth": "oauth2"}}


def test_a_known_provider_needs_no_block(tmp_path):
    inventory = load_inventory(_write(tmp_path, _inventory(M365)))
    for device in inventory.devices:
        assert device.incoming.auth == device.outgoing.auth == "oauth2"
        assert device.oauth2 is None
        found = sign_in(device.incoming, device.oauth2)
        assert found is not None and found.known is MICROSOFT_365
        assert found.scope.split() == [f"https://outlook.office.com/{'IMAP' if device.protocol == 'imap' else 'POP'}"
                                       ".AccessAsUser.All", "offline_access"]


def test_an_own_provider_resolves_onto_the_devices_that_need_it(tmp_path):
    servers = {"imap": {"host": "imap.example.com", "auth": "oauth2"}, "pop3": {"host": "pop.example.com"},
               "smtp": {"host": "smtp.example.com", "auth": "oauth2"}}
    group_own = dict(OWN, issuer="sso.example.com", client_id="sales-mail")
    data = _inventory(servers, oauth2=OWN, groups={"sales": {"oauth2": group_own}})
    data["users"].append({"email": "bob@example.com", "groups": ["sales"], "devices": ["laptop"]})
    devices = {d.key: d for d in load_inventory(_write(tmp_path, data)).devices}
    assert devices["anna@example.com/laptop"].oauth2 == OAuth2(**OWN)
    assert devices["anna@example.com/desktop"].oauth2 == OAuth2(**OWN)    # its SMTP server signs in with OAuth2
    assert devices["bob@example.com/laptop"].oauth2 == OAuth2(**group_own)   # the group's block wins
    found = sign_in(devices["anna@example.com/laptop"].incoming, devices["anna@example.com/laptop"].oauth2)
    assert found is not None and found.known is None and found.scope == OWN["scopes"]


def test_a_block_is_not_attached_where_no_server_needs_it(tmp_path):
    devices = load_inventory(_write(tmp_path, _inventory(M365, oauth2=OWN))).devices
    assert all(device.oauth2 is None for device in devices)


def test_oauth2_on_an_unknown_host_without_a_block_names_the_server_field(tmp_path):
    servers = {"imap": {"host": "imap.example.com", "auth": "oauth2"}, "pop3": {"host": "pop.example.com"},
               "smtp": {"host": "smtp.example.com"}}
    with pytest.raises(InventoryError) as info:
        load_inventory(_write(tmp_path, _inventory(servers)))
    (problem,) = info.value.diagnostics
    assert problem.field == "servers.imap.auth" and "oauth2:" in problem.hint
    assert problem.location is not None
    line = (tmp_path / "inventory.yaml").read_text(encoding="utf-8").splitlines()[problem.location.line - 1]
    assert line.strip() == "auth: oauth2" and line[problem.location.column - 1:] == "oauth2"


CASES = Path(__file__).resolve().parent / "cases" / "oauth2"
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("name", ["m365", "google", "own-idp"])
def test_oauth2_inventories_match_their_golden_files(tmp_path, name):
    generate(CASES / name, tmp_path / "out")
    assert_matches_golden(tmp_path / "out", GOLDEN / f"oauth2-{name}")


def test_no_format_falls_back_to_a_password(tmp_path):
    """Each format says OAuth2 (and its verifier refuses the file with a password login instead), or makes no file
    and names why."""
    out = tmp_path / "out"
    result = generate(CASES / "own-idp", out)
    inventory = load_inventory(CASES / "own-idp")
    (device,) = inventory.devices
    codes = {f.code for f in result.findings}
    assert {"outlook-no-oauth2", "thunderbird-oauth2-custom-provider", "autoconfig-oauth2-provider"} <= codes
    assert not any(a.client == "outlook" for a in result.artifacts)
    prefs = (out / "anna@example.com/laptop/prefs.js").read_bytes()
    assert b'authMethod", 10)' in prefs
    thunderbird, autoconfig = named("thunderbird"), named("autoconfig")
    assert thunderbird.check(prefs, inventory.organization, device) == []
    assert thunderbird.check(prefs.replace(b'authMethod", 10)', b'authMethod", 3)'), inventory.organization, device)
    xml = (out / "autoconfig/example.com/mail/config-v1.1.xml").read_bytes()
    assert xml.count(b"<authentication>OAuth2</authentication>") == 2
    assert b"<issuer>login.example.com</issuer>" in xml and b"<authURL>https://login.example.com/oauth2/authorize" in xml
    subject = DomainDevices("example.com", inventory.devices)
    assert autoconfig.check(xml, inventory.organization, subject) == []
    assert autoconfig.check(xml.replace(b">OAuth2<", b">password-cleartext<"), inventory.organization, subject)
    page = (out / "anna@example.com/handout.html").read_bytes()
    assert b"<code>login.example.com</code>" in page and b"password:" not in page
    assert b"password" not in prefs.lower() and b"password" not in xml.replace(b"password-", b"").lower()
