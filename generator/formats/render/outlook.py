"""Outlook ``.prf``: a profile file for ``outlook.exe /importprf`` and the ImportPRF policy."""
from __future__ import annotations

from typing import cast

from ...errors import UnrepresentableValue
from ...model import Device, Finding, Organization, Site
from ...textrules import text_problem
from ..engine import render_text

CLIENT = "outlook"
# Findings that mean the artifact is not produced at all.
SKIPS = frozenset({"outlook-incoming-starttls", "outlook-no-oauth2"})
# How the user installs the file, by handout language (``code`` in backquotes, {file}: the file's name).
INSTALL = {
    "en": "Outlook for Windows: run `outlook.exe /importprf {file}` (IT may do this for you).",
    "de": "Outlook für Windows: `outlook.exe /importprf {file}` ausführen (das übernimmt ggf. die IT).",
}
# A PRF has no variables an MDM could fill in: there is no fleet form.
NO_FLEET_FORM = ("a PRF has no per-user variables, so the fleet has no Outlook file; deploy the per-user files of "
                 "'mailprofiles generate' (OUT/<user>/<device>/outlook.prf) instead.")

# [Internet Account List] token: names the mapping section and thereby the account type.
ACCOUNT_TOKEN = {"pop3": "I_Mail", "imap": "IMAP_I_Mail"}
ACCOUNT_TYPE = {"pop3": "POP3", "imap": "IMAP"}
KEY_PREFIX = {"pop3": "POP3", "imap": "IMAP"}
# PROP_INET_SSL (POP3UseSSL / IMAPUseSSL): documented only as zero / non-zero (implicit TLS).
INCOMING_SSL = {"ssl": 1, "none": 0}
# PROP_SMTP_SECURE_CONNECTION, ENCRYPT_CONN_*: 0 none, 1 SSL (implicit TLS), 2 TLS (STARTTLS).
SMTP_SECURE_CONNECTION = {"none": 0, "ssl": 1, "starttls": 2}
# Secure Password Authentication (NTLM) flag; CRAM-MD5 has no PRF value.
USE_SPA = {"password": 0, "ntlm": 1, "cram-md5": 0}
# PROP_POP_LEAVE_ON_SERVER bits; the days sit in the high 16 bits.
LEAVE_ON_SERVER = 0x1
REMOVE_AFTER = 0x2

# Section 7 mapping lines, copied from the OCT 2010+ generation (SMTPSecureConnection).
_COMMON_MAPPING = [
    ("AccountName", "PT_UNICODE,0x0002"),
    ("DisplayName", "PT_UNICODE,0x000B"),
    ("EmailAddress", "PT_UNICODE,0x000C"),
    ("{p}Server", "PT_UNICODE,0x0100"),
    ("{p}UserName", "PT_UNICODE,0x0101"),
    ("{p}UseSPA", "PT_LONG,0x0108"),
    ("Organization", "PT_UNICODE,0x0107"),
    ("ReplyEmailAddress", "PT_UNICODE,0x0103"),
    ("{p}Port", "PT_LONG,0x0104"),
    ("{p}UseSSL", "PT_LONG,0x0105"),
    ("SMTPServer", "PT_UNICODE,0x0200"),
    ("SMTPUseAuth", "PT_LONG,0x0203"),
    ("SMTPAuthMethod", "PT_LONG,0x0208"),
    ("SMTPUserName", "PT_UNICODE,0x0204"),
    ("SMTPUseSPA", "PT_LONG,0x0207"),
    ("ConnectionType", "PT_LONG,0x000F"),
    ("ConnectionOID", "PT_UNICODE,0x0010"),
    ("SMTPPort", "PT_LONG,0x0201"),
    ("SMTPSecureConnection", "PT_LONG,0x020A"),
    ("ServerTimeOut", "PT_LONG,0x0209"),
]
MAPPING = {
    "pop3": _COMMON_MAPPING + [("LeaveOnServer", "PT_LONG,0x1000")],
    "imap": _COMMON_MAPPING + [("CheckNewImap", "PT_LONG,0x1100"), ("RootFolder", "PT_UNICODE,0x1101")],
}


