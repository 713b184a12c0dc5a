"""``import-autoconfig``: a provider's published settings (config-v1.1.xml) as a ``servers:`` block.

The file is untrusted: it is read with a size limit and parsed by defusedxml (no DTD, no
entities, no external references). Of the servers a provider lists per protocol, the
encrypted one with a password login is chosen (implicit TLS before STARTTLS), and the
choice is said. What cannot be imported (a plain-text-only server, an OAuth2-only
provider, an unknown value) is reported, never dropped silently.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import yaml
from defusedxml import DefusedXmlException

from .errors import InputFileError, excerpt
from .textrules import hostname_problem

MAX_BYTES = 1024 * 1024
SOCKETS = {"SSL": "ssl", "STARTTLS": "starttls", "plain": "none"}
PREFERENCE = {"ssl": 0, "starttls": 1, "none": 2}
AUTH = {"password-cleartext": "password", "plain": "password", "password-encrypted": "cram-md5",
        "secure": "cram-md5", "NTLM": "ntlm"}
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


def _server(element: Element, domain: str, result: Imported) -> dict[str, object] | None:
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
    if not usable:
        shown = ", ".join(excerpt(a, 30) for a in auths) or "none"
        result.problems.append(f"{where}: no password login (authentication: {shown}); mailprofiles sets up "
                               "password logins only, so this server is not imported")
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
    candidates: dict[str, list[dict[str, object]]] = {"imap": [], "pop3": [], "smtp": []}
    for element in provider.findall("incomingServer") + provider.findall("outgoingServer"):
        kind = element.get("type", "")
        if kind not in candidates:
            result.problems.append(f"a server of type {excerpt(kind, 20)} is not IMAP, POP3 or SMTP; not imported")
            continue
        server = _server(element, domain, result)
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
    return "\n".join(lines) + "\n"


def as_json(result: Imported) -> str:
    return json.dumps({"provider": result.provider, "domains": result.domains, "servers": result.servers,
                       "login": result.login, "notes": result.notes, "problems": result.problems}, indent=2) + "\n"
