"""OAuth2 in the fleet, for every MDM preset: Apple's OAuth payload with the vendor's variables, Thunderbird's
AutoConfig pair signing in with OAuth2, Outlook warned."""
from __future__ import annotations

import plistlib

import pytest
from readers import read_policies_json

from generator.formats.verify.thunderbird_site import read_cfg
from generator.pipeline import fleet

INVENTORY = """\
organization: {name: Example GmbH, identifier: com.example}
servers:
  imap: {host: outlook.office365.com, auth: oauth2}
  pop3: {host: outlook.office365.com, auth: oauth2}
  smtp: {host: smtp.office365.com, port: 587, security: starttls, auth: oauth2}
fleet: {address_pattern: "{login}@example.com"}
mdm: {email: "<<EMAIL>>", name: "<<NAME>>", username: "<<LOGIN>>"}
"""
PRESETS = {"jamf-pro": "$EMAIL", "jamf-school": "%Email%", "workspace-one": "{EmailAddress}", "custom": "<<EMAIL>>"}


@pytest.mark.parametrize("vendor", sorted(PRESETS))
def test_every_preset_signs_in_with_oauth2(tmp_path, vendor):
    folder = tmp_path / "inv"
    folder.mkdir()
    text = INVENTORY if vendor == "custom" else "\n".join(
        line for line in INVENTORY.splitlines() if not line.startswith("mdm:")) + "\n"
    (folder / "inventory.yaml").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = fleet(folder, out, vendor)
    codes = {f.code for f in result.findings}
    assert "fleet-outlook-per-user" in codes
    laptop = plistlib.loads((out / "fleet/_no-group/laptop/mail.mobileconfig").read_bytes())
    payload = laptop["PayloadContent"][0]
    assert payload["PayloadType"] == "com.apple.eas.account" and payload["OAuth"] is True
    assert payload["EmailAddress"] == PRESETS[vendor]
    assert not any("Password" in key for key in payload)
    assert "apple-oauth2-exchange" in codes
    cfg = read_cfg((out / "fleet/_no-group/laptop/thunderbird/mailprofiles.cfg").read_bytes())
    methods = {name: value for name, (_, value) in cfg.items() if name.endswith(".authMethod")}
    assert methods and set(methods.values()) == {10}, methods
    policies = read_policies_json((out / "fleet/_no-group/laptop/thunderbird/distribution/policies.json").read_bytes())
    methods = {name: entry["Value"] for name, entry in policies.items() if name.endswith(".authMethod")}
    assert len(methods) == 2 and set(methods.values()) == {10}, methods
