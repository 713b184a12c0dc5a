"""Thunderbird enterprise policies: a fleet set's account and pattern as the ``Preferences`` policy, in three forms.

Thunderbird reads its enterprise policies from ``distribution/policies.json`` next to the program (Linux also
``/etc/thunderbird/policies/policies.json``), from the Windows registry (``HKEY_LOCAL_MACHINE`` or
``HKEY_CURRENT_USER``, ``Software\\Policies\\Mozilla\\Thunderbird``) and on macOS from the preference domain
``org.mozilla.thunderbird`` (which an MDM fills with a configuration profile). The forms and their layouts are
Mozilla's: GitHub thunderbird/policy-templates, ``docs/templates/esr140/README.md``, section "Preferences"
(``{"pref": {"Value": ..., "Status": "default" | "locked" | "user" | "clear"}}``; Windows: the value
``Preferences`` of type REG_MULTI_SZ holding that JSON, as ``thunderbird.admx`` declares it, a ``multiText``
element, ``class="Both"``; macOS: the same dictionary under the key ``Preferences``, and
``EnterprisePoliciesEnabled`` true, without which Thunderbird reads no policy from the domain: macOSPoliciesProvider
in ``EnterprisePoliciesParent.sys.mjs`` asks ``policiesEnabled()`` first).

The ``Preferences`` policy of Thunderbird 153 (``modules/policies/Policies.sys.mjs`` in ``omni.ja``) sets any pref
that starts with ``mail.`` or ``mailnews.`` (and a list of others), so the whole account graph is allowed: the
account, server, identity and outgoing server under the AutoConfig pair's keys (a machine with both channels has one
account), with ``Status`` "default" for what the user may change and "locked" for what the pattern enforces. What it
cannot do, found with Thunderbird 153 (``tests/test_thunderbird_policies.py``), is :func:`limitations`.
"""
from __future__ import annotations

import dataclasses
import json
import plistlib
from typing import Any

from ...model import Finding, Organization, Site
from ..subjects import FleetSet
from .thunderbird import AUTH_METHOD, SOCKET_TYPE, custom_provider_finding
from .thunderbird_site import KEYS
from .uuids import stable_uuid

CLIENT = "thunderbird"
FORMATS = ("thunderbird-policies-json", "thunderbird-policies-reg", "thunderbird-policies-mobileconfig")
DOMAIN = "org.mozilla.thunderbird"
# Software\Policies\Mozilla\<application name>: WindowsGPOPoliciesProvider in EnterprisePoliciesParent.sys.mjs.
REGISTRY_KEY = r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Mozilla\Thunderbird"
# Thunderbird's defaults (mailnews.js in omni.ja) that a pref left out falls back to.
DEFAULT_SOCKET = 0


def _pref(value: Any, status: str = "default") -> dict[str, Any]:
    return {"Value": value, "Status": status}


