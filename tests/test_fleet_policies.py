"""The fleet's Thunderbird policies: policies.json, policies.reg and policies.mobileconfig per group and device profile.

Read back with the test's own readers (tests/readers.py) and held to the product's verifiers; what real Thunderbird 153
does with them is tests/test_thunderbird_policies.py.
"""
from __future__ import annotations

import json
import plistlib
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import BASE, EXAMPLES, ROOT, examples
from golden_files import assert_matches_golden
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from readers import read_managed_preferences, read_policies_json, read_reg, read_reg_policies
from test_injection import VALUES

from generator import InventoryError
from generator.fleet import SAME_IN_FLEET_FILES, load_fleet
from generator.formats.registry import named
from generator.model import Site
from generator.pipeline import fleet
from generator.settings import SETTINGS

FLEET = BASE + ('fleet: {login: local-part}\n'
                "groups:\n  sales:\n    servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}\n"
                '    fleet: {login: address}\n')
FORMS = {"thunderbird-policies-json": ("thunderbird/distribution/policies.json", read_policies_json),
         "thunderbird-policies-reg": ("thunderbird/policies.reg", read_reg_policies),
         "thunderbird-policies-mobileconfig": ("thunderbird/policies.mobileconfig", read_managed_preferences)}


def _set(folder: Path, group: str = "_no-group", profile: str = "desktop", vendor: str = "jamf-pro"):
    loaded = load_fleet(folder, vendor)
    return loaded.inventory.organization, next(s for s in loaded.sets if s.group == group
                                               and s.device.profile == profile)


def test_fleet_writes_the_three_forms_without_an_address_pattern(write_inventory, tmp_path):
    folder = write_inventory(FLEET)
    out = tmp_path / "out"
    result = fleet(folder, out, "jamf-pro")
    files = out / "fleet" / "sales" / "desktop" / "thunderbird"
    prefs = read_policies_json((files / "distribution" / "policies.json").read_bytes())
    assert read_reg_policies((files / "policies.reg").read_bytes()) == prefs
    assert read_managed_preferences((files / "policies.mobileconfig").read_bytes()) == prefs
    value = {name: entry["Value"] for name, entry in prefs.items()}
    assert value["mail.server.mailprofiles_srv.userName"] == value["mail.identity.mailprofiles_id.useremail"] == \
        "$EMAIL"                                                                        # login: address
    assert value["mail.identity.mailprofiles_id.fullName"] == "$FULLNAME"
    assert value["mail.smtpserver.mailprofiles_smtp.hostname"] == "smtp2.example.com"
    assert value["mail.smtpserver.mailprofiles_smtp.try_ssl"] == 2
    assert prefs["mail.server.mailprofiles_srv.leave_on_server"] == {"Value": True, "Status": "locked"}
    no_group = read_policies_json((out / "fleet/_no-group/laptop/thunderbird/distribution/policies.json").read_bytes())
    assert no_group["mail.server.mailprofiles_srv.userName"]["Value"] == "$USERNAME"   # login: local-part
    assert no_group["mail.identity.mailprofiles_id.doBcc"] == {"Value": True, "Status": "locked"}
    assert no_group["mail.identity.mailprofiles_id.doBccList"] == {"Value": "$EMAIL", "Status": "locked"}
    assert not (files / "mailprofiles.cfg").exists()            # the AutoConfig pair needs the address pattern
    codes = {(f.user, f.device, f.code) for f in result.findings if f.client == "thunderbird"}
    assert {("sales", "desktop", "fleet-thunderbird-no-pattern"), ("sales", "desktop", "thunderbird-policies-variables"),
            ("sales", "desktop", "thunderbird-policies-new-profiles")} <= codes
    manifest = json.loads((out / "manifest.json").read_text())["artifacts"]
    entry = next(e for e in manifest if e.get("path") == "fleet/sales/desktop/thunderbird/policies.reg")
    assert {k: entry[k] for k in ("kind", "group", "profile", "client")} == {
        "kind": "fleet", "group": "sales", "profile": "desktop", "client": "thunderbird"}


def test_the_example_fleet_matches_its_golden_files(tmp_path):
    """The example inventory's fleet for Jamf Pro, byte for byte (tests/golden/example-fleet)."""
    fleet(EXAMPLES, tmp_path / "out", "jamf-pro")
    assert_matches_golden(tmp_path / "out", ROOT / "tests" / "golden" / "example-fleet")


