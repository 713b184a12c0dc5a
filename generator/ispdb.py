"""``import-autoconfig``: a provider's published settings (config-v1.1.xml) as a ``servers:`` block.

The file is untrusted: it is read with a size limit and parsed by defusedxml (no DTD, no
entities, no external references). Of the servers a provider lists per protocol, the
encrypted one is chosen (implicit TLS before STARTTLS), and the choice is said. What cannot
be imported (a plain-text-only server, an unknown value) is reported, never dropped silently.

OAuth2 (``<authentication>OAuth2</authentication>``) becomes ``auth: oauth2``. Where a server lists both
OAuth2 and a password login, the provider decides: a provider Thunderbird knows by the host name
(:func:`generator.oauth2.provider_for`: Microsoft 365, Google, Yahoo, AOL, Fastmail, ...) gets OAuth2. Microsoft
365 and Google require it (Microsoft turned off password ("basic") logins for IMAP and POP in Exchange Online:
https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-
authentication-exchange-online; Google Workspace requires OAuth for IMAP, POP and SMTP:
https://support.google.com/a/answer/14114704); the others then need no password handed out. Any other host keeps
the password login, which every client can use, since Thunderbird 153 itself takes OAuth2 from an autoconfig
file only for a host it knows (``readAuthentication`` in ``modules/accountcreation/readFromXML.sys.mjs``).
An OAuth2-only server at another host needs the file's ``<oAuth2>`` block (issuer, scope, authURL, tokenURL,
as Thunderbird's ISPDB writes it), printed as the inventory's ``oauth2:`` block; such files carry no client
ID, so ``client_id`` is left out with a NOT IMPORTED note and ``validate`` reports it missing until the admin
adds the one registered at the issuer.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import yaml
from defusedxml import DefusedXmlException

from .errors import InputFileError, Location, excerpt
from .inventory.checks import Report
from .inventory.oauth2_block import check_oauth2
from .oauth2 import provider_for
from .textrules import hostname_problem, text_problem

MAX_BYTES = 1024 * 1024
SOCKETS = {"SSL": "ssl", "STARTTLS": "starttls", "plain": "none"}
PREFERENCE = {"ssl": 0, "starttls": 1, "none": 2}
AUTH = {"password-cleartext": "password", "plain": "password", "password-encrypted": "cram-md5",
        "secure": "cram-md5", "NTLM": "ntlm"}
OAUTH2 = "OAuth2"
# The <oAuth2> block's elements (Thunderbird's ISPDB) and the inventory's oauth2: keys they become.
OAUTH2_KEYS = (("issuer", "issuer"), ("authURL", "authorization_endpoint"), ("tokenURL", "token_endpoint"),
               ("scope", "scopes"))
LOGINS = {"%EMAILADDRESS%": "the whole address", "%EMAILLOCALPART%": "the part before the @"}
_PORT = re.compile(r"[0-9]{1,5}")     # ASCII digits only: int() would take any Unicode digit


class _Quoted(str):
    """A value from the file, always printed quoted: ``null``, ``on``, ``0x1f`` or ``2001:db8::`` stay text."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value),
                                                                                 style="'"))


def _port(text: str) -> int | None:
    """The port in 1..65535 written in ASCII digits, or None."""
    return int(text) if _PORT.fullmatch(text) and 1 <= int(text) <= 65535 else None


def _flow(server: dict[str, object]) -> str:
    """One server as a YAML flow mapping, by PyYAML's emitter, the host quoted."""
    data = {**server, "host": _Quoted(str(server["host"]))}
    text: str = yaml.dump(data, Dumper=_Dumper, default_flow_style=True, sort_keys=False, width=1 << 30)
    return text.strip()


@dataclass(slots=True)
class Imported:
    provider: str
    domains: list[str]
    servers: dict[str, dict[str, object]] = field(default_factory=dict)
    login: str = ""
    oauth2: dict[str, str] = field(default_factory=dict)   # the own identity provider, without client_id
    notes: list[str] = field(default_factory=list)       # what was chosen, and why
    problems: list[str] = field(default_factory=list)    # what could not be imported


