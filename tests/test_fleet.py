"""mailprofiles fleet: one file set per group and device profile, with the MDM's variables."""
from __future__ import annotations

import json
import plistlib

import pytest
from conftest import BASE, run_cli

from generator import InventoryError, generate
from generator.pipeline import fleet
from generator.settings import SETTINGS

FLEET = BASE + ('fleet: {login: local-part, address_pattern: "{login}@example.com"}\n'
                "groups:\n  sales:\n    servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}\n"
                '    fleet: {login: address, address_pattern: "{login}@example.com"}\n')


def _normalized(data: bytes) -> dict:
    plist = plistlib.loads(data)
    for payload in (plist, plist["PayloadContent"][0]):
        payload["PayloadUUID"] = payload["PayloadIdentifier"] = "-"
    return plist


@pytest.mark.parametrize("vendor, email, name, username", [
    ("jamf-pro", "$EMAIL", "$FULLNAME", "$USERNAME"),
    ("workspace-one", "{EmailAddress}", "{FirstName} {LastName}", "{EmailUserName}"),
    ("jamf-school", "%Email%", "%FullName%", "%Username%"),
])
def test_fleet_profiles_carry_the_vendor_variables_in_the_per_user_fields(write_inventory, tmp_path, vendor, email,
                                                                         name, username):
    folder = write_inventory(FLEET)
    out = tmp_path / "out"
    result = fleet(folder, out, vendor)
    profile = plistlib.loads((out / "fleet/_no-group/laptop/mail.mobileconfig").read_bytes())
    mail = profile["PayloadContent"][0]
    assert (mail["EmailAddress"], mail["EmailAccountName"]) == (email, name)
    assert mail["IncomingMailServerUsername"] == mail["OutgoingMailServerUsername"] == username   # local-part
    sales = plistlib.loads((out / "fleet/sales/laptop/mail.mobileconfig").read_bytes())["PayloadContent"][0]
    assert sales["IncomingMailServerUsername"] == email and sales["OutgoingMailServerHostName"] == "smtp2.example.com"
    host_fields = [v for k, v in mail.items() if "HostName" in k]
    assert not any(variable in str(v) for v in host_fields for variable in (email, name, username))
    # The same file with a real user's values is what generate writes for that user (up to PayloadUUIDs).
    real = {email: "anna@example.com", name: "Anna Muster", username: "anna"}
    filled = (out / "fleet/_no-group/laptop/mail.mobileconfig").read_bytes()
    for variable, value in sorted(real.items(), key=lambda item: -len(item[0])):
        filled = filled.replace(variable.encode(), value.encode())
    write_inventory(BASE + "users:\n  - {email: anna@example.com, name: Anna Muster, login: anna, devices: [laptop]}\n")
    generate(folder, tmp_path / "per-user")
    per_user = (tmp_path / "per-user/anna@example.com/laptop/mail.mobileconfig").read_bytes()
    assert _normalized(filled) == _normalized(per_user)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = next(e for e in manifest["artifacts"] if e["path"] == "fleet/sales/desktop/thunderbird/mailprofiles.cfg")
    assert {k: entry[k] for k in ("kind", "group", "profile", "client")} == {
        "kind": "fleet", "group": "sales", "profile": "desktop", "client": "thunderbird"}
    assert any(f.code == "fleet-outlook-per-user" for f in result.findings)
    assert not any(p.name == "outlook.prf" for p in out.rglob("*"))


def test_fleet_reruns_and_shares_the_output_with_generate(write_inventory, tmp_path):
    folder = write_inventory(FLEET + "users:\n  - {email: a@example.com, devices: [desktop]}\n")
    out = tmp_path / "out"
    first = fleet(folder, out, "jamf-pro")
    assert fleet(folder, out, "jamf-pro").count("unchanged") == len(first.artifacts)
    generate(folder, out)                                   # the per-user files join; the fleet's stay
    assert (out / "fleet/sales/phone/mail.mobileconfig").exists() and (out / "a@example.com/desktop/prefs.js").exists()
    again = fleet(folder, out, "jamf-pro", check=True)
    assert again.count("removed") == 0 and again.count("unchanged") == len(first.artifacts)


def test_literal_values_with_the_vendor_syntax_are_refused(write_inventory, tmp_path):
    folder = write_inventory(FLEET.replace("Example GmbH", "Save $MONEY GmbH"))
    with pytest.raises(InventoryError) as info:
        fleet(folder, tmp_path / "out", "jamf-pro")
    (problem,) = info.value.diagnostics
    assert problem.field == "organization.name" and problem.location.line == 1
    assert "contains '$MONEY', which the MDM would replace" in problem.message
    assert fleet(folder, tmp_path / "out", "workspace-one").artifacts      # not that vendor's syntax
    assert not (tmp_path / "x").exists()