def preferences(org: Organization, subject: FleetSet) -> dict[str, dict[str, Any]]:
    """The ``Preferences`` policy: pref name -> {"Value", "Status"}; per-user values are the MDM's variables.

    A plain connection's socket type (0) is left to Thunderbird's default of 0: the policy would make the number 0
    a boolean (below), which Thunderbird would not read as the socket type.
    """
    device, user = subject.device, subject.device.user
    acct, srv, ident, smtp = KEYS["account"], KEYS["server"], KEYS["identity"], KEYS["smtp"]
    incoming, outgoing = device.incoming, device.outgoing
    prefs: dict[str, dict[str, Any]] = {
        "mail.accountmanager.accounts": _pref(acct),
        "mail.accountmanager.defaultaccount": _pref(acct),
        f"mail.account.{acct}.server": _pref(srv),
        f"mail.account.{acct}.identities": _pref(ident),
        f"mail.server.{srv}.type": _pref(device.protocol),
        f"mail.server.{srv}.name": _pref(user.email),
        f"mail.server.{srv}.hostname": _pref(incoming.host),
        f"mail.server.{srv}.port": _pref(incoming.port),
        f"mail.server.{srv}.authMethod": _pref(AUTH_METHOD[incoming.auth]),
        f"mail.server.{srv}.userName": _pref(user.login),
        f"mail.server.{srv}.login_at_startup": _pref(device.fetch_automatically),
        f"mail.server.{srv}.check_new_mail": _pref(device.fetch_automatically),
        f"mail.server.{srv}.check_time": _pref(device.check_interval_minutes),
        f"mail.identity.{ident}.valid": _pref(True),
        f"mail.identity.{ident}.fullName": _pref(user.name),
        f"mail.identity.{ident}.useremail": _pref(user.email),
        f"mail.identity.{ident}.organization": _pref(org.name),
        f"mail.identity.{ident}.smtpServer": _pref(smtp),
        f"mail.identity.{ident}.doBcc": _pref(device.bcc_self, "locked"),
        f"mail.identity.{ident}.doBccList": _pref(user.email if device.bcc_self else "", "locked"),
        "mail.smtpservers": _pref(smtp),
        "mail.smtp.defaultserver": _pref(smtp),
        f"mail.smtpserver.{smtp}.type": _pref("smtp"),
        f"mail.smtpserver.{smtp}.description": _pref(org.name),
        f"mail.smtpserver.{smtp}.hostname": _pref(outgoing.host),
        f"mail.smtpserver.{smtp}.port": _pref(outgoing.port),
        f"mail.smtpserver.{smtp}.authMethod": _pref(AUTH_METHOD[outgoing.auth]),
        f"mail.smtpserver.{smtp}.username": _pref(user.login),
    }
    if SOCKET_TYPE[incoming.security] != DEFAULT_SOCKET:
        prefs[f"mail.server.{srv}.socketType"] = _pref(SOCKET_TYPE[incoming.security])
    if SOCKET_TYPE[outgoing.security] != DEFAULT_SOCKET:
        prefs[f"mail.smtpserver.{smtp}.try_ssl"] = _pref(SOCKET_TYPE[outgoing.security])
    pop3 = device.pop3
    if pop3 is not None:
        prefs[f"mail.server.{srv}.download_on_biff"] = _pref(device.fetch_automatically)
        prefs[f"mail.server.{srv}.leave_on_server"] = _pref(pop3.leave_on_server, "locked")
        by_age = pop3.leave_on_server and pop3.delete_after_days is not None
        prefs[f"mail.server.{srv}.delete_by_age_from_server"] = _pref(by_age, "locked")
        if pop3.delete_after_days is not None:
            prefs[f"mail.server.{srv}.num_days_to_leave_on_server"] = _pref(pop3.delete_after_days, "locked")
    if device.signature is not None:
        prefs[f"mail.identity.{ident}.htmlSigFormat"] = _pref(False)
        prefs[f"mail.identity.{ident}.htmlSigText"] = _pref(device.signature)
    return dict(sorted(prefs.items()))


def _policies_text(org: Organization, subject: FleetSet) -> str:
    """The policies as JSON, one member per line; json.dumps escapes every value (quotes, backslashes, control
    characters), so no value can open a key of its own."""
    return json.dumps({"policies": {"Preferences": preferences(org, subject)}}, indent=2, ensure_ascii=False)


def render_json(site: Site, subject: FleetSet) -> bytes:
    """``distribution/policies.json``: UTF-8 (Thunderbird reads it with ``Cu.readUTF8File``), LF."""
    return (_policies_text(site.organization, subject) + "\n").encode("utf-8")


def _reg_hex(data: bytes, first: int) -> list[str]:
    """``hex(7):`` bytes as regedit writes them: comma-separated pairs, lines continued with a backslash at about
    80 columns and indented by two spaces."""
    pairs = [f"{byte:02x}" for byte in data]
    lines, line, width = [], [], first
    for index, pair in enumerate(pairs):
        line.append(pair)
        width += 3
        if width > 76 and index < len(pairs) - 1:
            lines.append(",".join(line) + ",\\")
            line, width = [], 2
    lines.append(",".join(line))
    return lines


def render_reg(site: Site, subject: FleetSet) -> bytes:
    """A ``.reg`` file for ``regedit`` / ``reg import``: "Windows Registry Editor Version 5.00", UTF-16LE with a
    byte order mark and CRLF (the format regedit exports; Microsoft Support article 310516, "How to add, modify,
    or delete registry subkeys and values by using a .reg file": the header line, a blank line, ``[key]`` with the
    full root key name, ``"name"=hex(7):`` for REG_MULTI_SZ). The value ``Preferences`` is REG_MULTI_SZ, written as
    ``hex(7):`` with the UTF-16LE bytes of its strings, each ended by a NUL, and a final NUL: one string per line of
    the JSON (``readRegistryValue`` in Gecko's ``WindowsGPOParser.sys.mjs`` turns every NUL of a REG_MULTI_SZ into a
    line break and parses the result as JSON; no line is empty, as an empty string would end the list). Only hex
    digits and commas carry the value, so no value can open a line, a key or a value name of its own."""
    lines = _policies_text(site.organization, subject).split("\n")
    data = "".join(line + "\0" for line in lines) + "\0"
    name = '"Preferences"=hex(7):'
    hex_lines = _reg_hex(data.encode("utf-16-le"), len(name))
    body = ["Windows Registry Editor Version 5.00", "", f"[{REGISTRY_KEY}]",
            name + hex_lines[0], *("  " + line for line in hex_lines[1:]), ""]
    return ("\ufeff" + "\r\n".join(body) + "\r\n").encode("utf-16-le")


