"""Thunderbird's enterprise policies, read back from each form's bytes, then held to the fleet set's account.

Restated from Mozilla's policy templates (GitHub thunderbird/policy-templates, ``docs/templates/esr140``: README,
section "Preferences"; ``windows/thunderbird.admx``) and Thunderbird 153's ``Policies.sys.mjs``:

- ``policies.json``: a JSON object ``{"policies": {"Preferences": {name: {"Value": v, "Status": s}}}}``, UTF-8;
- the registry: key ``Software\\Policies\\Mozilla\\Thunderbird``, value ``Preferences`` of type REG_MULTI_SZ whose
  strings, joined by line breaks, are the JSON of the ``Preferences`` object; a ``.reg`` file for regedit starts
  with "Windows Registry Editor Version 5.00", is UTF-16LE with a byte order mark, and writes REG_MULTI_SZ as
  ``hex(7):`` (the UTF-16LE bytes, each string ended by a NUL, then one more NUL; Microsoft Support article
  310516 on .reg files);
- macOS: the domain ``org.mozilla.thunderbird`` with ``EnterprisePoliciesEnabled`` true and the same dictionary under
  ``Preferences``, in a ``com.apple.ManagedClient.preferences`` payload (Apple's schema file, tests/apple/).

The Preferences policy sets only prefs that start with allowed prefixes (``mail.`` and ``mailnews.`` among them);
``Status`` "default" sets the default (the user may change it), "locked" sets and locks it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ...errors import ReadBackError
from ...model import Organization
from ..subjects import FleetSet
from . import apple

ALLOWED = ("mail.", "mailnews.")
STATUSES = ("default", "locked")
SOCKET = {"none": 0, "starttls": 2, "ssl": 3}
AUTH = {"password": 3, "cram-md5": 4, "ntlm": 6, "oauth2": 10}     # nsMsgAuthMethod, from the Thunderbird source
LOCKED = ("leave_on_server", "delete_by_age_from_server", "num_days_to_leave_on_server", "doBcc", "doBccList")
# Where the number 1 is the user's choice, said by the warning thunderbird-policies-number-one.
NUMBER_ONE_WARNED = (".check_time", ".num_days_to_leave_on_server")
REG_HEADER = "Windows Registry Editor Version 5.00"
REG_KEY = re.compile(r"^\[HKEY_(LOCAL_MACHINE|CURRENT_USER)\\SOFTWARE\\Policies\\Mozilla\\Thunderbird\]$", re.I)
REG_VALUE = re.compile(r'^"Preferences"=hex\(7\):((?:[0-9a-f]{2},)*[0-9a-f]{2})$')


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ReadBackError(f"the JSON names {', '.join(twice)} more than once")
    return dict(pairs)


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ReadBackError(f"the policies are not JSON: {exc}") from None


def read_json(content: bytes) -> dict[str, Any]:
    """The ``Preferences`` policy of a policies.json."""
    data = _json(content.decode("utf-8"))
    if not isinstance(data, dict) or list(data) != ["policies"] or not isinstance(data["policies"], dict) \
            or list(data["policies"]) != ["Preferences"]:
        raise ReadBackError('policies.json must hold {"policies": {"Preferences": ...}} and nothing else')
    prefs = data["policies"]["Preferences"]
    if not isinstance(prefs, dict):
        raise ReadBackError("Preferences is not an object")
    return prefs


def reg_strings(content: bytes) -> list[str]:
    """The strings of the .reg file's one REG_MULTI_SZ, the file's form checked on the way."""
    if not content.startswith(b"\xff\xfe"):
        raise ReadBackError("a .reg file for regedit is UTF-16LE with a byte order mark")
    text = content[2:].decode("utf-16-le")
    if re.search(r"\r(?!\n)|(?<!\r)\n", text) or not text.endswith("\r\n"):
        raise ReadBackError("the .reg file's lines must end with CRLF")
    lines = text[:-2].split("\r\n")
    if lines[:2] != [REG_HEADER, ""] or len(lines) < 4 or not REG_KEY.match(lines[2]):
        raise ReadBackError(f"the .reg file must start with {REG_HEADER!r}, an empty line and the policy key")
    value, rest = lines[3], lines[4:]
    while value.endswith(",\\") and rest and rest[0].startswith("  "):
        value, rest = value[:-1] + rest[0][2:], rest[1:]
    if rest != [""]:
        raise ReadBackError(f"the .reg file holds more than the Preferences value: {rest[:2]!r}")
    match = REG_VALUE.match(value)
    if not match:
        raise ReadBackError("the Preferences value is not REG_MULTI_SZ (hex(7):) with whole bytes")
    data = bytes(int(pair, 16) for pair in match.group(1).split(",")).decode("utf-16-le")
    if not data.endswith("\0\0"):
        raise ReadBackError("the REG_MULTI_SZ does not end with two NULs")
    strings = data[:-2].split("\0")
    if "" in strings:
        raise ReadBackError("the REG_MULTI_SZ holds an empty string, which ends the list early")
    return strings


def read_reg(content: bytes) -> dict[str, Any]:
    """The ``Preferences`` policy of a .reg file: its REG_MULTI_SZ decoded and parsed as Thunderbird does."""
    strings = reg_strings(content)
    document = _json("\n".join(strings))
    if not isinstance(document, dict) or list(document) != ["policies"] or \
            not isinstance(document["policies"], dict) or list(document["policies"]) != ["Preferences"]:
        raise ReadBackError('the registry value must hold {"policies": {"Preferences": ...}}')
    prefs = document["policies"]["Preferences"]
    if not isinstance(prefs, dict):
        raise ReadBackError("Preferences is not an object")
    return prefs


def _check_node(value: Any, rule: dict[str, Any], where: str, problems: list[str]) -> None:
    """A value against a rule of Apple's schema, with its nested keys (``ANY``: a key of any name)."""
    expected = apple._TYPES.get(rule["type"])
    if expected is not None and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
        problems.append(f"{where} must be <{rule['type']}>, found {type(value).__name__}")
        return
    if "rangelist" in rule and value not in rule["rangelist"]:
        problems.append(f"{where} is {value!r}, allowed: {rule['rangelist']}")
    subkeys = rule.get("subkeys")
    if not subkeys:
        return
    if isinstance(value, list):
        item_rule = next(iter(subkeys.values()))
        for index, item in enumerate(value):
            _check_node(item, item_rule, f"{where}[{index}]", problems)
    elif isinstance(value, dict):
        for key, sub in subkeys.items():
            if key != "ANY" and sub["presence"] == "required" and key not in value:
                problems.append(f"{where}: required key {key} is missing")
        for key, item in value.items():
            sub = subkeys.get(key) or subkeys.get("ANY")
            if sub is None:
                problems.append(f"{where}: key {key} is not in Apple's schema")
            else:
                _check_node(item, sub, f"{where}.{key}", problems)


