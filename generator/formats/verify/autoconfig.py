"""config-v1.1.xml, read back with libxml2 (through lxml: no DTD, no entity expanded, no network) and checked against
the domain's devices.

The vocabulary is restated from Thunderbird's reader: socketType SSL / STARTTLS / plain,
authentication password-cleartext / password-encrypted / NTLM, the user-name placeholders.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from ...errors import ReadBackError
from ...model import Device, Organization
from ..subjects import DomainDevices

SOCKETS = {"SSL": "ssl", "STARTTLS": "starttls", "plain": "none"}
AUTH = {"password-cleartext": "password", "password-encrypted": "cram-md5", "NTLM": "ntlm", "OAuth2": "oauth2"}
OAUTH2_ELEMENTS = {"issuer": "issuer", "scope": "scopes", "authURL": "authorization_endpoint",
                   "tokenURL": "token_endpoint"}
USERNAMES = ("%EMAILADDRESS%", "%EMAILLOCALPART%")
SERVER_ELEMENTS = ("hostname", "port", "socketType", "username", "authentication")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
Element = Any       # an lxml element


def parse(content: bytes) -> Element:
    if not content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'):
        raise ReadBackError("the file does not start with an XML declaration in UTF-8")
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ReadBackError(f"the XML cannot be read: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise ReadBackError("the XML cannot be read: it has a document type declaration (DTD), which Thunderbird's "
                            "files never have")
    return root


def _text(element: Element, tag: str) -> str:
    found = element.findall(tag)
    if len(found) != 1 or not (found[0].text or "").strip():
        raise ReadBackError(f"<{element.tag}> needs exactly one non-empty <{tag}>")
    return (found[0].text or "").strip()


def read_servers(content: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(the provider's domain, every server as {protocol, host, port, security, auth, username, pop3})."""
    root = parse(content)
    if root.tag != "clientConfig" or root.get("version") != "1.1":
        raise ReadBackError("the root is not <clientConfig version=\"1.1\">")
    providers = root.findall("emailProvider")
    if len(providers) != 1:
        raise ReadBackError("expected exactly one <emailProvider>")
    provider = providers[0]
    domain = _text(provider, "domain")
    if provider.get("id") != domain:
        raise ReadBackError("<emailProvider id> is not its <domain>")
    servers = []
    for element in provider.findall("incomingServer") + provider.findall("outgoingServer"):
        kind = element.get("type")
        if (element.tag, kind) not in {("incomingServer", "imap"), ("incomingServer", "pop3"),
                                       ("outgoingServer", "smtp")}:
            raise ReadBackError(f"<{element.tag} type={kind!r}> is not an IMAP, POP3 or SMTP server")
        values = {tag: _text(element, tag) for tag in SERVER_ELEMENTS}
        port = values["port"]
        if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
            raise ReadBackError(f"{kind} port {values['port']!r} is not 1..65535")
        if values["socketType"] not in SOCKETS or values["authentication"] not in AUTH:
            raise ReadBackError(f"{kind}: socketType {values['socketType']!r} or authentication "
                                f"{values['authentication']!r} is not in Thunderbird's vocabulary")
        pop3 = element.find("pop3")
        servers.append({"protocol": kind, "host": values["hostname"], "port": int(values["port"]),
                        "security": SOCKETS[values["socketType"]], "auth": AUTH[values["authentication"]],
                        "username": values["username"],
                        "pop3": {child.tag: (child.text or "").strip() for child in pop3} if pop3 is not None else None})
    return domain, servers


