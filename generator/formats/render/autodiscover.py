"""Outlook Autodiscover ("POX"): the XML answer from which classic Outlook for Windows sets up a POP3 or IMAP account.

Two formats are made from one template (``templates/outlook-autodiscover/autodiscover.xml.j2``):

* ``autodiscover`` (scope ``domain``): ``OUT/autodiscover/<domain>/autodiscover.xml``, for a web server that answers
  Outlook's POST to ``https://autodiscover.<domain>/autodiscover/autodiscover.xml`` with this file (the README has
  nginx and Apache snippets). One static answer for every user of the domain: it names the servers most of the
  domain's devices use (as the autoconfig file does) and no ``LoginName``, because the answer cannot depend on who
  asks and Outlook substitutes nothing in it; Outlook then offers the address it was given as the user name.
* ``outlook-autodiscover`` (scope ``device``, client ``outlook``): ``OUT/<user>/<device>/autodiscover.xml``, the
  user's own answer with the user's ``LoginName``, display name and address, read by Outlook from the local file
  that ``autodiscover.reg`` (``render/autodiscover_reg.py``) names. It is made for every Outlook device, beside the
  PRF where a PRF works, and instead of it where a PRF cannot say what the device needs (STARTTLS on POP3 or IMAP).

The response, as Microsoft specifies it ([MS-OXDSCLI] section 2.2.4, the POX response; the elements as in
Microsoft's "POX Autodiscover XML elements for Exchange" pages): ``<Autodiscover>`` in the namespace
``http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006``, ``<Response>`` in
``.../outlook/responseschema/2006a``, optionally ``<User>`` (``DisplayName``, ``AutoDiscoverSMTPAddress``), and
``<Account>`` with ``<AccountType>email</AccountType>``, ``<Action>settings</Action>`` and one ``<Protocol>`` per
server:

* ``Type`` ``IMAP`` | ``POP3`` | ``SMTP``; ``Server`` (host name); ``Port``;
* ``LoginName``: the user's logon name (per user only, see above); ``DomainRequired`` ``off``: the login is used as
  it is, no ``DOMAIN\\`` prefix;
* ``SPA`` ``on`` | ``off``: Secure Password Authentication (NTLM); absent means ``on``, so it is always written;
* ``SSL`` ``on`` | ``off`` and ``Encryption`` ``None`` | ``SSL`` | ``TLS`` (| ``Auto``): "if present, the Encryption
  element overrides the SSL element" ([MS-OXDSCLI], Protocol element; automx2 ``generators/outlook.py`` quotes it and
  maps STARTTLS to ``TLS``). ``TLS`` is STARTTLS, ``SSL`` implicit TLS: ``TLS`` is written only for a server that
  does STARTTLS (a wrong ``TLS`` breaks Outlook silently: stalwart issue 3248). ``SSL`` is ``on`` whenever TLS is
  used, so a client that reads only ``SSL`` fails to connect rather than sending the password in clear (automx2
  writes ``SSL off`` for STARTTLS, one of the differences ``tests/test_autodiscover_automx2.py`` explains);
* ``AuthRequired`` ``on``; for SMTP ``UsePOPAuth`` ``on`` (log in with the incoming server's user name and password,
  the PRF's ``SMTPAuthMethod`` 0) and ``SMTPLast`` ``off`` (no POP-before-SMTP).

What POX cannot say is a warning: no element keeps POP3 mail on the server or deletes it after N days, none sends a
Bcc to the own address, sets a signature or a check interval, and none signs in with OAuth2 (``AuthPackage`` is for
Exchange only); the last means no file, as for the PRF.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from ...model import Device, Finding, Organization, Server, Site
from ...paths import safe_component
from ..engine import render_text
from ..subjects import DomainDevices
from .autoconfig import by_protocol, census, choose, split_servers
from .outlook import CLIENT, client_limitations

FOLDER = "outlook-autodiscover"
TEMPLATE = f"{FOLDER}/autodiscover.xml.j2"
DOMAIN_CLIENT = "autodiscover"
# Not produced where no Outlook file can sign in (render/outlook.py client_limitations).
SKIPS = frozenset({"outlook-no-oauth2"})
NO_FLEET_FORM = ("Outlook's Autodiscover files name the user (login, address), so the fleet has none; deploy the "
                 "per-user files of 'mailprofiles generate' or answer Outlook from a server (OUT/autodiscover/<domain>).")

TYPE = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}
# Encryption overrides SSL ([MS-OXDSCLI]); SSL stays on for both kinds of TLS (see the module's docstring).
ENCRYPTION = {"ssl": "SSL", "starttls": "TLS", "none": "None"}
SSL = {"ssl": "on", "starttls": "on", "none": "off"}
# SPA is NTLM; a password (and CRAM-MD5, which Outlook lacks: outlook-no-cram-md5) is a plain login inside TLS.
SPA = {"password": "off", "cram-md5": "off", "ntlm": "on", "oauth2": "off"}

# Where the user's own file goes on the Windows PC, named by autodiscover.reg. C:\ProgramData exists on every
# Windows and users may create folders in it without admin rights; a REG_SZ value is read as it is (no %VARIABLE%
# is expanded in it), so the path is a plain absolute one, with the user's address so that two people on one PC
# do not share a file.
# What Outlook does without being told: check on its send/receive schedule, every 30 minutes.
OUTLOOK_SCHEDULE = (True, 30)
LOCAL_FOLDER = "C:\\ProgramData\\Autodiscover"


def local_path(device: Device) -> str:
    """The Windows path of the device's autodiscover.xml, as autodiscover.reg names it."""
    return f"{LOCAL_FOLDER}\\{safe_component(device.user.email)}\\autodiscover.xml"