def read_mobileconfig(content: bytes, problems: list[str] | None = None) -> dict[str, Any]:
    """The ``Preferences`` policy of the profile's managed preferences; schema problems go to ``problems``."""
    found: list[str] = [] if problems is None else problems
    data = apple.parse(apple.plain(content))
    table = apple.rules()
    _check_node(data, {"type": "dictionary", "subkeys": table["TopLevel"]}, "profile", found)
    payloads = data.get("PayloadContent")
    if not isinstance(payloads, list) or len(payloads) != 1 or not isinstance(payloads[0], dict) or \
            payloads[0].get("PayloadType") != "com.apple.ManagedClient.preferences":
        raise ReadBackError("the profile must hold one com.apple.ManagedClient.preferences payload")
    payload = payloads[0]
    payload_rules = dict(table["com.apple.ManagedClient.preferences"], **table["CommonPayloadKeys"])
    _check_node(payload, {"type": "dictionary", "subkeys": payload_rules}, "payload", found)
    domains = payload.get("PayloadContent")
    if not isinstance(domains, dict) or list(domains) != ["org.mozilla.thunderbird"]:
        raise ReadBackError("the payload must manage the domain org.mozilla.thunderbird and no other")
    domain = domains["org.mozilla.thunderbird"]
    forced = domain.get("Forced") if isinstance(domain, dict) else None
    if not isinstance(forced, list) or len(forced) != 1 or list(domain) != ["Forced"]:
        raise ReadBackError("org.mozilla.thunderbird must have one set of Forced settings")
    settings = forced[0].get("mcx_preference_settings") if isinstance(forced[0], dict) else None
    if not isinstance(settings, dict) or sorted(settings) != ["EnterprisePoliciesEnabled", "Preferences"]:
        raise ReadBackError("the settings must be EnterprisePoliciesEnabled and Preferences")
    if settings["EnterprisePoliciesEnabled"] is not True:
        found.append("EnterprisePoliciesEnabled must be true, or Thunderbird reads no policy from the domain")
    prefs = settings["Preferences"]
    if not isinstance(prefs, dict):
        raise ReadBackError("Preferences is not a dictionary")
    for key in ("PayloadUUID",):
        if not apple._UUID.match(str(data.get(key))) or not apple._UUID.match(str(payload.get(key))):
            found.append(f"{key} is not a UUID")
    if data.get("PayloadUUID") == payload.get("PayloadUUID"):
        found.append("PayloadUUIDs are not unique")
    return prefs