def _read(path: Path) -> Element:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputFileError(f"{path} is not a regular file")
        if size > MAX_BYTES:
            raise InputFileError(f"{path} is {size:,} bytes; an autoconfig file is far smaller (limit {MAX_BYTES:,})")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        root: Element = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InputFileError(f"{path}: refused: {type(exc).__name__} (DTDs, entities and external references "
                             "are not allowed in an autoconfig file)") from None
    except SafeET.ParseError as exc:
        raise InputFileError(f"{path}: not well-formed XML ({exc})") from None
    if root.tag != "clientConfig":
        raise InputFileError(f"{path}: the root element is <{excerpt(root.tag, 40)}>, not <clientConfig>")
    return root


def _oauth2_block(root: Element, provider: Element, result: Imported) -> dict[str, str] | None:
    """The file's ``<oAuth2>`` block (beside or inside ``<emailProvider>``) as an ``oauth2:`` block without
    client_id, checked as ``validate`` checks it; None when there is none or it is unusable (said)."""
    element = root.find("oAuth2")
    if element is None:
        element = provider.find("oAuth2")
    if element is None:
        return None
    block: dict[str, str] = {}
    for tag, key in OAUTH2_KEYS:
        value = " ".join((element.findtext(tag) or "").split())
        problem = text_problem(value) if value else "is missing"
        if problem:
            result.problems.append(f"<oAuth2>: <{tag}> {problem}; the block is not imported")
            return None
        block[key] = value
    report = Report()
    check_oauth2(block, lambda path: Location(""), ("oauth2",), report)
    if report.errors:
        for error in report.errors:
            result.problems.append(f"<oAuth2>: {error.field} {error.message}; the block is not imported")
        return None
    return block


def _server(element: Element, domain: str, result: Imported,
            oauth2_block: dict[str, str] | None = None) -> dict[str, object] | None:
    kind = element.get("type", "")
    host = (element.findtext("hostname") or "").strip().replace("%EMAILDOMAIN%", domain)
    port_text = (element.findtext("port") or "").strip()
    socket = (element.findtext("socketType") or "").strip()
    auths = [(a.text or "").strip() for a in element.findall("authentication")]
    where = (f"{kind} {host if host and not hostname_problem(host) else excerpt(host, 60)}:"
             f"{port_text if _PORT.fullmatch(port_text) else excerpt(port_text, 8)}")
    problem = hostname_problem(host) if host else "is missing"
    if problem:
        result.problems.append(f"{where}: the host name {problem}; not imported")
        return None
    port = _port(port_text)
    if port is None:
        result.problems.append(f"{where}: port {excerpt(port_text, 8)} is not 1..65535; not imported")
        return None
    if socket not in SOCKETS:
        result.problems.append(f"{where}: socketType {excerpt(socket, 20)} is unknown; not imported")
        return None
    usable = [AUTH[a] for a in auths if a in AUTH]
    known = provider_for(host)
    if OAUTH2 in auths and known is not None:
        usable = ["oauth2"]
        if len(auths) > 1 and known.organization_approval:
            result.notes.append(f"{where}: chose OAuth2 over the other logins listed, as {known.name} requires it")
        elif len(auths) > 1:
            result.notes.append(f"{where}: chose OAuth2 over the other logins listed: Thunderbird knows {known.name}'s "
                                f"sign-in ({known.issuer}) by the host name, so no password is handed out (Apple and "
                                "Outlook profiles cannot carry it: no file, said; 'auth: password' with an app "
                                "password instead)")
    elif OAUTH2 in auths and usable:
        result.notes.append(f"{where}: chose the {usable[0]} login; OAuth2 is listed too, but a mail client signs in "
                            "with OAuth2 only at a host it knows (generator/oauth2.py) or with the provider's "
                            "client ID and an extension; to use it, set 'auth: oauth2' and add an 'oauth2:' block")
    elif OAUTH2 in auths and oauth2_block is not None:
        usable = ["oauth2"]
    elif OAUTH2 in auths:
        result.problems.append(f"{where}: OAuth2 only, and the file names no identity provider (no valid <oAuth2> "
                               "block), so this server is not imported")
        return None
    if not usable:
        shown = ", ".join(excerpt(a, 30) for a in auths) or "none"
        result.problems.append(f"{where}: no login mailprofiles sets up (authentication: {shown}); "
                               "this server is not imported")
        return None
    username = (element.findtext("username") or "").strip()
    if username and username not in LOGINS:
        result.problems.append(f"{where}: user name {excerpt(username, 40)} is neither %EMAILADDRESS% nor "
                               "%EMAILLOCALPART%; set each user's login by hand")
    elif username and not result.login:
        result.login = username
    return {"host": host, "port": port, "security": SOCKETS[socket], "auth": usable[0]}


