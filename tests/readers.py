"""Test-side readers, written independently of both the renderers and the built-in verifiers."""
from __future__ import annotations

import json
import plistlib
import re

PREF = re.compile(r'^user_pref\("([A-Za-z0-9._-]+)", (.+)\);$')


def read_prefs(data: bytes) -> dict:
    """Strict user_pref reader: every non-comment line must be one user_pref call; no pref twice."""
    prefs = {}
    for line in data.decode("utf-8").split("\n"):
        if not line or line.startswith("//"):
            continue
        match = PREF.match(line)
        assert match, f"not a user_pref line: {line!r}"
        name, literal = match.groups()
        assert name not in prefs, f"pref {name} set twice"
        value = json.loads(literal)  # a JS string/int/bool literal as generated is valid JSON
        prefs[name] = value
    return prefs


def read_prf(data: bytes) -> dict:
    """INI reader by the PRF rules: ASCII or UTF-16LE+BOM, CRLF, ';' comments, first '=' splits,
    case-insensitive names, no duplicate sections or keys, nothing outside a section."""
    if data.startswith(b"\xff\xfe"):
        text = data[2:].decode("utf-16-le")
    else:
        text = data.decode("ascii")
    assert "\n" not in text.replace("\r\n", ""), "bare LF"
    assert "\r" not in text.replace("\r\n", ""), "bare CR"
    sections: dict = {}
    current = None
    for line in text.split("\r\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            name = stripped[1:-1].lower()
            assert name not in sections, f"duplicate section {name}"
            current = sections[name] = {}
            continue
        assert current is not None, f"line outside a section: {line!r}"
        assert "=" in line, f"line without '=': {line!r}"
        key, value = line.split("=", 1)
        key = key.strip().lower()
        assert key not in current, f"duplicate key {key}"
        current[key] = value.strip()
    return sections


def read_plist(data: bytes) -> dict:
    return plistlib.loads(data)


IMPLICIT_PORTS = {993, 995, 465}
PLAIN_PORTS = {143, 110, 25, 587}


def connection_settings(client: str, data: bytes) -> dict:
    """What a client reads from the file: per direction (protocol, host, port, mode, login).

    ``mode`` is ssl, starttls or none; for Apple, whose payload only has a TLS on/off switch, it is
    "tls" on ports other than the standard ones (the device decides, so the test tries both).
    """
    if client == "thunderbird":
        prefs = read_prefs(data)
        server = prefs[f"mail.account.{prefs['mail.accountmanager.accounts']}.server"]
        identity = prefs[f"mail.account.{prefs['mail.accountmanager.accounts']}.identities"]
        smtp = prefs[f"mail.identity.{identity}.smtpServer"]
        modes = {0: "none", 2: "starttls", 3: "ssl"}
        return {
            "incoming": (prefs[f"mail.server.{server}.type"], prefs[f"mail.server.{server}.hostname"],
                         prefs[f"mail.server.{server}.port"], modes[prefs[f"mail.server.{server}.socketType"]],
                         prefs[f"mail.server.{server}.userName"]),
            "outgoing": ("smtp", prefs[f"mail.smtpserver.{smtp}.hostname"], prefs[f"mail.smtpserver.{smtp}.port"],
                         modes[prefs[f"mail.smtpserver.{smtp}.try_ssl"]], prefs[f"mail.smtpserver.{smtp}.username"]),
        }
    if client == "apple":
        mail = read_plist(data)["PayloadContent"][0]

        def mode(use_ssl: bool, port: int) -> str:
            if not use_ssl:
                return "none"
            return "ssl" if port in IMPLICIT_PORTS else "starttls" if port in PLAIN_PORTS else "tls"

        protocol = {"EmailTypeIMAP": "imap", "EmailTypePOP": "pop3"}[mail["EmailAccountType"]]
        return {
            "incoming": (protocol, mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"],
                         mode(mail["IncomingMailServerUseSSL"], mail["IncomingMailServerPortNumber"]),
                         mail["IncomingMailServerUsername"]),
            "outgoing": ("smtp", mail["OutgoingMailServerHostName"], mail["OutgoingMailServerPortNumber"],
                         mode(mail["OutgoingMailServerUseSSL"], mail["OutgoingMailServerPortNumber"]),
                         mail["OutgoingMailServerUsername"]),
        }
    if data.startswith(b"<?xml"):
        # Outlook's Autodiscover answer: Encryption overrides SSL ([MS-OXDSCLI]); TLS is STARTTLS.
        incoming, outgoing = read_autodiscover(data)["protocols"]
        modes = {"SSL": "ssl", "TLS": "starttls", "None": "none"}
        return {direction: (p["Type"].lower(), p["Server"], int(p["Port"]), modes[p["Encryption"]], p["LoginName"])
                for direction, p in (("incoming", incoming), ("outgoing", outgoing))}
    prf = read_prf(data)
    token = prf["internet account list"]["account1"]
    account = prf["account1"]
    p = {"I_Mail": "pop3", "IMAP_I_Mail": "imap"}[token]
    return {
        "incoming": (p, account[f"{p}server"], int(account[f"{p}port"]),
                     {"0": "none", "1": "ssl"}[account[f"{p}usessl"]], account[f"{p}username"]),
        "outgoing": ("smtp", account["smtpserver"], int(account["smtpport"]),
                     {"0": "none", "1": "ssl", "2": "starttls"}[account["smtpsecureconnection"]],
                     account["smtpusername"] if account.get("smtpauthmethod") == "1" else account[f"{p}username"]),
    }


def read_autoconfig(data: bytes) -> dict:
    """config-v1.1.xml by the published format, with the standard library's parser (after refusing any DTD)."""
    import xml.etree.ElementTree as ET

    assert b"<!DOCTYPE" not in data and b"<!ENTITY" not in data
    root = ET.fromstring(data)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    (provider,) = root.findall("emailProvider")
    servers = {}
    for element in list(provider):
        if element.tag in ("incomingServer", "outgoingServer"):
            kind = element.get("type")
            assert kind not in servers, f"two {kind} servers"
            servers[kind] = {child.tag: (child.text or "").strip() for child in element if child.tag != "pop3"}
            pop3 = element.find("pop3")
            if pop3 is not None:
                servers[kind]["pop3"] = {child.tag: child.text for child in pop3}
    return {"domain": provider.findtext("domain"), "id": provider.get("id"), "servers": servers}


def _strict_json(text: str):
    def pairs(items):
        keys = [key for key, _ in items]
        assert len(keys) == len(set(keys)), f"a key twice: {keys}"
        return dict(items)
    return json.loads(text, object_pairs_hook=pairs)


def read_policies_json(data: bytes) -> dict:
    """Thunderbird's policies.json: UTF-8 JSON, no key twice; the Preferences policy's entries."""
    document = _strict_json(data.decode("utf-8"))
    assert list(document) == ["policies"] and list(document["policies"]) == ["Preferences"]
    return document["policies"]["Preferences"]


def read_reg(data: bytes) -> dict:
    """A regedit file (UTF-16LE + BOM, CRLF): {key: {value name: (type, data)}}; hex(7) decoded to its strings."""
    assert data.startswith(b"\xff\xfe")
    text = data[2:].decode("utf-16-le")
    assert "\n" not in text.replace("\r\n", "") and "\r" not in text.replace("\r\n", ""), "bare CR or LF"
    logical, pending = [], ""
    for line in text.split("\r\n"):
        line = pending + (line.lstrip(" ") if pending else line)
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        logical.append(line)
    assert logical[0] == "Windows Registry Editor Version 5.00"
    keys: dict = {}
    current = None
    for line in logical[1:]:
        if not line:
            continue
        if line.startswith("["):
            assert line.endswith("]") and line[1:-1] not in keys
            current = keys[line[1:-1]] = {}
            continue
        match = re.fullmatch(r'"((?:[^"\\]|\\.)*)"=(.*)', line)
        assert match and current is not None, f"not a value line: {line[:80]!r}"
        name, raw = match.groups()
        assert name not in current
        if raw.startswith("hex(7):"):
            strings = bytes.fromhex(raw[7:].replace(",", "")).decode("utf-16-le")
            assert strings.endswith("\0\0")
            current[name] = ("REG_MULTI_SZ", strings[:-2].split("\0"))
        else:
            current[name] = ("other", raw)
    return keys


def read_reg_policies(data: bytes) -> dict:
    """The Preferences policy of a .reg file, as Thunderbird reads it: the REG_MULTI_SZ's strings joined by line
    breaks, parsed as JSON."""
    keys = read_reg(data)
    assert list(keys) == [r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Mozilla\Thunderbird"], list(keys)
    (values,) = keys.values()
    assert list(values) == ["Preferences"] and values["Preferences"][0] == "REG_MULTI_SZ"
    document = _strict_json("\n".join(values["Preferences"][1]))
    assert list(document) == ["policies"] and list(document["policies"]) == ["Preferences"]
    return document["policies"]["Preferences"]


def read_managed_preferences(data: bytes) -> dict:
    """The Preferences policy of a configuration profile's managed preferences for org.mozilla.thunderbird."""
    plist = plistlib.loads(data)
    (payload,) = plist["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.ManagedClient.preferences"
    assert list(payload["PayloadContent"]) == ["org.mozilla.thunderbird"]
    (forced,) = payload["PayloadContent"]["org.mozilla.thunderbird"]["Forced"]
    settings = forced["mcx_preference_settings"]
    assert settings["EnterprisePoliciesEnabled"] is True and sorted(settings) == ["EnterprisePoliciesEnabled",
                                                                                 "Preferences"]
    return settings["Preferences"]


AUTODISCOVER_NS = {"r": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
                   "a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}


def read_autodiscover(data: bytes) -> dict:
    """An Outlook Autodiscover (POX) answer with the standard library's parser (after refusing any DTD):
    {"user": {DisplayName, AutoDiscoverSMTPAddress} or None, "protocols": [{element: text}]}."""
    import xml.etree.ElementTree as ET

    assert b"<!DOCTYPE" not in data and b"<!ENTITY" not in data
    root = ET.fromstring(data)
    assert root.tag == "{" + AUTODISCOVER_NS["r"] + "}Autodiscover"
    (account,) = root.findall("a:Response/a:Account", AUTODISCOVER_NS)
    assert account.findtext("a:AccountType", namespaces=AUTODISCOVER_NS) == "email"
    assert account.findtext("a:Action", namespaces=AUTODISCOVER_NS) == "settings"
    user = root.find("a:Response/a:User", AUTODISCOVER_NS)
    return {"user": None if user is None else {child.tag.split("}")[1]: child.text for child in user},
            "protocols": [{child.tag.split("}")[1]: child.text for child in protocol}
                          for protocol in account.findall("a:Protocol", AUTODISCOVER_NS)]}


def read_reg_values(data: bytes) -> dict:
    """A .reg file as Registry Editor reads one (UTF-16LE with BOM, CRLF): {key: {value name: data}}, where data is
    an int for dword: and the unescaped text for a quoted string. Any other line fails."""
    import re

    assert data.startswith(b"\xff\xfe")
    text = data[2:].decode("utf-16-le")
    assert "\n" not in text.replace("\r\n", "") and "\r" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[0] == "Windows Registry Editor Version 5.00" and lines[1] == "" and lines[-2:] == ["", ""]
    keys: dict = {}
    current = None
    quoted = r'"((?:[^"\\]|\\.)*)"'
    for line in lines[2:-2]:
        if line.startswith("["):
            assert line.endswith("]")
            current = keys.setdefault(line[1:-1], {})
            continue
        match = re.fullmatch(quoted + r'=(?:dword:([0-9a-f]{8})|' + quoted + ")", line)
        assert match and current is not None, line
        name = re.sub(r"\\(.)", r"\1", match.group(1))
        assert name not in current
        current[name] = int(match.group(2), 16) if match.group(2) else re.sub(r"\\(.)", r"\1", match.group(3))
    return keys