def _entries(prefs: dict[str, Any], problems: list[str]) -> dict[str, tuple[str, Any]]:
    """name -> (status, value), with every entry's own form checked."""
    found = {}
    for name, entry in prefs.items():
        if not name.startswith(ALLOWED):
            problems.append(f"{name}: the Preferences policy sets only prefs that start with {', '.join(ALLOWED)}")
        if not isinstance(entry, dict) or sorted(entry) != ["Status", "Value"] or entry["Status"] not in STATUSES:
            problems.append(f"{name}: must be {{'Value': ..., 'Status': 'default' or 'locked'}}, found {entry!r}")
            continue
        if not isinstance(entry["Value"], (bool, int, str)):
            problems.append(f"{name}: a pref is a boolean, an integer or a string, found {entry['Value']!r}")
        elif type(entry["Value"]) is int and entry["Value"] in (0, 1) and not name.endswith(NUMBER_ONE_WARNED):
            # Policies.sys.mjs sets 0 and 1 as a boolean unless the pref is already an integer pref.
            problems.append(f"{name}: the policy would set the number {entry['Value']} as a boolean")
        if "password" in name.lower():
            problems.append(f"{name} carries a password")
        found[name] = (entry["Status"], entry["Value"])
    return found


def check(prefs: dict[str, Any], org: Organization, subject: FleetSet) -> list[str]:
    """The account graph the prefs build is the fleet set's, the pattern is locked, nothing else is set."""
    problems: list[str] = []
    entries = _entries(prefs, problems)

    def value(name: str, default: Any = None) -> Any:
        return entries.get(name, ("", default))[1]
    accounts = str(value("mail.accountmanager.accounts", "")).split(",")
    if len(accounts) != 1:
        return problems + [f"mail.accountmanager.accounts must name one account, found {accounts}"]
    acct = accounts[0]
    srv, ident = value(f"mail.account.{acct}.server"), value(f"mail.account.{acct}.identities")
    smtp = value(f"mail.identity.{ident}.smtpServer")
    if value("mail.smtpservers") != smtp or value("mail.accountmanager.defaultaccount") != acct:
        problems.append(f"mail.smtpservers and the default account must be the account's ({smtp}, {acct})")
    device, user = subject.device, subject.device.user
    wanted: dict[str, Any] = {
        f"mail.server.{srv}.type": device.protocol, f"mail.server.{srv}.hostname": device.incoming.host,
        f"mail.server.{srv}.port": device.incoming.port,
        f"mail.server.{srv}.socketType": SOCKET[device.incoming.security],
        f"mail.server.{srv}.authMethod": AUTH[device.incoming.auth], f"mail.server.{srv}.userName": user.login,
        f"mail.server.{srv}.login_at_startup": device.fetch_automatically,
        f"mail.server.{srv}.check_new_mail": device.fetch_automatically,
        f"mail.server.{srv}.check_time": device.check_interval_minutes,
        f"mail.identity.{ident}.useremail": user.email, f"mail.identity.{ident}.fullName": user.name,
        f"mail.identity.{ident}.organization": org.name,
        f"mail.identity.{ident}.doBcc": device.bcc_self,
        f"mail.identity.{ident}.doBccList": user.email if device.bcc_self else "",
        f"mail.identity.{ident}.htmlSigText": device.signature,
        f"mail.smtpserver.{smtp}.hostname": device.outgoing.host, f"mail.smtpserver.{smtp}.port": device.outgoing.port,
        f"mail.smtpserver.{smtp}.try_ssl": SOCKET[device.outgoing.security],
        f"mail.smtpserver.{smtp}.authMethod": AUTH[device.outgoing.auth],
        f"mail.smtpserver.{smtp}.username": user.login,
    }
    if device.signature is not None:
        wanted[f"mail.identity.{ident}.htmlSigFormat"] = False
    pop3 = device.pop3
    if pop3 is not None:
        wanted[f"mail.server.{srv}.download_on_biff"] = device.fetch_automatically
        wanted[f"mail.server.{srv}.leave_on_server"] = pop3.leave_on_server
        wanted[f"mail.server.{srv}.delete_by_age_from_server"] = \
            pop3.leave_on_server and pop3.delete_after_days is not None
        if pop3.delete_after_days is not None:
            wanted[f"mail.server.{srv}.num_days_to_leave_on_server"] = pop3.delete_after_days
    # Left out, a socket type is Thunderbird's default: 0 (mailnews.js).
    defaults = {f"mail.server.{srv}.socketType": 0, f"mail.smtpserver.{smtp}.try_ssl": 0}
    for name, expected in wanted.items():
        got = value(name, defaults.get(name))
        if got != expected or type(got) is not type(expected):
            problems.append(f"{name} is {got!r}, expected {expected!r}")
    for name, (status, _) in entries.items():
        if name.rsplit(".", 1)[-1] in LOCKED and status != "locked":
            problems.append(f"{name} enforces the pattern and must be locked")
    for name in (f"mail.identity.{ident}.doBcc", f"mail.identity.{ident}.doBccList"):
        if name not in entries:
            problems.append(f"{name} must be locked to the pattern")
    keys = {acct, srv, ident, smtp}
    for name in entries:
        parts = name.split(".")
        if len(parts) > 3 and parts[1] in ("account", "server", "identity", "smtpserver") and parts[2] not in keys:
            problems.append(f"{name} belongs to no account of the policy")
    return problems