def install(device: Device) -> Mapping[str, str]:
    path = local_path(device)
    return {
        "en": f"Outlook for Windows (2016 or later), instead of a PRF: save {{file}} as `{path}` (create the folder), "
              "then open autodiscover.reg (below).",
        "de": f"Outlook für Windows (ab 2016), statt einer PRF: {{file}} als `{path}` speichern (den Ordner anlegen), "
              "dann autodiscover.reg (unten) öffnen.",
    }


def _protocol(server: Server, login: str | None) -> dict[str, Any]:
    return {"type": TYPE[server.protocol], "host": server.host, "port": server.port, "login": login,
            "spa": SPA[server.auth], "ssl": SSL[server.security], "encryption": ENCRYPTION[server.security],
            "smtp": server.protocol == "smtp"}


def _retention(device: Device) -> str:
    pop3 = device.pop3
    assert pop3 is not None
    if not pop3.leave_on_server:
        return "clear 'Leave a copy of messages on the server'"
    if pop3.delete_after_days is None:
        return "check 'Leave a copy of messages on the server' and clear 'Remove from server after'"
    return f"check 'Leave a copy of messages on the server' and 'Remove from server after {pop3.delete_after_days} days'"


def limitations_device(org: Organization, device: Device) -> list[Finding]:
    found = client_limitations(org, device)
    if device.pop3 is not None and not any(f.code in SKIPS for f in found):     # said only where the file is made
        found.append(Finding(
            "outlook-autodiscover-pop-retention",
            "Outlook set up from autodiscover.xml: the file cannot say how long POP3 mail stays on the server (the "
            "Autodiscover Protocol element has no such setting). After adding the account: File > Account Settings > "
            f"this account > Change > More Settings > Advanced: {_retention(device)}.",
            device.user.email, device.name, CLIENT))
    return found


# A server's <Protocol> elements before and after its <LoginName> (the only one that names the user), as the built-in
# template writes them, each value escaped as XML autoescaping escapes it: made once per server, by the fields
# ``_protocol`` reads.
_SERVER_ELEMENTS: dict[tuple[str, str, int, str, str], tuple[str, str]] = {}
_SERVER_ENTRIES = 4096


def _server_elements(server: Server) -> tuple[str, str]:
    key = (server.protocol, server.host, server.port, server.security, server.auth)
    found = _SERVER_ELEMENTS.get(key)
    if found is None:
        values = _protocol(server, None)
        before = ("      <Protocol>\n"
                  f"        <Type>{escape(values['type'])}</Type>\n"
                  f"        <Server>{escape(values['host'])}</Server>\n"
                  f"        <Port>{escape(values['port'])}</Port>\n"
                  "        <DomainRequired>off</DomainRequired>\n")
        after = (f"        <SPA>{escape(values['spa'])}</SPA>\n"
                 f"        <SSL>{escape(values['ssl'])}</SSL>\n"
                 f"        <Encryption>{escape(values['encryption'])}</Encryption>\n"
                 "        <AuthRequired>on</AuthRequired>\n"
                 + ("        <UsePOPAuth>on</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n" if values["smtp"] else "")
                 + "      </Protocol>\n")
        if len(_SERVER_ELEMENTS) >= _SERVER_ENTRIES:
            _SERVER_ELEMENTS.clear()
        found = _SERVER_ELEMENTS[key] = (before, after)
    return found


def protocol_elements(servers: list[Server], login: str | None) -> Markup:
    """The built-in template's <Protocol> elements, one per server in order, with the ``LoginName`` where a login is
    given (the same text as the template's ``protocols`` would make, each value escaped once)."""
    login_element = "" if login is None else f"        <LoginName>{escape(login)}</LoginName>\n"
    parts: list[str] = []
    for server in servers:
        before, after = _server_elements(server)
        parts += (before, login_element, after)
    return Markup("".join(parts))


def _context(site: Site, servers: list[Server], login: str | None, user: dict[str, str] | None) -> dict[str, Any]:
    """The template's values: ``org``, ``user`` and ``protocol_elements`` (what the built-in template reads), and
    with a site folder, whose templates may read them, ``protocols`` (each server as a dict, ``_protocol``)."""
    values: dict[str, Any] = {"org": site.organization, "user": user,
                              "protocol_elements": protocol_elements(servers, login)}
    if site.templates_dir:
        values["protocols"] = [_protocol(server, login) for server in servers]
    return values