def test_the_reg_file_is_what_regedit_imports(write_inventory):
    """Windows Registry Editor Version 5.00: UTF-16LE with a byte order mark, CRLF, one key, one REG_MULTI_SZ whose
    strings are the JSON's lines (none empty: an empty string would end the list)."""
    org, subject = _set(write_inventory(FLEET))
    content = named("thunderbird-policies-reg").render(Site(org), subject)
    assert content.startswith("\ufeffWindows Registry Editor Version 5.00\r\n\r\n".encode("utf-16-le"))
    text = content[2:].decode("utf-16-le")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line) <= 80 for line in text.split("\r\n"))
    ((key, values),) = read_reg(content).items()
    assert key == r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Mozilla\Thunderbird"
    kind, strings = values["Preferences"]
    assert kind == "REG_MULTI_SZ" and "" not in strings
    json_text = named("thunderbird-policies-json").render(Site(org), subject).decode("utf-8")
    assert "\n".join(strings) + "\n" == json_text


def test_diff_shows_the_reg_files_json_not_its_hex(write_inventory):
    org, subject = _set(write_inventory(FLEET))
    fmt = named("thunderbird-policies-reg")
    shown = fmt.show(fmt.render(Site(org), subject))
    assert shown.startswith("Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies")
    assert '        "Value": "pop.example.com",' in shown.splitlines()
    assert isinstance(fmt.show(b"\xff\xfej\x00u\x00n\x00k\x00"), str)          # a file it cannot read: as text


def test_the_mobileconfig_follows_apples_schema_and_is_signed_like_the_mail_profile(write_inventory):
    from test_signing import _cert, _key

    from generator.formats.signing import Signer
    from generator.formats.verify import cms

    org, subject = _set(write_inventory(FLEET))
    fmt = named("thunderbird-policies-mobileconfig")
    plain = fmt.render(Site(org), subject)
    profile = plistlib.loads(plain)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadIdentifier"].startswith("com.example.")
    assert fmt.check(plain, org, subject) == []
    key = _key()
    signer = Signer(_cert("fleet signer", key, "fleet signer", key, ca=True), key)
    signed = fmt.render(Site(org, signer=signer), subject)
    assert cms.is_signed(signed) and cms.unwrap(signed)[0] == plain
    assert fmt.check(signed, org, subject) == []
    assert fmt.signable


def _mutate_json(mutation):
    def apply(content: bytes) -> bytes:
        data = json.loads(content)
        mutation(data["policies"]["Preferences"])
        return (json.dumps(data, indent=2) + "\n").encode()
    return apply


@pytest.mark.parametrize("mutation, rule", [
    (lambda p: p["mail.server.mailprofiles_srv.leave_on_server"].update(Status="default"), "must be locked"),
    (lambda p: p["mail.server.mailprofiles_srv.hostname"].update(Value="pop2.example.com"),
     "hostname is 'pop2.example.com'"),
    (lambda p: p["mail.server.mailprofiles_srv.port"].update(Value="995"), "port is '995', expected 995"),
    (lambda p: p.update({"browser.startup.homepage": {"Value": "x", "Status": "default"}}), "sets only prefs"),
    (lambda p: p.update({"mail.server.mailprofiles_srv.password": {"Value": "x", "Status": "default"}}),
     "carries a password"),
    (lambda p: p.update({"mail.server.other.hostname": {"Value": "x", "Status": "default"}}), "belongs to no account"),
    (lambda p: p["mail.server.mailprofiles_srv.userName"].update(Value="anna"), "userName is 'anna'"),
    (lambda p: p.pop("mail.identity.mailprofiles_id.doBcc"), "doBcc"),
    (lambda p: p["mail.server.mailprofiles_srv.check_time"].update(Status="user"), "'default' or 'locked'"),
    (lambda p: p.update({"mail.server.mailprofiles_srv.socketType": {"Value": 0, "Status": "default"}}),
     "would set the number 0 as a boolean"),
])
def test_the_policies_verifier_catches(write_inventory, mutation, rule):
    org, subject = _set(write_inventory(FLEET))
    fmt = named("thunderbird-policies-json")
    sound = fmt.render(Site(org), subject)
    assert fmt.check(sound, org, subject) == []
    broken = _mutate_json(mutation)(sound)
    problems = fmt.check(broken, org, subject)
    assert any(rule in p for p in problems), problems


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t.replace("\r\n".encode("utf-16-le"), "\n".encode("utf-16-le")), "CRLF"),
    (lambda t: t[2:], "byte order mark"),
    (lambda t: t + '"Other"=dword:00000001\r\n'.encode("utf-16-le"), "more than the Preferences value"),
    (lambda t: t.replace("hex(7)".encode("utf-16-le"), "hex(2)".encode("utf-16-le")), "REG_MULTI_SZ"),
    (lambda t: t.replace("00,00,00,00\r\n".encode("utf-16-le"), "00,00\r\n".encode("utf-16-le")), "two NULs"),
    (lambda t: t.replace("7b,00,00,00".encode("utf-16-le"), "7b,00,00,00,00,00".encode("utf-16-le"), 1),
     "empty string"),
])
def test_the_reg_verifier_catches(write_inventory, mutation, rule):
    org, subject = _set(write_inventory(FLEET))
    fmt = named("thunderbird-policies-reg")
    sound = fmt.render(Site(org), subject)
    broken = mutation(sound)
    assert broken != sound
    problems = fmt.check(broken, org, subject)
    assert any(rule in p for p in problems), problems


