"""Stage 3: resolve. Layer the values of each device and build the typed model.

Runs only on input that passed the schema and the semantic checks. Layers, lowest to
highest: device profile < inventory ``settings``/``servers`` < each group in the user's
order < the user < the device entry. Every value keeps the layer (and place) it came
from. What only shows once the layers are combined (a setting that no layer sets, a
device without a server, a port that contradicts its security) is reported here as a
diagnostic, not raised.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FieldPath, Location, Where, within
from ..formats.vocabulary import CLIENTS
from ..model import DEFAULT_PORTS, Device, DeviceKind, Layout, OAuth2, Organization, Server, Source, User
from ..oauth2 import needs_own_provider
from ..settings import REQUIRED, SETTINGS
from .checks import Report, UserEntry, device_entry
from .profiles import Profile

SERVER_DEFAULTS: dict[str, object] = {"security": "ssl", "auth": "password", "allow_insecure": False}
Values = dict[str, tuple[Any, Source]]


@dataclass(frozen=True, slots=True)
class Layer:
    """One level of variables: its name, the mapping holding its ``settings``/``servers``, and their places."""

    name: str
    block: Mapping[str, Any]
    where: Callable[[FieldPath], Location | None]


@dataclass(frozen=True, slots=True)
class Base:
    """What every user is resolved against: checked organization, profiles, groups and inventory layer."""

    organization: Organization
    profiles: Mapping[str, Profile]
    groups: Mapping[str, Any]
    inventory: Layer
    where: Where                   # positions in the inventory file
    oauth2: Mapping[str, Any] | None = None   # the inventory's own identity provider (``oauth2:``), checked


def _flatten(mapping: Mapping[str, Any] | None, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in (mapping or {}).items():
        if isinstance(value, dict):
            yield from _flatten(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def _apply(values: Values, layers: list[Layer]) -> None:
    """Overlay ``layers`` onto ``values`` (dotted key -> (value, Source))."""
    for layer in layers:
        for part in ("settings", "servers"):
            for path, value in _flatten(layer.block.get(part)):
                key = ".".join(path) if part == "settings" else "servers." + ".".join(path)
                values[key] = (value, Source(layer.name, layer.where((part,) + path)))


class Resolver:
    """Resolves users one at a time; devices that share their layers share their values."""

    def __init__(self, base: Base):
        self.base = base
        self._base_values: dict[tuple[str, tuple[str, ...]], Values] = {}
        self._interned: dict[object, object] = {}
        self._plain: dict[tuple[str, tuple[str, ...]], DeviceKind] = {}
        # Roster rows of one shape (UserEntry.shape) whose devices are all plain: each device's name and kind
        self._shaped: dict[object, Layout] = {}

    def _intern(self, value: Any) -> Any:
        return self._interned.setdefault(value, value)

    def _below_user(self, profile: str, groups: tuple[str, ...]) -> Values:
        key = (profile, groups)
        cached: Values | None = self._base_values.get(key)
        if cached is None:
            prof = self.base.profiles[profile]
            layers = [Layer(prof.layer, {"settings": prof.settings}, prof.where), self.base.inventory]
            for group in groups:
                layers.append(Layer(f"group {group}", self.base.groups.get(group) or {},
                                    within(self.base.where, ("groups", group))))
            cached = {}
            _apply(cached, layers)
            self._base_values[key] = cached
        return cached

    MAX_SHAPES = 4096

    def shaped(self, entry: UserEntry) -> Layout | None:
        """The layout of the user's devices when a roster row of its shape was resolved before (each device plain)."""
        return self._shaped.get(entry.shape) if entry.shape is not None else None

    def person(self, entry: UserEntry) -> User:
        """The user alone."""
        data = entry.data
        return User(email=data["email"], name=data.get("name", data["email"]), login=data.get("login", data["email"]),
                    groups=self._intern(tuple(data.get("groups") or ())),
                    language=data.get("language", self.base.organization.language))

    def user(self, entry: UserEntry, report: Report) -> tuple[User, list[Device]]:
        data = entry.data
        user = self.person(entry)
        shaped = self.shaped(entry)
        if shaped is not None:
            return user, [Device(user, name, kind) for name, kind in shaped]
        devices = []
        for index, raw in enumerate(data["devices"]):
            device = self._device(entry, user, index, raw, report)
            if device is not None:
                devices.append(device)
        if entry.shape is not None and len(devices) == len(data["devices"]) and \
                all(self._is_plain(entry.data, device_entry(raw)[0]) for raw in data["devices"]):
            if len(self._shaped) >= self.MAX_SHAPES:
                self._shaped.clear()
            self._shaped[entry.shape] = tuple((self._intern(d.name), d.kind) for d in devices)
        return user, devices

    @staticmethod
    def _is_plain(data: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
        """Does the device resolve as every device of its profile and groups (neither its user nor its entry sets
        anything)?"""
        return not (data.get("settings") or data.get("servers") or spec.get("settings") or spec.get("servers")
                    or "clients" in spec)

    def _device(self, entry: UserEntry, user: User, index: int, raw: str | dict[str, Any],
                report: Report) -> Device | None:
        spec, _ = device_entry(raw)
        name = spec.get("name", spec["profile"])
        # A device whose user and entry set nothing resolves exactly as every such device of its profile and
        # groups: the first one is resolved in full, the others share its servers, values and provenance.
        plain = self._is_plain(entry.data, spec)
        key = (spec["profile"], user.groups)
        if plain and key in self._plain:
            return Device(user, name, self._plain[key])
        device = self._resolve(entry, user, index, spec, name, report)
        if plain and device is not None:
            self._plain[key] = device.kind
        return device

    def _resolve(self, entry: UserEntry, user: User, index: int, spec: dict[str, Any], name: str,
                 report: Report) -> Device | None:
        dpath: FieldPath = ("devices", index)
        values = dict(self._below_user(spec["profile"], user.groups))
        layers = [Layer("user", entry.data, entry.where)]
        settings = dict(spec.get("settings") or {})
        if "clients" in spec:
            settings["clients"] = spec["clients"]

        def where(path: FieldPath) -> Location:
            if path[:2] == ("settings", "clients") and "clients" not in (spec.get("settings") or {}):
                return entry.where(dpath + ("clients",))
            return entry.where(dpath + path)
        layers.append(Layer(f"device {name}", {"settings": settings, "servers": spec.get("servers")}, where))
        _apply(values, layers)
        location, field_name = entry.where(dpath), entry.field(dpath)
        plain = {key: value for key, (value, _) in values.items()}
        for setting in SETTINGS:
            if setting.name in values or not setting.applies(plain):
                continue
            if setting.default is REQUIRED:
                report.error(f"setting {setting.name!r} is not set by any layer (profile {spec['profile']!r})",
                             location, field_name, "set it in the device profile or in 'settings'")
                return None
        protocol = plain["protocol"]
        incoming = self._server(values, protocol, location, field_name, report)
        outgoing = self._server(values, "smtp", location, field_name, report)
        if incoming is None or outgoing is None:
            return None
        oauth2: OAuth2 | None = None
        for server in (incoming, outgoing):
            if needs_own_provider(server):
                oauth2 = self._own_provider(user.groups)
                if oauth2 is None:
                    auth_source = values[f"servers.{server.protocol}.auth"][1]
                    report.error(f"'auth: oauth2' on {server.host!r}, whose identity provider no mail client knows "
                                 "(known: Microsoft 365 and Google by their server names)",
                                 auth_source.location or location, f"servers.{server.protocol}.auth",
                                 "name the organization's identity provider in an 'oauth2:' block (issuer, "
                                 "authorization_endpoint, token_endpoint, client_id, scopes) at the top level or "
                                 "in the user's group")
                    return None
        resolved = tuple(self._value(setting.name, plain, setting.default) if setting.applies(plain) else None
                         for setting in SETTINGS)
        provenance = tuple(sorted((key, source) for key, (_, source) in values.items()))
        kind = DeviceKind(profile=spec["profile"], incoming=self._intern(incoming), outgoing=self._intern(outgoing),
                          values=self._intern(resolved), provenance=self._intern(provenance), oauth2=oauth2)
        return Device(user=user, name=name, kind=kind)

    def _own_provider(self, groups: tuple[str, ...]) -> OAuth2 | None:
        """The ``oauth2:`` block of the user's last group that has one, else the inventory's."""
        block = self.base.oauth2
        for group in groups:
            block = (self.base.groups.get(group) or {}).get("oauth2") or block
        if not block:
            return None
        own = OAuth2(issuer=block["issuer"], authorization_endpoint=block["authorization_endpoint"],
                     token_endpoint=block["token_endpoint"], client_id=block["client_id"], scopes=block["scopes"])
        interned: OAuth2 = self._intern(own)
        return interned

    @staticmethod
    def _value(name: str, plain: Mapping[str, Any], default: object) -> Any:
        value = plain.get(name, default)
        if name == "clients":
            return tuple(client for client in CLIENTS if client in value)
        return value

    @staticmethod
    def _server(values: Values, proto: str, location: Location, field_name: str, report: Report) -> Server | None:
        prefix = f"servers.{proto}."
        if prefix + "host" not in values:
            report.root_cause(f"missing-server-{proto}", f"no {proto} server is defined for this device", location,
                              field_name, f"add servers.{proto} to the inventory, a group, the user or the device")
            return None
        for key, default in SERVER_DEFAULTS.items():
            values.setdefault(prefix + key, (default, Source("default")))
        security, sec_src = values[prefix + "security"]
        if prefix + "port" not in values:
            values[prefix + "port"] = (DEFAULT_PORTS[(proto, security)], Source(f"default for {proto} {security}"))
        port = values[prefix + "port"][0]
        if security == "none" and not values[prefix + "allow_insecure"][0]:
            report.error("security 'none' sends passwords in clear text and needs 'allow_insecure: true' next to it",
                         sec_src.location or location, f"servers.{proto}.security")
            return None
        return Server(protocol=proto, host=values[prefix + "host"][0], port=port, security=security,
                      auth=values[prefix + "auth"][0])