def verify_json(content: bytes, org: Organization, subject: FleetSet) -> list[str]:
    if not content.endswith(b"\n") or b"\r" in content:
        return ["policies.json must end its lines with LF"]
    return check(read_json(content), org, subject)


def show_reg(content: bytes) -> str:
    """For --diff: the key and the value's strings, decoded (the hex bytes say nothing to a reader)."""
    try:
        strings = reg_strings(content)
    except (ReadBackError, UnicodeDecodeError, ValueError):
        return content.decode("utf-16", errors="replace")
    head = content[2:].decode("utf-16-le").split("\r\n")[:3]
    return "\n".join([*head, '"Preferences" (REG_MULTI_SZ, one string per line, decoded):', *strings]) + "\n"


def verify_reg(content: bytes, org: Organization, subject: FleetSet) -> list[str]:
    return check(read_reg(content), org, subject)


def verify_mobileconfig(content: bytes, org: Organization, subject: FleetSet) -> list[str]:
    problems: list[str] = []
    prefs = read_mobileconfig(content, problems)
    data = apple.parse(apple.plain(content))
    if data.get("PayloadOrganization") != org.name:
        problems.append(f"PayloadOrganization is {data.get('PayloadOrganization')!r}, expected {org.name!r}")
    if not str(data.get("PayloadIdentifier")).startswith(org.identifier + "."):
        problems.append(f"PayloadIdentifier does not start with {org.identifier}.")
    return problems + check(prefs, org, subject)