def _mutate_plist(mutation):
    def apply(content: bytes) -> bytes:
        data = plistlib.loads(content)
        mutation(data, data["PayloadContent"][0])
        return plistlib.dumps(data)
    return apply


def _settings(payload):
    return payload["PayloadContent"]["org.mozilla.thunderbird"]["Forced"][0]["mcx_preference_settings"]


@pytest.mark.parametrize("mutation, rule", [
    (lambda p, m: _settings(m).update(EnterprisePoliciesEnabled=False), "EnterprisePoliciesEnabled must be true"),
    (lambda p, m: m["PayloadContent"]["org.mozilla.thunderbird"].update({"Set-Once": []}), "one set of Forced"),
    (lambda p, m: m["PayloadContent"].update({"org.mozilla.firefox": {}}), "and no other"),
    (lambda p, m: m.update(PayloadVersion="1"), "PayloadVersion must be <integer>"),
    (lambda p, m: m.pop("PayloadUUID"), "required key PayloadUUID is missing"),
    (lambda p, m: m["PayloadContent"]["org.mozilla.thunderbird"]["Forced"][0].update(extra=1),
     "key extra is not in Apple's schema"),
    (lambda p, m: p.update(PayloadType="Profile"), "PayloadType is 'Profile'"),
    (lambda p, m: _settings(m)["Preferences"]["mail.server.mailprofiles_srv.num_days_to_leave_on_server"].update(
        Value=7), "num_days_to_leave_on_server is 7"),
])
def test_the_managed_preferences_verifier_catches(write_inventory, mutation, rule):
    org, subject = _set(write_inventory(FLEET))
    fmt = named("thunderbird-policies-mobileconfig")
    sound = fmt.render(Site(org), subject)
    problems = fmt.check(_mutate_plist(mutation)(sound), org, subject)
    assert any(rule in p for p in problems), problems


# Every setting reaches each policy form (its verifier tells the two values apart) or is a named warning.

SAMPLES = {"protocol": ("pop3", "imap"), "clients": (["thunderbird"], ["thunderbird", "apple"]),
           "bcc_self": (False, True), "fetch_automatically": (True, False), "check_interval_minutes": (10, 1),
           "thunderbird_file": ("prefs.js", "user.js"), "signature": (None, "Example GmbH"),
           "pop3.leave_on_server": (True, False), "pop3.delete_after_days": (28, 14)}
CHOOSES = {"clients": "chooses the clients; the policies stand for Thunderbird alone"}


def _fleet_set(write_inventory, name: str, value: object):
    settings_block: dict = {"protocol": "pop3", "clients": ["thunderbird"]}
    head, _, tail = name.rpartition(".")
    (settings_block.setdefault(head, {}) if head else settings_block)[tail] = value
    folder = write_inventory(BASE + yaml.safe_dump({"settings": settings_block}))
    loaded = load_fleet(folder, "jamf-pro")
    subject = next(s for s in loaded.sets if s.device.profile == "desktop")
    return loaded.inventory.organization, subject


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_reaches_the_policies_or_is_a_named_warning(write_inventory, name):
    assert name in SAMPLES, "give the new setting two values to compare here"
    (org, first), (_, second) = (_fleet_set(write_inventory, name, value) for value in SAMPLES[name])
    if name in SAME_IN_FLEET_FILES or name in CHOOSES:
        return
    for fmt_name in FORMS:
        fmt = named(fmt_name)
        a, b = fmt.render(Site(org), first), fmt.render(Site(org), second)
        assert fmt.check(a, org, first) == [] and fmt.check(b, org, second) == []
        read_back = bool(fmt.check(a, org, second) or fmt.check(b, org, first))
        warned = {(f.code, f.message) for f in fmt.limitations(org, first)} ^ \
            {(f.code, f.message) for f in fmt.limitations(org, second)}
        assert read_back or warned, f"{name} reaches no {fmt_name} and is not warned for"
        if name == "check_interval_minutes":
            assert any(code == "thunderbird-policies-number-one" for code, _ in warned)