def ini_value(value: object) -> str:
    """An INI value. The format has no escape, so a value that would not read back is refused."""
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        raise TypeError("PRF flags are written as 0/1 integers, not booleans")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"a PRF cannot carry {type(value).__name__}")
    problem = text_problem(value)
    if problem or "\r" in value or "\n" in value:
        raise UnrepresentableValue(f"value {value!r} cannot be written to an Outlook PRF: {problem}")
    return value


def leave_on_server(device: Device) -> int:
    pop3 = device.pop3
    if pop3 is None or not pop3.leave_on_server:
        return 0
    if pop3.delete_after_days is None:
        return LEAVE_ON_SERVER
    return LEAVE_ON_SERVER | REMOVE_AFTER | (pop3.delete_after_days << 16)


def limitations(org: Organization, device: Device) -> list[Finding]:
    found = []
    if device.incoming.security == "starttls":
        found.append(Finding(
            "outlook-incoming-starttls",
            f"outlook.prf not generated: a PRF cannot ask for STARTTLS on {device.protocol.upper()} (only SSL on/off "
            "is documented). The device gets the Autodiscover pair instead (autodiscover.xml and autodiscover.reg, "
            "which say STARTTLS); or use implicit TLS "
            f"({'995' if device.protocol == 'pop3' else '993'}) for a PRF.",
            device.user.email, device.name, CLIENT))
    return found + client_limitations(org, device)


def client_limitations(org: Organization, device: Device) -> list[Finding]:
    """What no Outlook file (neither the PRF nor the Autodiscover XML) can say: each format of the client returns
    these same findings, which the run lists once."""
    found = []
    user, name = device.user.email, device.name
    if device.bcc_self:
        found.append(Finding(
            "outlook-no-bcc",
            "Outlook's files (PRF, Autodiscover) have no setting for a Bcc to the own address. Create an Outlook rule "
            "that applies after sending ('Cc the message to' the own address), or have the mail server copy each "
            "submitted message to the sender.",
            user, name, CLIENT))
    if "oauth2" in (device.incoming.auth, device.outgoing.auth):
        # A PRF's account keys are a password login or SPA (NTLM) and nothing else (Office Customization Tool's
        # PRF keys, POP3/IMAP/SMTP sections: UseSPA, SMTPUseAuth); OAuth2 for POP3/IMAP is not among them. The
        # Autodiscover POX Protocol element has SPA and AuthRequired, and AuthPackage only for Exchange ([MS-OXDSCLI]
        # Protocol element): no OAuth2 for IMAP, POP3 or SMTP either.
        found.append(Finding(
            "outlook-no-oauth2",
            "not generated: neither a PRF nor an Autodiscover file can make Outlook sign in with OAuth2 to a POP3 or "
            "IMAP account (they know only a password or NTLM). For a Microsoft 365 mailbox add it in Outlook as a "
            "Microsoft 365 account (File > Add Account with the address; Outlook signs in through the browser); for "
            "other servers use Thunderbird or Apple Mail on this device.",
            user, name, CLIENT))
    if "cram-md5" in (device.incoming.auth, device.outgoing.auth):
        found.append(Finding(
            "outlook-no-cram-md5",
            "Outlook has no CRAM-MD5 setting; the account uses a plain password login inside TLS instead.",
            user, name, CLIENT))
    if device.protocol == "pop3" and not device.fetch_automatically:
        found.append(Finding(
            "outlook-no-fetch-schedule",
            "Outlook's files have no setting for whether a POP3 account is checked automatically, and Outlook checks "
            "it on its send/receive schedule. To fetch only when the user asks, the user must clear 'Schedule an "
            "automatic send/receive' for this account's group (File > Options > Advanced > Send/Receive).",
            user, name, CLIENT))
    if device.fetch_automatically:
        # Said once per run and interval, not on each device's handout (see apple.fetch_schedule): Outlook's own
        # schedule checks every 30 minutes unless the user changes it.
        minutes = device.check_interval_minutes
        found.append(Finding(
            "outlook-no-fetch-schedule",
            f"Outlook's files have no setting for the check interval: Outlook devices that should check every {minutes} "
            "minutes keep Outlook's send/receive schedule (every 30 minutes unless changed). Where a device must keep "
            f"to the interval, its user sets 'Schedule an automatic send/receive every {minutes} minutes' (File > "
            "Options > Advanced > Send/Receive); the handouts do not ask for it.", None, None, CLIENT))
    if device.signature is not None:
        found.append(Finding(
            "outlook-no-signature",
            "Outlook's files have no setting for a signature. Outlook keeps signatures as files in "
            "%APPDATA%\\Microsoft\\Signatures; create it there (or in File > Options > Mail > Signatures).",
            user, name, CLIENT))
    return found


