"""Load → validate → resolve: from the inventory's files to the typed model.

Every problem is collected as a :class:`Diagnostic`; if any is an error the
whole load fails with one :class:`InventoryError` carrying them all.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import textrules
from .errors import Diagnostic, InventoryError, Location, close_matches
from .loader import DEFAULT_LIMITS, Limits, format_path, iter_csv_users, load_yaml, relative_to
from .model import (CLIENTS, DEFAULT_PORTS, IMPLICIT_TLS_PORTS, PLAIN_START_PORTS, Device, Finding, Inventory,
                    Organization, Pop3Policy, Server, Source, User)
from .resources import data_dir
from .schema import schema_diagnostics

Where = Callable[[tuple], Location]
SETTING_KEYS = ("protocol", "clients", "bcc_self", "fetch_automatically", "check_interval_minutes",
                "pop3.leave_on_server", "pop3.delete_after_days")
SERVER_DEFAULTS = {"security": "ssl", "auth": "password", "allow_insecure": False}


def find_inventory_file(path: Path) -> Path:
    """A directory stands for its ``inventory.yaml``."""
    if path.is_dir():
        for name in ("inventory.yaml", "inventory.yml"):
            if (path / name).is_file():
                return path / name
        raise InventoryError([Diagnostic("directory holds no inventory.yaml", Location(str(path)))])
    return path


@dataclass(frozen=True)
class Layer:
    """One level of variables: its name and the raw settings/servers it sets."""

    name: str
    settings: dict | None
    servers: dict | None
    where: Callable[[tuple], Any]   # position of ("settings"|"servers", ...) in this layer's mapping


@dataclass
class _Profile:
    name: str
    settings: dict
    where: Where
    origin: str             # "built-in" or the file


@dataclass
class _UserInput:
    data: dict
    where: Where            # position of a path inside the user mapping
    field: Callable[[tuple], str]


def _flatten(mapping: dict | None, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if not mapping:
        return
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _flatten(value, prefix + (key,))
        else:
            yield prefix + (key,), value


class _Resolver:
    def __init__(self, path: Path, limits: Limits):
        self.path = path
        self.limits = limits
        self.errors: list[Diagnostic] = []
        self.error_keys: set = set()
        self.findings: list[Finding] = []
        self.base_cache: dict = {}
        self.interned: dict = {}

    def error(self, message: str, location: Location | None, field: str = "", hint: str = "") -> None:
        key = (message, location, field)
        if key not in self.error_keys:
            self.error_keys.add(key)
            self.errors.append(Diagnostic(message, location, field, hint))

    # ------------------------------------------------------------------ loading
    def run(self) -> Inventory:
        doc = load_yaml(self.path, "inventory", self.limits)
        data = doc.data
        if not isinstance(data, dict):
            raise InventoryError([Diagnostic("the inventory must be a mapping (organization:, servers:, users: ...)",
                                             doc.where(()))])
        self.doc = doc
        schema_errors = schema_diagnostics(data, "inventory", doc.where, key_where=doc.where_key)
        self.errors.extend(schema_errors)
        # Errors inside single users do not stop the other checks: those users are skipped, the rest go on.
        self.bad_users = {self._user_index(d.field) for d in schema_errors}
        # Errors outside the users: still check every user, but resolve no device from a broken base.
        self.resolve_devices = None not in self.bad_users
        try:
            return self._run(data)
        except (KeyError, TypeError, AttributeError, ValueError):
            if self.resolve_devices:
                raise
            raise InventoryError(self.errors) from None

    def _run(self, data: dict) -> Inventory:
        doc = self.doc
        base = self.path.parent
        self.profiles = self._load_profiles(data, base)
        self._check_organization(data["organization"])
        self.groups = data.get("groups") or {}
        self.inventory_layers = [Layer("inventory", data.get("settings"), data.get("servers"), doc.where)]
        self._check_server_blocks(data.get("servers"), lambda p: doc.where(("servers",) + p), ("servers",))
        for gname, group in self.groups.items():
            self._check_server_blocks(group.get("servers"), lambda p, g=gname: doc.where(("groups", g, "servers") + p),
                                      ("groups", gname, "servers"))
        devices: list[Device] = []
        seen_emails: dict[str, str] = {}
        seen_logins: dict[str, str] = {}
        for user_input in self._users(data, base):
            devices.extend(self._user(user_input, seen_emails, seen_logins))
        if self.errors:
            raise InventoryError(self.errors)
        self.findings.sort(key=Finding.sort_key)
        org = data["organization"]
        return Inventory(Organization(org["name"], org["identifier"]), tuple(devices), tuple(self.findings),
                         str(self.path))

    @staticmethod
    def _user_index(field: str) -> int | None:
        if field.startswith("users[") and "]" in field:
            return int(field[6:field.index("]")])
        return None

    def _load_profiles(self, data: dict, base: Path) -> dict[str, _Profile]:
        profiles: dict[str, _Profile] = {}
        folders = [(data_dir("profiles"), "built-in")]
        if "profiles_dir" in data:
            folder = relative_to(base, data["profiles_dir"])
            if not folder.is_dir():
                self.error("profiles_dir is not a directory", self.doc.where(("profiles_dir",)), "profiles_dir")
            else:
                folders.append((folder, ""))
        for folder, origin in folders:
            for file in sorted(folder.glob("*.yaml")):
                try:
                    pdoc = load_yaml(file, "profile", self.limits)
                except InventoryError as exc:
                    self.errors.extend(exc.diagnostics)
                    continue
                problems = schema_diagnostics(pdoc.data, "profile", pdoc.where, key_where=pdoc.where_key)
                if problems:
                    self.errors.extend(problems)
                    continue
                profiles[file.stem] = _Profile(file.stem, pdoc.data["settings"], pdoc.where, origin or str(file))
        return profiles

    def _check_organization(self, org: dict) -> None:
        for key in ("name", "identifier"):
            problem = textrules.text_problem(org[key])
            if problem:
                self.error(problem, self.doc.where(("organization", key)), f"organization.{key}")
        problem = textrules.reverse_dns_problem(org["identifier"])
        if problem:
            self.error(f"{org['identifier']!r} {problem}", self.doc.where(("organization", "identifier")),
                       "organization.identifier")

    def _check_server_blocks(self, servers: dict | None, where: Where, prefix: tuple) -> None:
        for proto, server in (servers or {}).items():
            host = server.get("host")
            if host is not None:
                problem = textrules.text_problem(host) or textrules.hostname_problem(host)
                if problem:
                    self.error(f"host {host!r} {problem}", where((proto, "host")),
                               format_path(prefix + (proto, "host")))

    # ------------------------------------------------------------------ users
    def _users(self, data: dict, base: Path) -> Iterator[_UserInput]:
        doc = self.doc
        for index, user in enumerate(data.get("users") or []):
            if index in self.bad_users:
                continue
            yield _UserInput(user, lambda p, i=index: doc.where(("users", i) + p),
                             lambda p, i=index: format_path(("users", i) + p))
        if "users_file" in data:
            csv_path = relative_to(base, data["users_file"])
            shown = data["users_file"]
            try:
                for row in iter_csv_users(csv_path, shown, self.limits):
                    where = (lambda p, r=row: r.where(p[0] if p else None))
                    field = (lambda p, r=row: f"row {r.row}, column {p[0]!r}" +
                             (f", entry {p[1] + 1}" if len(p) > 1 and isinstance(p[1], int) else "")
                             if p else f"row {r.row}")
                    problems = schema_diagnostics(row.data, "user", where, field)
                    if problems:
                        self.errors.extend(problems)
                        continue
                    yield _UserInput(row.data, where, field)
            except InventoryError as exc:
                if not exc.diagnostics[0].location or exc.diagnostics[0].location.line == 0:
                    # missing file: point at the users_file key
                    self.error(f"{exc.diagnostics[0].message}: {csv_path}", doc.where(("users_file",)), "users_file")
                else:
                    self.errors.extend(exc.diagnostics)

    def _user(self, ui: _UserInput, seen_emails: dict, seen_logins: dict) -> list[Device]:
        data = ui.data
        email = data["email"]
        ok = True
        for key in ("email", "name", "login"):
            if key in data:
                problem = textrules.text_problem(data[key])
                if problem:
                    self.error(problem, ui.where((key,)), ui.field((key,)))
                    ok = False
        problem = textrules.email_problem(email)
        if problem:
            self.error(f"{email!r} is not a valid email address: it {problem}", ui.where(("email",)),
                       ui.field(("email",)))
            ok = False
        login = data.get("login", email)
        if "login" in data and textrules.login_problem(login):
            self.error(f"login {login!r} {textrules.login_problem(login)}", ui.where(("login",)), ui.field(("login",)))
            ok = False
        here = str(ui.where(("email",)))
        folded = email.casefold()
        if folded in seen_emails:
            self.error(f"email {email!r} is used twice", ui.where(("email",)), ui.field(("email",)),
                       f"first used at {seen_emails[folded]}")
            ok = False
        else:
            seen_emails[folded] = here
        login_key = login.casefold()
        if not ok:
            pass  # an invalid or duplicate email: a login clash would only repeat it
        elif login_key in seen_logins and seen_logins[login_key] != here:
            self.error(f"login {login!r} is used twice", ui.where(("login",) if "login" in data else ("email",)),
                       ui.field(("login",)), f"first used at {seen_logins[login_key]}")
            ok = False
        else:
            seen_logins[login_key] = here
        groups = tuple(data.get("groups") or ())
        for gi, gname in enumerate(groups):
            if gname not in self.groups:
                self.error(f"{gname!r} is not a group", ui.where(("groups", gi)), ui.field(("groups", gi)),
                           close_matches(gname, self.groups) or
                           ("groups: " + ", ".join(sorted(self.groups)) if self.groups else "the inventory defines no groups"))
                ok = False
        self._check_server_blocks(data.get("servers"), lambda p: ui.where(("servers",) + p), ("servers",))
        user = User(email=email, name=data.get("name", email), login=login, groups=groups)
        devices: list[Device] = []
        names_seen: dict[str, int] = {}
        for di, entry in enumerate(data["devices"]):
            short = isinstance(entry, str)        # "laptop" instead of {profile: laptop}
            entry = {"profile": entry} if short else entry
            dpath = ("devices", di)
            profile = entry["profile"]
            name = entry.get("name", profile)
            profile_path = dpath if short else dpath + ("profile",)
            name_path = dpath + ("name",) if "name" in entry else profile_path
            problem = textrules.text_problem(name)
            if problem:
                self.error(f"device name {problem}", ui.where(name_path), ui.field(name_path))
                ok = False
                continue
            if name.casefold() in names_seen:
                self.error(f"device name {name!r} is used twice for this user", ui.where(name_path), ui.field(name_path),
                           "give each device a distinct 'name'")
                ok = False
                continue
            names_seen[name.casefold()] = di
            if profile not in self.profiles:
                self.error(f"{profile!r} is not a device profile", ui.where(profile_path),
                           ui.field(dpath + ("profile",)),
                           close_matches(profile, self.profiles) or "profiles: " + ", ".join(sorted(self.profiles)))
                ok = False
                continue
            self._check_server_blocks(entry.get("servers"), lambda p, dp=dpath: ui.where(dp + ("servers",) + p),
                                      dpath + ("servers",))
            if not ok or not self.resolve_devices:
                continue
            device = self._device(ui, user, entry, dpath, name)
            if device is not None:
                devices.append(device)
        if ok and devices:
            self._lint_user(user, devices)
        return devices

    # ------------------------------------------------------------------ layering
    def _base_values(self, profile: str, groups: tuple) -> dict:
        key = (profile, groups)
        cached = self.base_cache.get(key)
        if cached is not None:
            return cached
        prof = self.profiles[profile]
        builtin = prof.origin == "built-in"
        layers = [Layer(f"profile {profile}" + (" (built-in)" if builtin else ""), prof.settings, None,
                        (lambda p: None) if builtin else prof.where)]
        layers.extend(self.inventory_layers)
        for gname in groups:
            group = self.groups.get(gname) or {}
            layers.append(Layer(f"group {gname}", group.get("settings"), group.get("servers"),
                                lambda p, g=gname: self.doc.where(("groups", g) + p)))
        values: dict = {}
        _apply(values, layers)
        self.base_cache[key] = values
        return values

    def _device(self, ui: _UserInput, user: User, entry: dict, dpath: tuple, name: str) -> Device | None:
        values = dict(self._base_values(entry["profile"], user.groups))
        layers = []
        data = ui.data
        if data.get("settings") or data.get("servers"):
            layers.append(Layer("user", data.get("settings"), data.get("servers"),
                                lambda p: ui.where(p)))
        dev_settings = dict(entry.get("settings") or {})
        if "clients" in entry:
            dev_settings["clients"] = entry["clients"]
        if dev_settings or entry.get("servers"):
            def dev_where(p, dp=dpath, e=entry):
                if p and p[0] == "settings" and len(p) > 1 and p[1] == "clients" and "clients" in e and \
                        "clients" not in (e.get("settings") or {}):
                    return ui.where(dp + ("clients",))
                return ui.where(dp + p)
            layers.append(Layer(f"device {name}", dev_settings, entry.get("servers"), dev_where))
        _apply(values, layers)
        dev_loc = ui.where(dpath)
        dev_field = ui.field(dpath)
        missing = [k for k in SETTING_KEYS if k not in values and not (k.startswith("pop3.") and values.get("protocol", (None,))[0] != "pop3")]
        if missing:
            self.error(f"setting {missing[0]!r} is not set by any layer (profile {entry['profile']!r})",
                       dev_loc, dev_field, "set it in the device profile or in 'settings'")
            return None
        protocol = values["protocol"][0]
        incoming = self._server(values, protocol, dev_loc, dev_field, user, name)
        outgoing = self._server(values, "smtp", dev_loc, dev_field, user, name)
        if incoming is None or outgoing is None:
            return None
        pop3 = None
        if protocol == "pop3":
            pop3 = Pop3Policy(values["pop3.leave_on_server"][0], values["pop3.delete_after_days"][0])
        provenance = tuple(sorted((k, v[1]) for k, v in values.items()))
        # Devices resolved from the same layers share one provenance and server object (memory at scale).
        provenance = self.interned.setdefault(provenance, provenance)
        incoming = self.interned.setdefault(incoming, incoming)
        outgoing = self.interned.setdefault(outgoing, outgoing)
        return Device(user=user, name=name, profile=entry["profile"], protocol=protocol, incoming=incoming,
                      outgoing=outgoing, clients=tuple(c for c in CLIENTS if c in values["clients"][0]),
                      bcc_self=values["bcc_self"][0], fetch_automatically=values["fetch_automatically"][0],
                      check_interval_minutes=values["check_interval_minutes"][0], pop3=pop3,
                      provenance=provenance)

    def _server(self, values: dict, proto: str, dev_loc: Location, dev_field: str, user: User,
                device: str) -> Server | None:
        prefix = f"servers.{proto}."
        if prefix + "host" not in values:
            self.error(f"no {proto} server is defined for this device", dev_loc, dev_field,
                       f"add servers.{proto} to the inventory, a group, the user or the device")
            return None
        for key, default in SERVER_DEFAULTS.items():
            if prefix + key not in values:
                values[prefix + key] = (default, Source("default"))
        security = values[prefix + "security"][0]
        if prefix + "port" not in values:
            values[prefix + "port"] = (DEFAULT_PORTS[(proto, security)], Source(f"default for {proto} {security}"))
        port, port_src = values[prefix + "port"]
        sec_src = values[prefix + "security"][1]
        if security == "none":
            if not values[prefix + "allow_insecure"][0]:
                self.error("security 'none' sends passwords in clear text and needs 'allow_insecure: true' "
                           "next to it", sec_src.location or dev_loc,
                           f"servers.{proto}.security")
                return None
            self.findings.append(Finding("insecure-connection",
                                         f"{proto} to {values[prefix + 'host'][0]}:{port} is not encrypted; "
                                         "passwords and mail cross the network in clear text",
                                         user.email, device, None))
        if (security != "ssl" and port in IMPLICIT_TLS_PORTS[proto]) or (security == "ssl" and port in PLAIN_START_PORTS[proto]):
            self.error(f"port {port} does not fit security {security!r} for {proto}",
                       port_src.location or sec_src.location or dev_loc, f"servers.{proto}",
                       f"{proto} uses " + ", ".join(f"{p} for {s}" for (pr, s), p in DEFAULT_PORTS.items()
                                                      if pr == proto and s != "none"))
            return None
        return Server(protocol=proto, host=values[prefix + "host"][0], port=port, security=security,
                      auth=values[prefix + "auth"][0])

    # ------------------------------------------------------------------ policy lints
    def _lint_user(self, user: User, devices: list[Device]) -> None:
        pop3 = [d for d in devices if d.protocol == "pop3"]
        imap = [d for d in devices if d.protocol == "imap"]
        if not pop3:
            self.findings.append(Finding(
                "no-archive", "no device keeps the archive (no POP3 desktop): mail is kept only as long as the "
                "server keeps it", user.email, None, None))
        if len(pop3) > 1:
            self.findings.append(Finding(
                "multiple-pop3", f"{len(pop3)} POP3 devices ({', '.join(d.name for d in pop3)}): each downloads "
                "its own copy and the archive is split", user.email, None, None))
        for device in pop3:
            if imap and not device.pop3.leave_on_server:
                self.findings.append(Finding(
                    "pop3-deletes-mail", "this POP3 device deletes mail from the server after download, so the "
                    f"user's IMAP devices ({', '.join(d.name for d in imap)}) will miss it; set "
                    "pop3.leave_on_server: true", user.email, device.name, None))
        if pop3:
            for device in imap:
                if not device.bcc_self:
                    self.findings.append(Finding(
                        "no-bcc-to-archive", "this mobile device does not Bcc the own address, so mail sent from it "
                        f"never reaches the archive on {pop3[0].name}; set bcc_self: true",
                        user.email, device.name, None))


def _apply(values: dict, layers: Iterable[Layer]) -> None:
    """Overlay ``layers`` onto ``values`` (dotted key -> (value, Source))."""
    for layer in layers:
        for path, value in _flatten(layer.settings):
            values[".".join(path)] = (value, Source(layer.name, layer.where(("settings",) + path)))
        for path, value in _flatten(layer.servers):
            values["servers." + ".".join(path)] = (value, Source(layer.name, layer.where(("servers",) + path)))


def load_inventory(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Inventory:
    """Load, validate and resolve an inventory file or directory.

    Raises :class:`InventoryError` carrying every problem found.
    """
    return _Resolver(find_inventory_file(Path(path)), limits).run()
