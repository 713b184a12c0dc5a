"""The AutoConfig pair, re-read line by line: which prefs the .cfg sets, how (default or locked), and to what.

Restated from Thunderbird's AutoConfig: ``defaults/pref/autoconfig.js`` names the .cfg in
``general.config.filename`` and turns obscuring off (``general.config.obscure_value`` 0); the
.cfg's first line is skipped; ``defaultPref`` sets what the user may change, ``lockPref`` what
cannot be changed. The pattern's POP3 retention and Bcc must be locked.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ...errors import ReadBackError
from ...model import Device, Organization
from ..subjects import FleetSet

_CALL = re.compile(r'^\s*(defaultPref|lockPref|pref)\("([A-Za-z0-9._]+)", (.+)\);$')
SOCKET = {0: "none", 2: "starttls", 3: "ssl"}
AUTH = {"password": 3, "cram-md5": 4, "ntlm": 6, "oauth2": 10}     # nsMsgAuthMethod, restated from the Thunderbird source
LOCKED = ("leave_on_server", "delete_by_age_from_server", "num_days_to_leave_on_server", "doBcc", "doBccList")
VARIABLES = {"address", "userName", "login"}


def verify_prefs(content: bytes, org: Organization, subject: FleetSet) -> list[str]:
    lines = content.decode("utf-8").split("\n")
    problems = []
    if not lines[0].startswith("//"):
        problems.append("the first line of autoconfig.js must be a comment")
    calls = [m.groups() for m in map(_CALL.match, lines[1:]) if m]
    if sorted(calls) != sorted([("pref", "general.config.filename", '"mailprofiles.cfg"'),
                                ("pref", "general.config.obscure_value", "0")]):
        problems.append(f"autoconfig.js must name mailprofiles.cfg and set obscure_value 0, found {calls}")
    if len([line for line in lines[1:] if line.strip()]) != 2:
        problems.append("autoconfig.js holds more than its two prefs")
    return problems


def read_cfg(content: bytes) -> dict[str, tuple[str, Any]]:
    """Every pref the .cfg sets: name -> (how, value); a value is a JS literal or one of the .cfg's variables."""
    text = content.decode("utf-8")
    if not text.startswith("//"):
        raise ReadBackError("the first line of the .cfg must be a comment (Thunderbird skips it)")
    found: dict[str, tuple[str, Any]] = {}
    for number, line in enumerate(text.split("\n")[1:], start=2):
        match = _CALL.match(line)
        if not match:
            if re.search(r"\b(defaultPref|lockPref)\(", line):
                raise ReadBackError(f"line {number}: a pref call that cannot be read: {line.strip()[:80]!r}")
            continue
        how, name, raw = match.groups()
        if name in found and how != "pref":
            raise ReadBackError(f"line {number}: {name} is set twice")
        value: Any = raw if raw in VARIABLES else json.loads(raw)
        found[name] = (how, value)
    return found


def verify_cfg(content: bytes, org: Organization, subject: FleetSet) -> list[str]:
    prefs = read_cfg(content)
    problems: list[str] = []
    device = subject.device
    text = content.decode("utf-8")
    prefix, _, suffix = str(subject.address_pattern).partition("{login}")
    if f"var address = {json.dumps(prefix)} + login + {json.dumps(suffix)};" not in text:
        problems.append(f"the address is not formed as {subject.address_pattern!r}")
    if 'getenv("USER") || getenv("USERNAME")' not in text:
        problems.append("the login does not come from USER / USERNAME")
    servers = [n for n in prefs if n.startswith("mail.server.") and n.endswith(".type")]
    if len(servers) != 1:
        return problems + [f"expected one incoming server, found {servers}"]
    server = servers[0][len("mail.server."):-len(".type")]
    smtps = [n for n in prefs if n.startswith("mail.smtpserver.") and n.endswith(".hostname")]
    smtp = smtps[0][len("mail.smtpserver."):-len(".hostname")] if len(smtps) == 1 else ""

    def value(name: str) -> Any:
        return prefs.get(name, ("", None))[1]
    wanted = {f"mail.server.{server}.type": device.protocol, f"mail.server.{server}.hostname": device.incoming.host,
              f"mail.server.{server}.port": device.incoming.port,
              f"mail.server.{server}.socketType": {v: k for k, v in SOCKET.items()}[device.incoming.security],
              f"mail.smtpserver.{smtp}.hostname": device.outgoing.host,
              f"mail.smtpserver.{smtp}.port": device.outgoing.port,
              f"mail.smtpserver.{smtp}.try_ssl": {v: k for k, v in SOCKET.items()}[device.outgoing.security],
              f"mail.server.{server}.userName": "userName",
              f"mail.server.{server}.authMethod": AUTH[device.incoming.auth],
              f"mail.smtpserver.{smtp}.authMethod": AUTH[device.outgoing.auth],
              f"mail.server.{server}.login_at_startup": device.fetch_automatically,
              f"mail.server.{server}.check_new_mail": device.fetch_automatically,
              f"mail.server.{server}.check_time": device.check_interval_minutes}
    if device.pop3 is not None:
        wanted[f"mail.server.{server}.download_on_biff"] = device.fetch_automatically
    for name, expected in wanted.items():
        if value(name) != expected:
            problems.append(f"{name} is {value(name)!r}, expected {expected!r}")
    problems.extend(_locks_and_identity(prefs, device, server))
    return problems


def _locks_and_identity(prefs: dict[str, tuple[str, Any]], device: Device, server: str) -> list[str]:
    """What the pattern enforces is locked (Bcc, POP3 retention), no password, and the identity's signature."""
    problems = []
    for name, (how, _) in prefs.items():
        if name.rsplit(".", 1)[-1] in LOCKED and how != "lockPref":
            problems.append(f"{name} enforces the pattern and must be locked")
        if "password" in name.lower():
            problems.append(f"{name} carries a password")
    identity = [n for n in prefs if n.startswith("mail.identity.") and n.endswith(".doBcc")]
    if len(identity) != 1 or prefs[identity[0]] != ("lockPref", device.bcc_self):
        problems.append(f"doBcc must be locked to {device.bcc_self}")
    identity_key = identity[0][len("mail.identity."):-len(".doBcc")] if len(identity) == 1 else ""
    signature = prefs.get(f"mail.identity.{identity_key}.htmlSigText", ("", None))[1]
    if signature != device.signature:
        problems.append(f"htmlSigText is {signature!r}, expected {device.signature!r}")
    if signature is not None and prefs.get(f"mail.identity.{identity_key}.htmlSigFormat", ("", None))[1] is not False:
        problems.append("htmlSigFormat must be false: the signature is plain text")
    if device.pop3 is not None:
        if prefs.get(f"mail.server.{server}.leave_on_server") != ("lockPref", device.pop3.leave_on_server):
            problems.append("leave_on_server must be locked to the pattern's value")
        days = device.pop3.delete_after_days
        if days is not None and device.pop3.leave_on_server and \
                prefs.get(f"mail.server.{server}.num_days_to_leave_on_server") != ("lockPref", days):
            problems.append(f"num_days_to_leave_on_server must be locked to {days}")
    return problems