def render_device(site: Site, device: Device) -> bytes:
    user = device.user
    context = _context(site, [device.incoming, device.outgoing], user.login, {"name": user.name, "email": user.email})
    return render_text(site, FOLDER, "autodiscover.xml.j2", context, autoescape=True).encode("utf-8")


def render_domain(site: Site, subject: DomainDevices) -> bytes:
    """``subject``: a mail domain and the devices of its users. IMAP is listed before POP3, as in the autoconfig
    file; Outlook sets up one of the listed incoming protocols."""
    servers = by_protocol(subject.devices)
    chosen = [choose(servers[protocol])[0] for protocol in ("imap", "pop3", "smtp") if servers[protocol]]
    return render_text(site, FOLDER, "autodiscover.xml.j2", _context(site, chosen, None, None),
                       autoescape=True).encode("utf-8")


def limitations_domain(org: Organization, subject: DomainDevices) -> list[Finding]:
    domain, counted = subject.domain, census(subject.devices)
    devices = [device for device, _ in counted.kinds]     # what follows reads each kind of device once
    found = []
    for protocol, chosen, listing in split_servers(counted):
        found.append(Finding(
            "autodiscover-split-domain",
            f"{domain}: the users of one domain have different {protocol} servers ({listing}); the domain's "
            f"Autodiscover answer names one, {chosen.host}:{chosen.port}. Users of the other groups use their "
            "own files (OUT/<user>/<device>/autodiscover.xml and autodiscover.reg).", None, None, DOMAIN_CLIENT))
    others = sorted(counted.other_logins)
    if others:
        found.append(Finding(
            "autodiscover-domain-login",
            f"{domain}: the domain's Autodiscover answer is the same for every user, so it names no login (Outlook "
            "substitutes nothing in it) and Outlook offers the address as the user name; these users log in with "
            f"another name and must change it when adding the account: {', '.join(others[:10])}"
            + (f" and {len(others) - 10} more" if len(others) > 10 else "")
            + ". Or answer Outlook from a server that fills in the login per user (automx2 with %EMAILLOCALPART%), "
            "or give them their own files (OUT/<user>/<device>/autodiscover.xml and autodiscover.reg).",
            None, None, DOMAIN_CLIENT))
    if any(d.protocol == "imap" for d in devices) and any(d.protocol == "pop3" for d in devices):
        found.append(Finding(
            "autodiscover-pop-and-imap",
            f"{domain}: the domain's devices use IMAP and POP3, and its Autodiscover answer lists both (IMAP first); "
            "Outlook sets up one of them whatever the device. Set up the POP3 desktops with their own files "
            "(OUT/<user>/<device>/autodiscover.xml and autodiscover.reg, or the PRF).", None, None, DOMAIN_CLIENT))
    if any(d.bcc_self for d in devices):
        found.append(Finding(
            "autodiscover-no-bcc",
            f"{domain}: an Autodiscover answer has no Bcc to the own address; users who set up Outlook from it create "
            "a rule that applies after sending ('Cc the message to' the own address).", None, None, DOMAIN_CLIENT))
    policies = sorted({_retention(d) for d in devices if d.pop3 is not None})
    if policies:
        found.append(Finding(
            "autodiscover-no-pop-retention",
            f"{domain}: an Autodiscover answer cannot say how long POP3 mail stays on the server; users who set up a "
            "POP3 account from it set it by hand (File > Account Settings > Change > More Settings > Advanced: "
            f"{'; or '.join(policies)}).", None, None, DOMAIN_CLIENT))
    schedules = {(d.fetch_automatically, d.check_interval_minutes if d.fetch_automatically else 0) for d in devices}
    if schedules - {OUTLOOK_SCHEDULE}:
        found.append(Finding(
            "autodiscover-no-fetch-schedule",
            f"{domain}: an Autodiscover answer has no check schedule; Outlook checks on its own send/receive schedule "
            "(every 30 minutes unless changed), but devices of this domain should check "
            + ", ".join(f"every {minutes} minutes" if fetch else "only when asked"
                        for fetch, minutes in sorted(schedules))
            + " (File > Options > Advanced > Send/Receive).", None, None, DOMAIN_CLIENT))
    if any(d.signature is not None for d in devices):
        found.append(Finding(
            "autodiscover-no-signature",
            f"{domain}: an Autodiscover answer has no signature; users who set up Outlook from it enter theirs by hand "
            "(File > Options > Mail > Signatures).", None, None, DOMAIN_CLIENT))
    if any("oauth2" in (d.incoming.auth, d.outgoing.auth) for d in devices):
        found.append(Finding(
            "autodiscover-no-oauth2",
            f"{domain}: an Autodiscover answer cannot make Outlook sign in with OAuth2 to POP3, IMAP or SMTP; it "
            "names the servers with a password login, which an OAuth2-only server refuses. For Microsoft 365 users "
            "add the mailbox in Outlook as a Microsoft 365 account instead.", None, None, DOMAIN_CLIENT))
    return found