def render_mobileconfig(site: Site, subject: FleetSet) -> bytes:
    """An Apple configuration profile with one ``com.apple.ManagedClient.preferences`` payload for the domain
    ``org.mozilla.thunderbird``: ``Forced`` settings, so the user cannot override them (Apple's schema file
    ``mdm/profiles/com.apple.ManagedClient.preferences.yaml``; copy in tests/apple/). plistlib writes it and escapes
    every string for XML; signed like the mail profile when a signer is given."""
    org = site.organization
    device = subject.device
    parts = (org.identifier, "thunderbird-policies", subject.group, device.profile)
    profile_uuid, payload_uuid = stable_uuid(*parts, "profile"), stable_uuid(*parts, "payload")
    identifier = f"{org.identifier}.mailprofiles.{profile_uuid.lower()}"
    settings = {"EnterprisePoliciesEnabled": True, "Preferences": preferences(org, subject)}
    payload = {
        "PayloadContent": {DOMAIN: {"Forced": [{"mcx_preference_settings": settings}]}},
        "PayloadDescription": f"Thunderbird policies: the mail account of {org.name}",
        "PayloadDisplayName": "Thunderbird mail account",
        "PayloadIdentifier": f"{identifier}.thunderbird",
        "PayloadOrganization": org.name,
        "PayloadType": "com.apple.ManagedClient.preferences",
        "PayloadUUID": payload_uuid,
        "PayloadVersion": 1,
    }
    profile = {
        "PayloadContent": [payload],
        "PayloadDescription": f"Thunderbird: the mail account of {org.name} ({subject.group}, {device.profile})",
        "PayloadDisplayName": f"{org.name} Thunderbird",
        "PayloadIdentifier": identifier,
        "PayloadOrganization": org.name,
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": profile_uuid,
        "PayloadVersion": 1,
    }
    plist = plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)
    return site.signer.sign(plist) if site.signer is not None else plist


def limitations(org: Organization, subject: FleetSet) -> list[Finding]:
    """What the policy cannot do, observed with Thunderbird 153 (tests/test_thunderbird_policies.py)."""
    device = subject.device
    where = (subject.group, device.profile, CLIENT)
    found = [Finding(
        "thunderbird-policies-new-profiles",
        "The Thunderbird policies (policies.json, policies.reg, policies.mobileconfig) give the account as "
        "defaults: a new profile has it, but a profile that already has accounts keeps its own account list, so "
        "the account does not appear there (locking the list would take the user's own accounts away; appending "
        "it, as user.js does, would leave it without its outgoing server, which Thunderbird 128 and later do not "
        "append). For profiles in use, deploy the AutoConfig pair (thunderbird/mailprofiles.cfg), which adds the "
        "account and its outgoing server once.",
        *where),
        Finding(
        "thunderbird-policies-variables",
        "policies.json and policies.reg carry the MDM's variables in the address, name and login; Thunderbird "
        "does not fill them in, and neither does a file copy or a registry import. Replace them per machine when "
        "you deploy them, or use policies.mobileconfig through the MDM (which fills them in), or the AutoConfig "
        "pair (which takes the login from the system user).",
        *where)]
    # An own identity provider: Thunderbird signs in with it only once an extension registers it, as for prefs.js.
    found.extend(dataclasses.replace(f, user=subject.group, device=device.profile)
                 for f in custom_provider_finding(device))
    pop3 = device.pop3
    ones = [name for name, value in (
        ("check_interval_minutes", device.check_interval_minutes),
        ("pop3.delete_after_days", pop3.delete_after_days if pop3 is not None and pop3.leave_on_server else None))
        if value == 1]
    if ones:
        found.append(Finding(
            "thunderbird-policies-number-one",
            f"{' and '.join(ones)} is 1: the Preferences policy turns the number 1 into the boolean true for a pref "
            "that Thunderbird does not define by default (Policies.sys.mjs, for Windows and macOS, where booleans "
            "arrive as 0 and 1), so Thunderbird ignores it and uses its default (10 minutes, 7 days). Use 2 or "
            "more, or the AutoConfig pair.",
            *where))
    return found
