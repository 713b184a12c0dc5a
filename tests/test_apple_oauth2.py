"""What Apple devices get for servers that sign in with OAuth2 (``auth: oauth2``).

Apple's mail payload has no OAuth2 sign-in, so Microsoft 365 gets the Exchange ActiveSync payload with OAuth,
Google the Google account payload, and the organization's own identity provider no Apple file (see
``generator/formats/render/apple.py`` for Apple's schema files and why).
"""
from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Any

import pytest
from apple_reference import derive_rules
from conftest import BASE

from generator import load_inventory
from generator.errors import UnrepresentableValue
from generator.fleet import FleetPlan, load_fleet
from generator.formats.registry import named
from generator.formats.verify import apple as verify_apple
from generator.model import Device, Organization, Site
from generator.plan.planner import device_files
from generator.plan.scopes import handout_files

ORG = "organization: {name: Example GmbH, identifier: com.example}\n"
MICROSOFT = ORG + """\
servers:
  imap: {host: outlook.office365.com, auth: oauth2}
  pop3: {host: outlook.office365.com, auth: oauth2}
  smtp: {host: smtp.office365.com, port: 587, security: starttls, auth: oauth2}
"""
GOOGLE = ORG + """\
servers:
  imap: {host: imap.gmail.com, auth: oauth2}
  pop3: {host: pop.gmail.com, auth: oauth2}
  smtp: {host: smtp.gmail.com, auth: oauth2}
"""
OWN = BASE.replace("imap.example.com}", "imap.example.com, auth: oauth2}").replace(
    "smtp.example.com}", "smtp.example.com, auth: oauth2}") + """\
oauth2: {issuer: login.example.com, authorization_endpoint: "https://login.example.com/authorize",
         token_endpoint: "https://login.example.com/token", client_id: mail, scopes: openid email}
"""
MIXED = MICROSOFT.replace("smtp.office365.com, port: 587, security: starttls, auth: oauth2",
                          "smtp.example.com")
USERS = ("settings: {clients: [apple]}\n"
         "users:\n  - {email: anna@example.com, name: Anna Muster, login: anna.m@example.com, devices: [desktop, phone]}\n")
PAYLOADS = {"microsoft": (MICROSOFT, "com.apple.eas.account", "apple-oauth2-exchange"),
            "google": (GOOGLE, "com.apple.google-oauth", "apple-oauth2-google")}


def _devices(write_inventory: Any, text: str) -> tuple[Organization, dict[str, Device]]:
    inventory = load_inventory(write_inventory(text + USERS))
    return inventory.organization, {device.name: device for device in inventory.devices}


def _render(org: Organization, device: Device, signer: object = None) -> bytes:
    return named("apple").render(Site(org, signer=signer), device)