def import_autoconfig(path: Path) -> Imported:
    """Read a provider's config-v1.1.xml; raises InputFileError for a file that is refused as a whole."""
    root = _read(path)
    provider = root.find("emailProvider")
    if provider is None:
        raise InputFileError(f"{path}: no <emailProvider>")
    domains = [(d.text or "").strip() for d in provider.findall("domain")
               if not hostname_problem((d.text or "").strip())]
    name = provider.findtext("displayName") or provider.get("id") or "?"
    result = Imported("".join(ch for ch in name if ch.isprintable())[:80], domains)
    domain = domains[0] if domains else ""
    oauth2_block = _oauth2_block(root, provider, result)
    candidates: dict[str, list[dict[str, object]]] = {"imap": [], "pop3": [], "smtp": []}
    for element in provider.findall("incomingServer") + provider.findall("outgoingServer"):
        kind = element.get("type", "")
        if kind not in candidates:
            result.problems.append(f"a server of type {excerpt(kind, 20)} is not IMAP, POP3 or SMTP; not imported")
            continue
        server = _server(element, domain, result, oauth2_block)
        if server is not None:
            candidates[kind].append(server)
    for kind, servers in candidates.items():
        encrypted = [s for s in servers if s["security"] != "none"]
        if servers and not encrypted:
            plain = servers[0]
            result.problems.append(f"{kind}: only a plain-text server is published ({plain['host']}:{plain['port']}); "
                                   "not imported (passwords would cross the network in clear text)")
            continue
        if not encrypted:
            continue
        chosen = sorted(encrypted, key=lambda s: PREFERENCE[str(s["security"])])[0]
        result.servers[kind] = chosen
        if len(servers) > 1:
            others = ", ".join(f"{s['host']}:{s['port']} {s['security']}" for s in servers if s is not chosen)
            result.notes.append(f"{kind}: {len(servers)} servers are published; chose the encrypted "
                                f"{chosen['host']}:{chosen['port']} {chosen['security']} (others: {others})")
    if not result.servers:
        result.problems.append("no server could be imported")
    elif oauth2_block is not None and any(s["auth"] == "oauth2" and provider_for(str(s["host"])) is None
                                          for s in result.servers.values()):
        result.oauth2 = oauth2_block
        result.problems.append(f"oauth2: client_id: an autoconfig file carries no client ID; add the one your mail "
                               f"clients are registered with at {oauth2_block['issuer']} ('validate' reports it "
                               "missing until then)")
    elif oauth2_block is not None and any(s["auth"] == "oauth2" for s in result.servers.values()):
        result.notes.append(f"the file's <oAuth2> block ({oauth2_block['issuer']}) is not printed: mail clients know "
                            "these servers' identity provider by the host name")
    return result


def as_yaml(result: Imported) -> str:
    """A ``servers:`` block to paste into an inventory, with the choices and problems as comments."""
    lines = [f"# Imported from the autoconfig file of {result.provider} ({', '.join(result.domains) or 'no domain'})"]
    if result.login:
        lines.append(f"# logins: {LOGINS[result.login]} ({result.login}); set 'login:' per user when it is not "
                     "the whole address")
    lines += [f"# note: {note}" for note in result.notes]
    lines += [f"# NOT IMPORTED: {problem}" for problem in result.problems]
    lines.append("servers:")
    for kind in ("imap", "pop3", "smtp"):
        server = result.servers.get(kind)
        if server is not None:
            lines.append(f"  {kind}: {_flow(server)}")
    if not result.servers:
        lines[-1] = "servers: {}"
    if result.oauth2:
        block = {key: _Quoted(value) for key, value in result.oauth2.items()}
        text: str = yaml.dump({"oauth2": block}, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                              width=1 << 30)
        lines += text.rstrip("\n").split("\n")
        lines.append(f"  # client_id: NOT IMPORTED: add the client ID registered at {result.oauth2['issuer']}")
    return "\n".join(lines) + "\n"


def as_data(result: Imported) -> dict[str, Any]:
    return {"provider": result.provider, "domains": result.domains, "servers": result.servers,
            "login": result.login, "oauth2": result.oauth2, "notes": result.notes, "problems": result.problems}


def as_json(result: Imported) -> str:
    return json.dumps(as_data(result), indent=2) + "\n"