def verify(content: bytes, org: Organization, subject: DomainDevices) -> list[str]:
    domain, servers = read_servers(content)
    problems: list[str] = []
    if domain != subject.domain:
        problems.append(f"the file is for {domain!r}, expected {subject.domain!r}")
    used = {(d.protocol, d.incoming) for d in subject.devices} | {("smtp", d.outgoing) for d in subject.devices}
    problems.extend(_check_oauth2(content, servers, subject))
    protocols = [s["protocol"] for s in servers]
    if sorted(set(protocols)) != sorted({p for p, _ in used}) or len(protocols) != len(set(protocols)):
        problems.append(f"servers listed {protocols}, expected one each of {sorted({p for p, _ in used})}")
    for server in servers:
        if not any(p == server["protocol"] and (s.host, s.port, s.security, s.auth) ==
                   (server["host"], server["port"], server["security"], server["auth"]) for p, s in used):
            problems.append(f"{server['protocol']} {server['host']}:{server['port']} is no device's server")
        if server["username"] not in USERNAMES:
            problems.append(f"user name {server['username']!r} is not a placeholder")
        if server["pop3"] is not None and server["protocol"] != "pop3":
            problems.append("a <pop3> block in a server that is not POP3")
        for key in ("leaveMessagesOnServer", "downloadOnBiff"):
            if server["pop3"] is not None and server["pop3"].get(key) not in ("true", "false"):
                problems.append(f"<{key}> must be true or false")
        if server["protocol"] == "pop3" and server["pop3"] is not None:
            policy = _policy(server["pop3"])
            wanted = {_device_policy(d) for d in subject.devices if d.protocol == "pop3"}
            if policy not in wanted:
                problems.append(f"<pop3> says (leave, days, download on biff) {policy}, no POP3 device's policy: "
                                f"{sorted(wanted, key=str)}")
    logins = {d.user.email: d.user.login for d in subject.devices}
    if all(login == email for email, login in logins.items()):
        form = "%EMAILADDRESS%"
    elif all(login == email.rpartition("@")[0] for email, login in logins.items()):
        form = "%EMAILLOCALPART%"
    else:
        form = "%EMAILADDRESS%"      # logins that follow no rule: the address, and a warning names the users
    for server in servers:
        if server["username"] in USERNAMES and server["username"] != form:
            problems.append(f"{server['protocol']} user name is {server['username']}, the logins say {form}")
    return problems


def read_oauth2(content: bytes) -> dict[str, str] | None:
    """The ``<oAuth2>`` block beside the provider, as {issuer, scopes, authorization_endpoint, token_endpoint}."""
    blocks = parse(content).findall("oAuth2")
    if len(blocks) > 1:
        raise ReadBackError("more than one <oAuth2> block")
    if not blocks:
        return None
    return {key: _text(blocks[0], tag) for tag, key in OAUTH2_ELEMENTS.items()}


def _check_oauth2(content: bytes, servers: list[dict[str, Any]], subject: DomainDevices) -> list[str]:
    """An <oAuth2> block exactly when a listed OAuth2 server's host is no known provider's, and then one that a
    device of the domain names as its own provider."""
    block = read_oauth2(content)
    own_hosts = [s["host"] for s in servers if s["auth"] == "oauth2" and not _known(s["host"])]
    if block is None:
        return [f"OAuth2 servers {own_hosts} at unknown hosts, but no <oAuth2> block"] if own_hosts else []
    if not own_hosts:
        return ["an <oAuth2> block, but no OAuth2 server at a host without a known provider"]
    owns = [d.oauth2 for d in subject.devices if d.oauth2 is not None]
    if not any({key: getattr(own, key) for key in OAUTH2_ELEMENTS.values()} == block for own in owns):
        return [f"the <oAuth2> block {block} is no device's identity provider"]
    return []


# The mail hosts and parent domains whose provider Thunderbird knows (Thunderbird 153 OAuth2Providers.sys.mjs,
# kHostnames), restated; it tries the host, then each shorter suffix that still has a dot.
KNOWN_HOSTS = frozenset({"office365.com", "outlook.com", "hotmail.com", "googlemail.com", "gmail.com", "imap.mail.ru",
                         "smtp.mail.ru", "imap.yandex.com", "smtp.yandex.com", "yahoo.com", "att.net", "aol.com",
                         "imap.fastmail.com", "pop.fastmail.com", "smtp.fastmail.com", "imap.comcast.net",
                         "pop.comcast.net", "smtp.comcast.net", "thundermail.com", "stage-thundermail.com"})


def _known(host: str) -> bool:
    labels = host.casefold().split(".")
    return any(".".join(labels[i:]) in KNOWN_HOSTS for i in range(len(labels) - 1))


def _policy(pop3: dict[str, str]) -> tuple[bool, int | None, bool]:
    """(leave on server, days or None, download on biff) as the <pop3> block says."""
    days = pop3.get("daysToLeaveMessagesOnServer")
    if days is not None and not (days.isascii() and days.isdigit()):
        raise ReadBackError(f"<daysToLeaveMessagesOnServer> {days!r} is not a number of days")
    return pop3.get("leaveMessagesOnServer") == "true", int(days) if days is not None else None, \
        pop3.get("downloadOnBiff") == "true"


def _device_policy(device: Device) -> tuple[bool, int | None, bool]:
    pop3 = device.pop3
    assert pop3 is not None
    days = pop3.delete_after_days if pop3.leave_on_server else None
    return pop3.leave_on_server, days, device.fetch_automatically