def context(org: Organization, device: Device) -> dict[str, object]:
    user = device.user
    p = KEY_PREFIX[device.protocol]
    account: list[tuple[str, str | int]] = [
        ("UniqueService", "No"),
        ("AccountName", user.email),
        ("DisplayName", user.name),
        ("EmailAddress", user.email),
        ("ReplyEMailAddress", user.email),
        ("Organization", org.name),
        (f"{p}Server", device.incoming.host),
        (f"{p}UserName", user.login),
        (f"{p}UseSPA", USE_SPA[device.incoming.auth]),
        (f"{p}Port", device.incoming.port),
        (f"{p}UseSSL", INCOMING_SSL[device.incoming.security]),
        ("SMTPServer", device.outgoing.host),
        ("SMTPPort", device.outgoing.port),
        ("SMTPSecureConnection", SMTP_SECURE_CONNECTION[device.outgoing.security]),
        ("SMTPUseAuth", 1),
        ("SMTPAuthMethod", 0),
        ("SMTPUseSPA", USE_SPA[device.outgoing.auth]),
        ("ConnectionType", 0),
        ("ServerTimeOut", 60),
    ]
    if device.protocol == "pop3":
        account.append(("LeaveOnServer", f"0x{leave_on_server(device):X}"))
    else:
        account.append(("CheckNewImap", 1 if device.fetch_automatically else 0))
    account.append(("DefaultAccount", "TRUE"))
    return {
        "profile_name": user.email,
        "token": ACCOUNT_TOKEN[device.protocol],
        "account_type": ACCOUNT_TYPE[device.protocol],
        "account": account,
        "mapping": list(_MAPPING_LINES[device.protocol]),
    }


# The mapping lines of each account type, with its key prefix put in (made once).
_MAPPING_LINES = {protocol: tuple((key.format(p=KEY_PREFIX[protocol]), tag) for key, tag in lines)
                  for protocol, lines in MAPPING.items()}
# The same, as the built-in template writes them, by account type.
_MAPPING_TEXT = {ACCOUNT_TYPE[protocol]: "\n".join(f"{key}={tag}" for key, tag in lines)
                 for protocol, lines in _MAPPING_LINES.items()}


def prepared_lines(values: dict[str, object]) -> tuple[str, str]:
    """The built-in template's ``[Account1]`` and mapping lines as they are written: the account's keys with each
    value through ``ini`` (once per distinct value), and the account type's mapping lines (made once)."""
    written = _WRITTEN
    lines = []
    for key, value in cast(list[tuple[str, "str | int"]], values["account"]):
        if type(value) is int:
            text = str(value)
        elif not isinstance(value, str):
            text = ini_value(value)
        elif value in written:
            text = written[value]
        else:
            text = ini_value(value)
            if len(written) >= _WRITTEN_ENTRIES:
                written.clear()
            written[value] = text
        lines.append(f"{key}={text}")
    return "\n".join(lines), _MAPPING_TEXT[cast(str, values["account_type"])]


# Strings already written as INI values (the same text every time: ``ini_value`` depends on the value alone), as
# a run writes the same organization, host names and flags into every file.
_WRITTEN: dict[str, str] = {}
_WRITTEN_ENTRIES = 4096


def render(site: Site, device: Device) -> bytes:
    org = site.organization
    values = context(org, device)
    values["account_lines"], values["mapping_lines"] = prepared_lines(values)
    text = render_text(site, CLIENT, "outlook.prf.j2", values, filters=(("ini", ini_value),))
    text = text.replace("\n", "\r\n")
    if text.isascii():
        return text.encode("ascii")
    # Non-ASCII: UTF-16LE with the FF FE byte-order mark, the only Unicode form the INI reader knows.
    return b"\xff\xfe" + text.encode("utf-16-le")