def test_custom_placeholders_come_from_the_inventory(write_inventory, tmp_path):
    folder = write_inventory(FLEET)
    result = run_cli("fleet", str(folder), "-o", str(tmp_path / "out"), "--mdm", "custom")
    assert result.returncode == 2 and "needs an 'mdm:' block" in result.stderr
    write_inventory(FLEET + "mdm: {email: '%%mail%%', name: '%%name%%', username: '%%upn%%'}\n")
    result = run_cli("fleet", str(folder), "-o", str(tmp_path / "out"), "--mdm", "custom")
    assert result.returncode == 0, result.stderr
    mail = plistlib.loads((tmp_path / "out/fleet/sales/phone/mail.mobileconfig").read_bytes())["PayloadContent"][0]
    assert mail["EmailAddress"] == "%%mail%%" and mail["IncomingMailServerUsername"] == "%%mail%%"
    assert run_cli("fleet", str(folder), "-o", str(tmp_path / "o2"), "--mdm", "intune").returncode == 2


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t.replace(b'lockPref("mail.server.mailprofiles_srv.leave_on_server"',
                         b'defaultPref("mail.server.mailprofiles_srv.leave_on_server"'), "must be locked"),
    (lambda t: t.replace(b'lockPref("mail.identity.mailprofiles_id.doBcc", false)',
                         b'lockPref("mail.identity.mailprofiles_id.doBcc", true)'), "doBcc must be locked to False"),
    (lambda t: t.replace(b'"pop.example.com"', b'"pop2.example.com"'), "hostname is 'pop2.example.com'"),
    (lambda t: t.replace(b'+ "@example.com"', b'+ "@evil.example"'), "the address is not formed as"),
    (lambda t: t.replace(b"// mailprofiles", b"mailprofiles", 1), "first line of the .cfg must be a comment"),
])
def test_the_autoconfig_verifier_catches(write_inventory, tmp_path, mutation, rule):
    from generator.fleet import load_fleet
    from generator.formats.registry import named
    from generator.model import Site

    folder = write_inventory(FLEET)
    loaded = load_fleet(folder, "jamf-pro")
    desktop = next(s for s in loaded.sets if s.group == "_no-group" and s.device.profile == "desktop")
    fmt = named("thunderbird-site-cfg")
    org = loaded.inventory.organization
    sound = fmt.render(Site(org), desktop)
    assert fmt.check(sound, org, desktop) == []
    broken = mutation(sound)
    assert broken != sound
    problems = fmt.check(broken, org, desktop)
    assert any(rule in p for p in problems), problems


def test_a_removed_group_takes_its_fleet_files(write_inventory, tmp_path):
    folder = write_inventory(FLEET)
    out = tmp_path / "out"
    fleet(folder, out, "jamf-pro")
    assert (out / "fleet/sales").is_dir()
    write_inventory(FLEET.split("groups:")[0])
    result = fleet(folder, out, "jamf-pro")
    removed = [c.path for c in result.changes if c.status == "removed"]
    # Apple for desktop, laptop, phone; Thunderbird's AutoConfig pair and its three policy files for desktop, laptop
    assert len(removed) == 13 and all(path.startswith("fleet/sales/") for path in removed)
    assert not (out / "fleet/sales").exists() and (out / "fleet/_no-group/desktop/mail.mobileconfig").exists()


def test_fleet_profiles_are_signed_and_openssl_accepts_them(write_inventory, tmp_path):
    import subprocess

    from cryptography.hazmat.primitives import serialization
    from test_signing import _cert, _key, _pem

    key = _key()
    cert = _cert("fleet signer", key, "fleet signer", key, ca=True)
    cert_file = _pem(tmp_path / "signer.pem", cert)
    key_file = _pem(tmp_path / "signer.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    folder = write_inventory(FLEET)
    result = run_cli("fleet", str(folder), "-o", str(tmp_path / "out"), "--mdm", "jamf-pro",
                     "--sign-cert", str(cert_file), "--sign-key", str(key_file))
    assert result.returncode == 0, result.stderr
    profile = tmp_path / "out/fleet/sales/phone/mail.mobileconfig"
    verified = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(profile), "-CAfile",
                               str(cert_file), "-purpose", "any"], capture_output=True)
    assert verified.returncode == 0 and b"<string>$EMAIL</string>" in verified.stdout
    policies = tmp_path / "out/fleet/sales/desktop/thunderbird/policies.mobileconfig"
    verified = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(policies), "-CAfile",
                               str(cert_file), "-purpose", "any"], capture_output=True)
    assert verified.returncode == 0 and b"<key>org.mozilla.thunderbird</key>" in verified.stdout


