"""The format registry: one entry per output format, and the only place that lists them.

Each :class:`Format` states its name, its scope (what one file is made for), its file
name, how it renders, what it cannot express, how its bytes are verified and read back,
and how it is shown in ``--diff``. ``CLIENTS`` (the ``clients`` a device can ask for),
the schema's client list (held to this table by a test) and the manifest's ``kind``
come from here. Adding a format is one render module, its template, one verify module
and one line in ``FORMATS``; the pipeline does not change.

A ``Format`` is generic in its subject (``subjects.py``), which its scope fixes: mypy checks
that an entry's renderer, verifier, limitations, file name, templates and install text all
take the subject of its scope.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, cast

from ..errors import ReadBackError
from ..model import Device, Finding, Inventory, Organization, Site
from .render import apple as render_apple
from .render import autoconfig as render_autoconfig
from .render import autodiscover as render_autodiscover
from .render import autodiscover_reg as render_autodiscover_reg
from .render import handout as render_handout
from .render import outlook as render_outlook
from .render import thunderbird as render_thunderbird
from .render import thunderbird_policies as render_thunderbird_policies
from .render import thunderbird_site as render_thunderbird_site
from .subjects import DEVICE, DOMAIN, FLEET, GROUP, ORGANIZATION, USER, DomainDevices, FleetSet, GroupUsers, S, Scope, UserDevices
from .verify import Settings
from .verify import apple as verify_apple
from .verify import autoconfig as verify_autoconfig
from .verify import autodiscover as verify_autodiscover
from .verify import autodiscover_reg as verify_autodiscover_reg
from .verify import handout as verify_handout
from .verify import outlook as verify_outlook
from .verify import thunderbird as verify_thunderbird
from .verify import thunderbird_policies as verify_thunderbird_policies
from .verify import thunderbird_site as verify_thunderbird_site
from .vocabulary import CLIENTS, PER_USER_FILES, SCOPES


def show_text(content: bytes) -> str:
    """Bytes as text for a diff: UTF-16LE when the file starts with its BOM, else UTF-8."""
    if content.startswith(b"\xff\xfe"):
        return content[2:].decode("utf-16-le", errors="replace")
    return content.decode("utf-8", errors="replace")


def no_limitations(org: Organization, subject: object) -> list[Finding]:
    return []


def no_install(subject: object) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class FleetForm:
    """How a device format reaches ``mailprofiles fleet`` (one file set per group and device profile).

    ``formats``: the formats whose files stand in for it in a fleet set (the format itself, rendered with the
    MDM's variables, or formats of scope ``fleet``); none: ``none`` says why, as the fleet's warning.
    """

    formats: tuple[str, ...] = ()
    needs_address_pattern: tuple[str, ...] = ()   # of these, those made only for groups with a fleet.address_pattern
    none: str = ""                                # the warning when there is no fleet form


@dataclass(frozen=True, slots=True)
class Format(Generic[S]):
    """One output format, of subject ``S``: the subject of its scope (``subjects.py``)."""

    name: str                                                   # the client name for a client's first device format
    scope: Scope[S]
    filename: str
    render: Callable[[Site, S], bytes]
    verify: Callable[[bytes, Organization, S], list[str]]
    # Device formats: the connection, read back (None from a file that names no IMAP/POP3/SMTP connection)
    read_settings: Callable[[bytes], Settings | None] | None = None
    # What it cannot express: for a device, from its settings and servers alone (user and device are only
    # stamped on each finding), so devices with the same resolved values share the work (tests/test_registry.py);
    # for a user's file, what names no user from the user's devices' settings and servers alone, so users whose
    # devices are resolved alike share it (``plan/planner.py`` all_findings)
    limitations: Callable[[Organization, S], list[Finding]] = no_limitations
    skips: frozenset[str] = field(default_factory=frozenset)     # limitation codes that mean "not produced"
    show: Callable[[bytes], str] = show_text
    kind: str = ""                                               # the manifest's kind; default: the scope
    templates: tuple[str, ...] = ()                              # its templates, relative to templates/
    filename_for: Callable[[S], str] | None = None               # a device format whose file name is a setting
    templates_for: Callable[[S], tuple[str, ...]] | None = None  # the templates one subject's file uses
    signable: bool = False                                       # signed (CMS) when a signer is given
    # Device formats: how the user installs the file, by handout language ({file}: its name, ``code``)
    install: Callable[[S], Mapping[str, str]] = no_install
    fleet: FleetForm = FleetForm()                               # device formats: the fleet's form of it
    # Device formats: the client (a value of ``clients``) it is made for, when another format of that client comes
    # first and carries its name (Outlook: the PRF, then the Autodiscover file and the .reg that points to it)
    of_client: str = ""

    @property
    def manifest_kind(self) -> str:
        return self.kind or str(self.scope)

    @property
    def client(self) -> str:
        """The client it is made for: ``of_client``, or its name."""
        return self.of_client or self.name

    def file_name(self, subject: S) -> str:
        return self.filename_for(subject) if self.filename_for is not None else self.filename

    def templates_used(self, subject: S) -> tuple[str, ...]:
        return self.templates_for(subject) if self.templates_for is not None else self.templates

    def check(self, content: bytes, org: Organization, subject: S) -> list[str]:
        """Every rule the bytes break; a file that cannot be read back at all is one problem."""
        try:
            return self.verify(content, org, subject)
        except ReadBackError as exc:
            return [str(exc)]
        except (KeyError, TypeError, ValueError) as exc:
            return [f"the file cannot be read back: {type(exc).__name__}: {exc}"]


ScopedFormat = (Format[Device] | Format[UserDevices] | Format[DomainDevices] | Format[Inventory] | Format[FleetSet]
                | Format[GroupUsers])
"""A format of any one scope. ``FORMATS`` is typed with this union, not ``Format[Any]``: against ``Any``, mypy
would take each entry's subject to be ``Any`` and check nothing."""

FORMATS: tuple[ScopedFormat, ...] = (
    Format("thunderbird", DEVICE, "prefs.js", render_thunderbird.render, verify_thunderbird.verify,
           verify_thunderbird.read_settings, render_thunderbird.limitations,
           templates=("thunderbird/prefs.js.j2",), filename_for=render_thunderbird.filename,
           install=render_thunderbird.install,
           fleet=FleetForm(("thunderbird-site-prefs", "thunderbird-site-cfg", *render_thunderbird_policies.FORMATS),
                           needs_address_pattern=("thunderbird-site-prefs", "thunderbird-site-cfg"))),
    Format("apple", DEVICE, "mail.mobileconfig", render_apple.render, verify_apple.verify,
           verify_apple.read_settings, render_apple.limitations, render_apple.SKIPS, show=verify_apple.show,
           signable=True, templates=tuple(render_apple.TEMPLATES.values()), templates_for=render_apple.templates,
           install=render_apple.install,
           fleet=FleetForm(("apple",))),
    Format("outlook", DEVICE, "outlook.prf", render_outlook.render, verify_outlook.verify,
           verify_outlook.read_settings, render_outlook.limitations, render_outlook.SKIPS,
           templates=("outlook/outlook.prf.j2",), install=lambda device: render_outlook.INSTALL,
           fleet=FleetForm(none=render_outlook.NO_FLEET_FORM)),
    Format("outlook-autodiscover", DEVICE, "autodiscover.xml", render_autodiscover.render_device,
           verify_autodiscover.verify_device, verify_autodiscover.read_settings, render_autodiscover.limitations_device,
           render_autodiscover.SKIPS, templates=(render_autodiscover.TEMPLATE,), install=render_autodiscover.install,
           fleet=FleetForm(none=render_autodiscover.NO_FLEET_FORM), of_client="outlook"),
    Format("outlook-autodiscover-reg", DEVICE, "autodiscover.reg", render_autodiscover_reg.render,
           verify_autodiscover_reg.verify, verify_autodiscover_reg.read_settings, render_autodiscover_reg.limitations,
           render_autodiscover.SKIPS, templates=(render_autodiscover_reg.TEMPLATE,),
           install=render_autodiscover_reg.install, fleet=FleetForm(none=render_autodiscover.NO_FLEET_FORM),
           of_client="outlook"),
    Format("autoconfig", DOMAIN, "autoconfig/{domain}/mail/config-v1.1.xml", render_autoconfig.render,
           verify_autoconfig.verify, limitations=render_autoconfig.limitations, kind="autoconfig",
           templates=("autoconfig/config-v1.1.xml.j2",)),
    Format("autodiscover", DOMAIN, "autodiscover/{domain}/autodiscover.xml", render_autodiscover.render_domain,
           verify_autodiscover.verify_domain, limitations=render_autodiscover.limitations_domain, kind="autodiscover",
           templates=(render_autodiscover.TEMPLATE,)),
    Format("thunderbird-site-prefs", FLEET, "thunderbird/defaults/pref/autoconfig.js",
           render_thunderbird_site.render_prefs, verify_thunderbird_site.verify_prefs, kind="fleet",
           templates=("thunderbird-site/autoconfig.js.j2",)),
    Format("thunderbird-site-cfg", FLEET, "thunderbird/mailprofiles.cfg", render_thunderbird_site.render_cfg,
           verify_thunderbird_site.verify_cfg, kind="fleet", templates=("thunderbird-site/mailprofiles.cfg.j2",)),
    Format("thunderbird-policies-json", FLEET, "thunderbird/distribution/policies.json",
           render_thunderbird_policies.render_json, verify_thunderbird_policies.verify_json,
           limitations=render_thunderbird_policies.limitations, kind="fleet"),
    Format("thunderbird-policies-reg", FLEET, "thunderbird/policies.reg", render_thunderbird_policies.render_reg,
           verify_thunderbird_policies.verify_reg, limitations=render_thunderbird_policies.limitations,
           show=verify_thunderbird_policies.show_reg, kind="fleet"),
    Format("thunderbird-policies-mobileconfig", FLEET, "thunderbird/policies.mobileconfig",
           render_thunderbird_policies.render_mobileconfig, verify_thunderbird_policies.verify_mobileconfig,
           limitations=render_thunderbird_policies.limitations, show=verify_apple.show, signable=True, kind="fleet"),
    Format("handout", USER, "handout.html", render_handout.render, verify_handout.verify,
           limitations=render_handout.limitations, kind="handout",
           templates=("handout/handout.html.j2", "handout/lang/en.j2", "handout/lang/de.j2"),
           templates_for=lambda subject: ("handout/handout.html.j2", "handout/page.j2",
                                          f"handout/lang/{subject.user.language}.j2")),
    # A group's handouts in one file, when the organization asks for it (organization.group_handouts)
    Format("group-handout", GROUP, "handouts/{group}.html", render_handout.render_group, verify_handout.verify_group,
           limitations=render_handout.group_limitations, kind="group-handout",
           templates=("handout/group.html.j2", "handout/page.j2", "handout/lang/en.j2", "handout/lang/de.j2"),
           templates_for=render_handout.group_templates),
)

if CLIENTS != tuple(fmt.name for fmt in FORMATS if fmt.scope == DEVICE and not fmt.of_client) or \
        any(fmt.of_client not in CLIENTS for fmt in FORMATS if fmt.of_client) or \
        PER_USER_FILES != tuple(fmt.filename for fmt in FORMATS if fmt.scope == USER):
    raise ImportError("formats/vocabulary.py names other device formats or per-user files than the registry")


@dataclass(frozen=True, slots=True)
class _Tables:
    """``FORMATS`` by scope and by client, made once per value of ``FORMATS`` (a test may swap the table)."""

    formats: tuple[ScopedFormat, ...]
    scopes: dict[str, tuple[Format[Any], ...]]
    clients: dict[str, tuple[Format[Device], ...]]
    names: dict[str, Format[Any]]           # the first format of each name


_tables: _Tables | None = None


def _lookup() -> _Tables:
    global _tables
    tables = _tables
    if tables is None or tables.formats is not FORMATS:
        scopes: dict[str, list[Format[Any]]] = {}
        for fmt in FORMATS:
            scopes.setdefault(str(fmt.scope), []).append(fmt)
        devices = cast("list[Format[Device]]", scopes.get(str(DEVICE), []))
        clients: dict[str, list[Format[Device]]] = {}
        for fmt in devices:
            clients.setdefault(fmt.client, []).append(fmt)
        names: dict[str, Format[Any]] = {}
        for fmt in FORMATS:
            names.setdefault(fmt.name, fmt)
        tables = _tables = _Tables(FORMATS, {scope: tuple(found) for scope, found in scopes.items()},
                                   {client: tuple(found) for client, found in clients.items()}, names)
    return tables


def by_scope(scope: Scope[S]) -> tuple[Format[S], ...]:
    """The formats of one scope, in registry order."""
    return cast("tuple[Format[S], ...]", _lookup().scopes.get(str(scope), ()))


def of_client(client: str) -> tuple[Format[Device], ...]:
    """The device formats made for a client (a value of ``clients``), in registry order: the one named after it
    first."""
    return _lookup().clients.get(client, ())


def named(name: str) -> Format[Any]:
    """The format called ``name``; KeyError when there is none."""
    return _lookup().names[name]


__all__ = ["CLIENTS", "DEVICE", "DOMAIN", "FLEET", "FORMATS", "GROUP", "ORGANIZATION", "PER_USER_FILES", "SCOPES", "USER",
           "DomainDevices", "FleetForm", "FleetSet", "Format", "GroupUsers", "Scope", "ScopedFormat", "UserDevices", "by_scope",
           "named", "no_install", "of_client", "no_limitations", "show_text"]
