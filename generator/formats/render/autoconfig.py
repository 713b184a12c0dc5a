"""Autoconfig: ``autoconfig/<domain>/mail/config-v1.1.xml``, Thunderbird's format for manual setups.

One file per mail domain, listing the IMAP, POP3 and SMTP servers that the domain's users
have, with socket type, authentication, the user-name form and the POP3 retention. What
one file cannot say for a whole domain (different servers in different groups, logins that
follow no rule, the Bcc of mobile devices, "never delete") is reported as a warning.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...model import Device, Finding, OAuth2, Organization, Roster, Server, Site, User
from ...oauth2 import needs_own_provider
from ..engine import render_text
from ..subjects import DomainDevices

CLIENT = "autoconfig"
# config-v1.1.xml vocabulary (socketType, authentication), as Thunderbird reads it.
SOCKET_TYPE = {"ssl": "SSL", "starttls": "STARTTLS", "none": "plain"}
# OAuth2: <authentication>OAuth2</authentication>; for an own identity provider also the <oAuth2> block (issuer,
# scope, authURL, tokenURL) as ISPDB files carry it. Thunderbird 153 (modules/accountcreation/readFromXML.sys.mjs)
# takes OAuth2 only for a host its OAuth2Providers knows ("Lacking OAuth2 config"): for an own provider the
# extension of the warning thunderbird-oauth2-custom-provider must be installed first (see autoconfig-oauth2-provider).
AUTHENTICATION = {"password": "password-cleartext", "cram-md5": "password-encrypted", "ntlm": "NTLM",
                  "oauth2": "OAuth2"}
EMAILADDRESS, EMAILLOCALPART = "%EMAILADDRESS%", "%EMAILLOCALPART%"


def choose(servers: list[tuple[Server, Device]]) -> tuple[Server, dict[Server, set[str]]]:
    """The server most devices use (ties: the first in sort order), and every variant with its groups."""
    # Devices mostly share their server objects: count by object first, then merge equal servers.
    by_object: dict[int, tuple[Server, list[int], set[tuple[str, ...]]]] = {}
    for server, device in servers:
        seen = by_object.get(id(server))
        if seen is None:
            seen = by_object[id(server)] = (server, [0], set())
        seen[1][0] += 1
        seen[2].add(device.user.groups)
    variants: dict[Server, set[str]] = {}
    counts: Counter[Server] = Counter()
    for server, count, groups in by_object.values():
        counts[server] += count[0]
        names = variants.setdefault(server, set())
        for group in groups:
            names.update(group or ("(no group)",))
    chosen = sorted(counts, key=lambda s: (-counts[s], s.host, s.port, s.security, s.auth))[0]
    return chosen, variants


def by_protocol(devices: Sequence[Device]) -> dict[str, list[tuple[Server, Device]]]:
    found: dict[str, list[tuple[Server, Device]]] = {"imap": [], "pop3": [], "smtp": []}
    for device in devices:
        found[device.protocol].append((device.incoming, device))
        found["smtp"].append((device.outgoing, device))
    return found


@dataclass(frozen=True, slots=True)
class Census:
    """A domain's devices as its domain-wide files see them, counted rather than listed: one device of each kind
    (the same settings, servers, own identity provider and user groups) with how many there are, and the users
    whose login is not their address. A domain of a million devices has a handful of kinds."""

    kinds: tuple[tuple[Device, int], ...]     # in the order of their first device
    other_logins: dict[str, str]              # email -> login, where they differ
    local_logins: bool                        # every login is the local part of its address


def census(devices: Iterable[Device]) -> Census:
    if isinstance(devices, Roster):
        return _roster_census(devices)
    kinds: dict[tuple[int, tuple[str, ...]], list[Any]] = {}
    others: dict[str, str] = {}
    local = True
    last: User | None = None
    groups: tuple[str, ...] = ()
    for device in devices:
        user = device.user
        if user is not last:          # a user's devices are listed together
            last, groups = user, user.groups
            if user.login != user.email:
                others[user.email] = user.login
            if local and user.login != user.email.rpartition("@")[0]:
                local = False
        key = (id(device.kind), groups)
        seen = kinds.get(key)
        if seen is None:
            kinds[key] = [device, 1]
        else:
            seen[1] += 1
    return Census(tuple((device, count) for device, count in kinds.values()), others, local)


def _roster_census(roster: Roster) -> Census:
    """The census of a Roster: its users alike (the same kinds of devices, the same groups) counted, then their
    devices."""
    others: dict[str, str] = {}
    local = True
    alike: dict[tuple[tuple[int, ...], tuple[str, ...]], list[Any]] = {}
    keys: dict[int, tuple[int, ...]] = {}      # by id of a layout (users alike share one): its kinds, by id
    for user, layout in roster.by_user():
        if user.login != user.email:
            others[user.email] = user.login
        if local and user.login != user.email.rpartition("@")[0]:
            local = False
        key = keys.get(id(layout))
        if key is None:
            if len(keys) >= 4096:
                keys.clear()
            key = keys[id(layout)] = tuple(id(kind) for _, kind in layout)
        counted = alike.get((key, user.groups))
        if counted is None:
            alike[(key, user.groups)] = [user, layout, 1]
        else:
            counted[2] += 1
    kinds: dict[tuple[int, tuple[str, ...]], list[Any]] = {}
    for user, layout, count in alike.values():
        for name, kind in layout:
            seen = kinds.get((id(kind), user.groups))
            if seen is None:
                kinds[(id(kind), user.groups)] = [Device(user, name, kind), count]
            else:
                seen[1] += count
    return Census(tuple((device, count) for device, count in kinds.values()), others, local)


def _variants(kinds: Iterable[tuple[Server, int, tuple[str, ...]]]) -> tuple[Server, dict[Server, set[str]]]:
    """:func:`choose` of counted servers."""
    variants: dict[Server, set[str]] = {}
    counts: Counter[Server] = Counter()
    for server, count, groups in kinds:
        counts[server] += count
        variants.setdefault(server, set()).update(groups or ("(no group)",))
    chosen = sorted(counts, key=lambda s: (-counts[s], s.host, s.port, s.security, s.auth))[0]
    return chosen, variants


def split_servers(devices: Sequence[Device] | Census) -> list[tuple[str, Server, str]]:
    """The protocols whose users of one domain have different servers: (protocol, the server a domain-wide file
    names, every server with the groups that use it, as text)."""
    counted = devices if isinstance(devices, Census) else census(devices)
    servers: dict[str, list[tuple[Server, int, tuple[str, ...]]]] = {"imap": [], "pop3": [], "smtp": []}
    for device, count in counted.kinds:
        servers.setdefault(device.protocol, []).append((device.incoming, count, device.user.groups))
        servers["smtp"].append((device.outgoing, count, device.user.groups))
    split = []
    for protocol, found in servers.items():
        if not found:
            continue
        chosen, variants = _variants(found)
        if len(variants) > 1:
            listing = "; ".join(f"{s.host}:{s.port} {s.security} for {', '.join(sorted(g))}"
                                for s, g in sorted(variants.items(), key=lambda item: (item[0].host, item[0].port)))
            split.append((protocol, chosen, listing))
    return split


def username(devices: Sequence[Device]) -> tuple[str, list[str]]:
    """The user-name form, and the users whose login follows neither rule."""
    users = {d.user.email: d.user.login for d in devices}
    if all(login == email for email, login in users.items()):
        return EMAILADDRESS, []
    if all(login == email.rpartition("@")[0] for email, login in users.items()):
        return EMAILLOCALPART, []
    return EMAILADDRESS, sorted(email for email, login in users.items() if login != email)


def limitations(org: Organization, subject: DomainDevices) -> list[Finding]:
    domain, counted = subject.domain, census(subject.devices)
    kinds = [device for device, _ in counted.kinds]
    found = []
    for protocol, chosen, listing in split_servers(counted):
        found.append(Finding(
            "autoconfig-split-domain",
            f"{domain}: the users of one domain have different {protocol} servers ({listing}); one autoconfig "
            f"file lists one, {chosen.host}:{chosen.port}. Users of the other groups need their own files "
            "(the handout lists their settings).", None, None, CLIENT))
    odd = [] if not counted.other_logins or counted.local_logins else sorted(counted.other_logins)
    if odd:
        found.append(Finding(
            "autoconfig-custom-logins",
            f"{domain}: logins follow no rule that the file can carry (%EMAILADDRESS% or %EMAILLOCALPART%); it "
            f"says {EMAILADDRESS}, so these users must type their login by hand: {', '.join(odd[:10])}"
            + (f" and {len(odd) - 10} more" if len(odd) > 10 else ""), None, None, CLIENT))
    if any(d.bcc_self for d in kinds):
        found.append(Finding(
            "autoconfig-no-bcc",
            f"{domain}: the autoconfig format has no Bcc to the own address; users who set up a mobile device from "
            "it must turn on the Bcc by hand (Account Settings > Copies & Folders).", None, None, CLIENT))
    if any(d.pop3 is not None and d.pop3.leave_on_server and d.pop3.delete_after_days is None for d in kinds):
        found.append(Finding(
            "autoconfig-pop-keep-forever",
            f"{domain}: the autoconfig format cannot say 'never delete from the server'; Thunderbird then removes "
            "mail from the server after its own default (14 days): users must clear that setting by hand.",
            None, None, CLIENT))
    schedules = sorted({(d.fetch_automatically, d.check_interval_minutes) for d in kinds
                        if (d.fetch_automatically, d.check_interval_minutes) != THUNDERBIRD_SCHEDULE},
                       key=lambda schedule: (schedule[0], schedule[1]))
    if schedules:
        wanted = ", ".join(f"every {minutes} minutes" if fetch else "only when asked" for fetch, minutes in schedules)
        found.append(Finding(
            "autoconfig-no-fetch-schedule",
            f"{domain}: the autoconfig format has no check interval (only POP3's download on check); a program set "
            "up from it checks at start-up and every 10 minutes (Thunderbird's defaults), but devices of this domain "
            f"should check {wanted}: their users set it by hand (Account Settings > Server Settings).",
            None, None, CLIENT))
    if any(d.signature is not None for d in kinds):
        found.append(Finding(
            "autoconfig-no-signature",
            f"{domain}: the autoconfig format has no signature; users who set up a program from it enter theirs by "
            "hand (Account Settings > signature text).", None, None, CLIENT))
    pop3 = [(d, count) for d, count in counted.kinds if d.pop3 is not None]
    if len({_policy(d) for d, _ in pop3}) > 1:
        kept = _counted_pop3_policy(pop3)
        found.append(Finding(
            "autoconfig-split-pop-policy",
            f"{domain}: the POP3 devices of one domain keep mail on the server differently; one autoconfig file says "
            f"one way (leave on server: {kept['leave']}, days: {kept['days'] or 'none'}, download on check: "
            f"{kept['biff']}). Users of the other devices set it by hand (Account Settings > Server Settings).",
            None, None, CLIENT))
    hosts = {s.host for d in kinds for s in (d.incoming, d.outgoing) if needs_own_provider(s)}
    own = _counted_provider(counted.kinds, hosts) if hosts else None
    if own is not None:
        found.append(Finding(
            "autoconfig-oauth2-provider",
            f"{domain}: the autoconfig file names the organization's identity provider ({own.issuer}) in its "
            "<oAuth2> block, but Thunderbird 153 signs in with OAuth2 only to hosts whose provider it knows: install "
            "the provider's Thunderbird extension (see thunderbird-oauth2-custom-provider) before users set up "
            "their accounts from this file.", None, None, CLIENT))
    return found


def _counted_provider(kinds: Iterable[tuple[Device, int]], hosts: set[str]) -> OAuth2 | None:
    """:func:`own_provider` of counted devices."""
    counts: Counter[OAuth2] = Counter()
    for device, count in kinds:
        if device.oauth2 is not None and hosts & {device.incoming.host, device.outgoing.host}:
            counts[device.oauth2] += count
    return sorted(counts, key=lambda o: (-counts[o], o.issuer, o.client_id, o.scopes))[0] if counts else None


def _counted_pop3_policy(kinds: Iterable[tuple[Device, int]]) -> dict[str, Any]:
    """:func:`_pop3_policy` of counted devices."""
    policies: Counter[tuple[bool, int | None, bool]] = Counter()
    for device, count in kinds:
        assert device.pop3 is not None
        policies[(device.pop3.leave_on_server, device.pop3.delete_after_days, device.fetch_automatically)] += count
    leave, days, biff = sorted(policies, key=lambda p: (-policies[p], str(p)))[0]
    return {"leave": "true" if leave else "false", "days": days if leave else None,
            "biff": "true" if biff else "false"}


# What Thunderbird does for an account set up from an autoconfig file: check at start-up and every 10 minutes.
THUNDERBIRD_SCHEDULE = (True, 10)


def _policy(device: Device) -> tuple[bool, int | None, bool]:
    assert device.pop3 is not None
    leave = device.pop3.leave_on_server
    return leave, device.pop3.delete_after_days if leave else None, device.fetch_automatically


def _server(server: Server, pop3: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": server.protocol, "host": server.host, "port": server.port,
            "socket": SOCKET_TYPE[server.security], "auth": AUTHENTICATION[server.auth], "pop3": pop3,
            "own_provider": needs_own_provider(server)}


def own_provider(devices: Sequence[Device], servers: list[dict[str, Any]]) -> OAuth2 | None:
    """The own identity provider of the file's OAuth2 servers at unknown hosts: the one most of the domain's devices
    that use those servers name (ties: the first by issuer); None when no listed server needs one."""
    if not servers:
        return None
    hosts = {s["host"] for s in servers}
    counts = Counter(d.oauth2 for d in devices if d.oauth2 is not None
                     and hosts & {d.incoming.host, d.outgoing.host})
    return sorted(counts, key=lambda o: (-counts[o], o.issuer, o.client_id, o.scopes))[0] if counts else None


def _pop3_policy(devices: list[Device]) -> dict[str, Any]:
    policies = Counter((d.pop3.leave_on_server, d.pop3.delete_after_days, d.fetch_automatically)
                       for d in devices if d.pop3 is not None)
    leave, days, biff = sorted(policies, key=lambda p: (-policies[p], str(p)))[0]
    return {"leave": "true" if leave else "false", "days": days if leave else None,
            "biff": "true" if biff else "false"}


def render(site: Site, subject: DomainDevices) -> bytes:
    """``subject``: a mail domain and the devices of its users."""
    servers = by_protocol(subject.devices)
    incoming = []
    for protocol in ("imap", "pop3"):
        if servers[protocol]:
            chosen, _ = choose(servers[protocol])
            users = [d for _, d in servers[protocol]]
            incoming.append(_server(chosen, _pop3_policy(users) if protocol == "pop3" else None))
    outgoing, _ = choose(servers["smtp"])
    listed = [s for s in incoming] + [_server(outgoing)]
    context = {"domain": subject.domain, "org": site.organization, "incoming": incoming,
               "outgoing": listed[-1], "username": username(subject.devices)[0],
               "oauth2": own_provider(subject.devices, [s for s in listed if s["own_provider"]])}
    return render_text(site, CLIENT, "config-v1.1.xml.j2", context, autoescape=True).encode("utf-8")