def test_the_signature_reaches_the_autoconfig_file_and_is_read_back(write_inventory, tmp_path):
    from generator.fleet import load_fleet
    from generator.formats.registry import named
    from generator.formats.verify.thunderbird_site import read_cfg
    from generator.model import Site

    folder = write_inventory(FLEET + 'settings:\n  signature: "Example GmbH\\nSales \\"desk\\"\\n-- \\u00e4"\n')
    out = tmp_path / "out"
    result = fleet(folder, out, "jamf-pro")
    prefs = read_cfg((out / "fleet/sales/desktop/thunderbird/mailprofiles.cfg").read_bytes())
    assert prefs["mail.identity.mailprofiles_id.htmlSigText"] == ("defaultPref", 'Example GmbH\nSales "desk"\n-- ä')
    assert prefs["mail.identity.mailprofiles_id.htmlSigFormat"] == ("defaultPref", False)
    assert any(f.code == "apple-no-signature" for f in result.findings)
    loaded = load_fleet(folder, "jamf-pro")
    desktop = next(s for s in loaded.sets if s.group == "sales" and s.device.profile == "desktop")
    fmt, org = named("thunderbird-site-cfg"), loaded.inventory.organization
    sound = fmt.render(Site(org), desktop)
    assert fmt.check(sound, org, desktop) == []
    for broken in (sound.replace(b"Sales \\\"desk\\\"", b"Sales"),
                   b"\n".join(line for line in sound.split(b"\n") if b"htmlSigText" not in line)):
        assert any("htmlSigText" in p for p in fmt.check(broken, org, desktop))
    unsigned = load_fleet(write_inventory(FLEET), "jamf-pro")
    plain = next(s for s in unsigned.sets if s.group == "sales" and s.device.profile == "desktop")
    assert b"htmlSigText" not in fmt.render(Site(org), plain)
    assert any("htmlSigText" in p for p in fmt.check(sound, org, plain))


SAMPLES = {"protocol": ("pop3", "imap"), "clients": (["apple"], ["thunderbird"]),
           "bcc_self": (False, True), "fetch_automatically": (True, False), "check_interval_minutes": (10, 15),
           "thunderbird_file": ("prefs.js", "user.js"), "signature": (None, "Example GmbH"),
           "pop3.leave_on_server": (True, False), "pop3.delete_after_days": (28, 14)}


def _fleet_output(write_inventory, tmp_path, name: str, value: object) -> tuple[dict[str, bytes], set[str]]:
    import yaml

    settings: dict = {"protocol": "pop3", "clients": ["apple", "thunderbird"]}
    head, _, tail = name.rpartition(".")
    (settings.setdefault(head, {}) if head else settings)[tail] = value
    folder = write_inventory(BASE + 'fleet: {address_pattern: "{login}@example.com"}\n'
                             + yaml.safe_dump({"settings": settings}))
    out = tmp_path / f"out-{name}-{value}"
    result = fleet(folder, out, "jamf-pro")
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
             if p.is_file() and p.name != "manifest.json" and ".mailprofiles" not in p.parts}
    return files, {f"{f.user}/{f.device}/{f.client}: {f.code}: {f.message}" for f in result.findings}


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_reaches_each_fleet_form_or_is_a_named_limitation(write_inventory, tmp_path, name):
    """Two fleets that differ in one setting differ in every fleet file that can say it, or in a warning."""
    from generator.fleet import SAME_IN_FLEET_FILES
    from generator.formats.registry import FLEET, FORMATS

    assert name in SAMPLES, "give the new setting two values to compare here"
    first, second = (_fleet_output(write_inventory, tmp_path, name, value) for value in SAMPLES[name])
    if name in SAME_IN_FLEET_FILES:       # a choice between per-user files; the fleet's files serve both
        assert first == second
        return
    forms = [("apple", "mail.mobileconfig"), ("thunderbird", "thunderbird/mailprofiles.cfg"),
             ("thunderbird", "thunderbird/distribution/policies.json"), ("thunderbird", "thunderbird/policies.reg"),
             ("thunderbird", "thunderbird/policies.mobileconfig")]
    assert {file for _, file in forms} >= {fmt.filename for fmt in FORMATS if fmt.scope == FLEET} - {
        "thunderbird/defaults/pref/autoconfig.js"}, "a fleet format that can carry settings is compared here"
    for client, file in forms:
        ours = {path: data for path, data in (*first[0].items(), *second[0].items()) if path.endswith(file)}
        if not ours:
            continue     # this value of the setting asks for no such file
        differ = {path for path in ours if first[0].get(path) != second[0].get(path)}   # content, or made at all
        warned = {w for w in first[1] ^ second[1] if f"/{client}: " in w}
        assert differ or warned, f"{name} reaches no {client} fleet file and is not warned for"