def _account(content: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = plistlib.loads(content)["PayloadContent"][0]
    return payload


def _mutated(content: bytes, change: Any) -> bytes:
    profile = plistlib.loads(content)
    change(profile["PayloadContent"][0])
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


def _findings(org: Organization, device: Device) -> dict[str, str]:
    return {f.code: f.message for f in named("apple").limitations(org, device)}


def test_the_rules_come_from_apples_exchange_and_google_files():
    rules = verify_apple.rules()
    assert rules["com.apple.eas.account"] == derive_rules()["com.apple.eas.account"]
    assert rules["com.apple.eas.account"]["OAuth"] == {"presence": "optional", "type": "boolean"}
    assert rules["com.apple.google-oauth"]["EmailAddress"]["presence"] == "required"
    assert not any("oauth" in key.casefold() for key in rules["com.apple.mail.managed"])


def test_microsoft_365_gets_exchange_activesync_with_oauth_and_no_password(write_inventory):
    org, devices = _devices(write_inventory, MICROSOFT)
    for device in devices.values():
        content = _render(org, device)
        account = _account(content)
        assert account["PayloadType"] == "com.apple.eas.account"
        assert (account["Host"], account["OAuth"], account["SSL"]) == ("outlook.office365.com", True, True)
        assert (account["EmailAddress"], account["UserName"]) == ("anna@example.com", "anna.m@example.com")
        assert b"Password" not in content
        assert named("apple").check(content, org, device) == []
        assert named("apple").read_settings(content) is None    # no IMAP/SMTP connection to cross-check
        assert named("apple").templates_used(device) == ("apple/exchange.mobileconfig.j2",)
    pop3 = _findings(org, devices["desktop"])["apple-oauth2-exchange"]
    assert "Exchange ActiveSync" in pop3 and "instead of the POP3 account" in pop3
    assert "retention" in pop3 and "archive must be kept another way" in pop3 and "Bcc" in pop3
    assert "a Mac refuses it" in pop3
    assert "instead of the IMAP account" in _findings(org, devices["phone"])["apple-oauth2-exchange"]
    # No mail-payload advice for an account that is not POP3 or IMAP at all.
    assert "apple-no-pop-retention" not in _findings(org, devices["desktop"])
    assert "apple-tls-mode" not in _findings(org, devices["desktop"])


def test_google_gets_the_google_account_payload(write_inventory):
    org, devices = _devices(write_inventory, GOOGLE)
    device = devices["phone"]
    content = _render(org, device)
    account = _account(content)
    assert account["PayloadType"] == "com.apple.google-oauth"
    assert (account["EmailAddress"], account["AccountName"]) == ("anna@example.com", "Anna Muster")
    assert set(account) == {"AccountDescription", "AccountName", "EmailAddress", "PayloadDescription",
                            "PayloadDisplayName", "PayloadIdentifier", "PayloadType", "PayloadUUID", "PayloadVersion"}
    assert named("apple").check(content, org, device) == []
    message = _findings(org, device)["apple-oauth2-google"]
    assert "Google account" in message and "instead of the IMAP account" in message
    # Apple: "Google accounts must be installed via MDM or by Apple Configurator 2".
    assert "device management" in named("apple").install(device)["en"]


@pytest.mark.parametrize("provider", sorted(PAYLOADS))
@pytest.mark.parametrize("change, rule", [
    (lambda p: p.update(PayloadType="com.apple.mail.managed"), "the payload is not"),
    (lambda p: p.update(Password="secret"), "Password must not be written"),
    (lambda p: p.pop("PayloadIdentifier"), "required key PayloadIdentifier is missing"),
    (lambda p: p.update(EmailAddress="other@example.com"), "EmailAddress is 'other@example.com'"),
    (lambda p: p.update(Unknown=True), "key Unknown is not in Apple's schema"),
])
def test_mutations_are_refused(write_inventory, provider, change, rule):
    text, _, _ = PAYLOADS[provider]
    org, devices = _devices(write_inventory, text)
    device = devices["phone"]
    problems = named("apple").check(_mutated(_render(org, device), change), org, device)
    assert any(rule in problem for problem in problems), problems


def test_google_without_its_address_and_exchange_without_oauth_are_refused(write_inventory):
    org, devices = _devices(write_inventory, GOOGLE)
    content = _mutated(_render(org, devices["phone"]), lambda p: p.pop("EmailAddress"))
    assert "required key EmailAddress is missing" in " ".join(named("apple").check(content, org, devices["phone"]))
    org, devices = _devices(write_inventory, MICROSOFT)
    content = _mutated(_render(org, devices["phone"]), lambda p: p.update(OAuth=False))
    assert "OAuth is False, expected True" in named("apple").check(content, org, devices["phone"])
    content = _mutated(_render(org, devices["phone"]), lambda p: p.update(OAuth="yes"))
    assert any("OAuth must be <boolean>" in p for p in named("apple").check(content, org, devices["phone"]))


def test_a_mail_payload_is_refused_for_an_oauth2_device(write_inventory):
    org, password = _devices(write_inventory, BASE)
    _, oauth2 = _devices(write_inventory, MICROSOFT)
    problems = named("apple").check(_render(org, password["phone"]), org, oauth2["phone"])
    assert problems == ["the payload is not com.apple.eas.account"]


@pytest.mark.parametrize("text, why", [(OWN, "own identity provider"), (MIXED, "mix sign-ins")])
def test_no_apple_file_for_an_own_identity_provider_or_mixed_servers(write_inventory, text, why):
    inventory = load_inventory(write_inventory(text + USERS))
    org = inventory.organization
    for device in inventory.devices:
        message = _findings(org, device)["apple-no-oauth2-payload"]
        assert why in message and "by hand" in message and "Exchange" in message
        assert list(_findings(org, device)) == ["apple-no-oauth2-payload"]
        assert device_files(inventory, device) == []
        finding = named("apple").limitations(org, device)
        assert [f.made for f in handout_files(device, tuple(finding))] == [False]
        with pytest.raises(UnrepresentableValue):
            _render(org, device)


def test_signed_profiles_carry_the_new_payloads(write_inventory):
    from test_signing import _cert, _key

    from generator.formats.signing import Signer
    from generator.formats.verify import cms

    key = _key()
    signer = Signer(_cert("oauth signer", key, "oauth signer", key, ca=True), key)
    for provider, (text, payload_type, _) in sorted(PAYLOADS.items()):
        org, devices = _devices(write_inventory, text)
        signed = _render(org, devices["phone"], signer)
        assert cms.is_signed(signed), provider
        assert named("apple").check(signed, org, devices["phone"]) == []
        assert _account(verify_apple.plain(signed))["PayloadType"] == payload_type
        assert "(signed by CN=oauth signer)" in named("apple").show(signed)


def _fleet(write_inventory: Any, text: str) -> tuple[FleetPlan, dict[str, bytes]]:
    plan = FleetPlan(load_fleet(write_inventory(text + "settings: {clients: [apple]}\n"), "jamf-pro"))
    files: dict[str, bytes] = {}
    for unit in plan.units():
        rendered = plan.render(unit)
        assert rendered.failures == []
        files.update((Path(p.record.path).parent.name, p.content) for p in rendered.planned)
    return plan, files


@pytest.mark.parametrize("provider", sorted(PAYLOADS))
def test_the_fleet_form_carries_the_mdm_variables(write_inventory, provider):
    text, payload_type, code = PAYLOADS[provider]
    plan, files = _fleet(write_inventory, text)
    assert sorted(files) == ["desktop", "laptop", "phone"]
    account = _account(files["phone"])
    assert (account["PayloadType"], account["EmailAddress"]) == (payload_type, "$EMAIL")
    assert code in {f.code for f in plan.findings}


def test_the_fleet_makes_no_apple_file_for_an_own_identity_provider_and_says_so(write_inventory):
    plan, files = _fleet(write_inventory, OWN)
    assert files == {}
    warned = {(f.user, f.device) for f in plan.findings if f.code == "apple-no-oauth2-payload"}
    assert warned == {("_no-group", "desktop"), ("_no-group", "laptop"), ("_no-group", "phone")}


@pytest.mark.parametrize("provider", [*sorted(PAYLOADS), "own"])
def test_generate_writes_the_payload_or_no_file_and_warns(write_inventory, tmp_path, provider):
    from generator import generate

    text, payload_type, code = PAYLOADS.get(provider, (OWN, None, "apple-no-oauth2-payload"))
    result = generate(write_inventory(text + USERS), tmp_path / "out", jobs=1)
    assert code in {f.code for f in result.findings if f.user == "anna@example.com" and f.device == "phone"}
    phone = tmp_path / "out/anna@example.com/phone/mail.mobileconfig"
    if payload_type is None:
        assert not phone.exists()
        return
    assert _account(phone.read_bytes())["PayloadType"] == payload_type
    again = generate(write_inventory(text + USERS), tmp_path / "out", jobs=1)     # same bytes: nothing rewritten
    assert again.changes == () and again.unchanged == 5