# No value can open a key, a line or a tag of its own.

def _forms(text: str, vendor: str = "jamf-pro") -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inventory.yaml"
        path.write_text(text, encoding="utf-8")
        loaded = load_fleet(path, vendor)
    org = loaded.inventory.organization
    subject = next(s for s in loaded.sets if s.device.profile == "desktop")
    found = {}
    for fmt_name, (_, reader) in FORMS.items():
        fmt = named(fmt_name)
        content = fmt.render(Site(org), subject)
        assert fmt.check(content, org, subject) == []
        found[fmt_name] = reader(content)
    return found


def _inventory(org: str = "Example GmbH", signature: str | None = None, mdm: tuple[str, str, str] | None = None) -> str:
    data: dict = yaml.safe_load(BASE)
    data["organization"]["name"] = org
    if signature is not None:
        data["settings"] = {"signature": signature}
    if mdm is not None:
        data["mdm"] = dict(zip(("email", "name", "username"), mdm))
    return yaml.safe_dump(data, allow_unicode=True, width=10_000)


BASELINE = _forms(_inventory(signature="x"))


def _check(field: str, text: str, where: dict[str, object], vendor: str = "jamf-pro") -> None:
    try:
        forms = _forms(text, vendor)
    except InventoryError as exc:
        assert exc.diagnostics and all(d.location is not None for d in exc.diagnostics)
        # (a custom placeholder is also refused where a literal of the inventory contains it)
        assert field == "mdm" or any(d.field == field for d in exc.diagnostics), [d.format() for d in exc.diagnostics]
        return
    for fmt_name, prefs in forms.items():
        assert sorted(prefs) == sorted(BASELINE[fmt_name]), f"{fmt_name}: the policy's prefs changed"
        for name, value in where.items():
            assert prefs[name]["Value"] == value, (fmt_name, name)


SETTINGS_H = settings(max_examples=examples(60), deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


@SETTINGS_H
@given(VALUES)
@example('Müller "GmbH" \\ }, "mail.evil": {"Value": 1')
@example('x\r\n"Evil"=dword:00000001\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Evil]')
@example("</string><key>EnterprisePoliciesEnabled</key><false/><string>")
def test_an_organization_name_stays_in_its_prefs(value):
    data = yaml.safe_load(_inventory(org=value, signature="x"))
    stated = data["organization"]["name"]
    _check("organization.name", _inventory(org=value, signature="x"),
           {"mail.identity.mailprofiles_id.organization": stated,
            "mail.smtpserver.mailprofiles_smtp.description": stated})


@SETTINGS_H
@given(VALUES)
@example('-- \n"}, "mail.evil": {"Value": true, "Status": "locked"}, "x": {"Value": "')
@example("\u2028\u2029\x85</string>")
def test_a_signature_stays_in_its_pref(value):
    text = _inventory(signature=value)
    stated = yaml.safe_load(text)["settings"]["signature"]
    _check("settings.signature", text, {"mail.identity.mailprofiles_id.htmlSigText": stated})


@SETTINGS_H
@given(st.tuples(VALUES, VALUES, VALUES))
@example(('"}, "mail.evil": {"Value": 1, "Status": "locked', '</string><key>x</key><string>', '\r\n"A"=dword:1'))
def test_custom_placeholders_stay_in_their_prefs(values):
    text = _inventory(signature="x", mdm=values) + 'fleet: {login: local-part}\n'
    email, name, username = (yaml.safe_load(text)["mdm"][k] for k in ("email", "name", "username"))
    _check("mdm", text, {"mail.identity.mailprofiles_id.useremail": email,
                         "mail.identity.mailprofiles_id.fullName": name,
                         "mail.server.mailprofiles_srv.userName": username}, vendor="custom")


def test_an_own_identity_provider_is_named_for_the_policies(tmp_path):
    """OAuth2 at a host Thunderbird knows no provider for: the policies sign in with OAuth2 (authMethod 10) and the
    warning names the extension Thunderbird needs first, per fleet set."""
    result = fleet(ROOT / "tests" / "cases" / "oauth2" / "own-idp", tmp_path / "out", "jamf-pro")
    prefs = read_policies_json((tmp_path / "out/fleet/_no-group/laptop/thunderbird/distribution/policies.json")
                               .read_bytes())
    assert prefs["mail.server.mailprofiles_srv.authMethod"]["Value"] == 10
    found = [f for f in result.findings if f.code == "thunderbird-oauth2-custom-provider"]
    assert [(f.user, f.device, f.client) for f in found] == [("_no-group", profile, "thunderbird")
                                                             for profile in ("desktop", "laptop")], found
