"""The format registry: one entry per output format, and the only place that lists them.

Each :class:`Format` states its name, its scope (what one file is made for), its file
name, how it renders, what it cannot express, how its bytes are verified and read back,
and how it is shown in ``--diff``. ``CLIENTS`` (the ``clients`` a device can ask for),
the schema's client list (held to this table by a test) and the manifest's ``kind``
come from here. Adding a format is one render module, its template, one verify module
and one line in ``FORMATS``; the pipeline does not change.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import VerifyFailure
from ..model import Finding, Organization, Site
from .render import apple as render_apple
from .render import autoconfig as render_autoconfig
from .render import handout as render_handout
from .render import outlook as render_outlook
from .render import thunderbird as render_thunderbird
from .render import thunderbird_site as render_thunderbird_site
from .verify import Settings
from .verify import apple as verify_apple
from .verify import autoconfig as verify_autoconfig
from .verify import handout as verify_handout
from .verify import outlook as verify_outlook
from .verify import thunderbird as verify_thunderbird
from .verify import thunderbird_site as verify_thunderbird_site

DEVICE = "device"               # one file per device and client: OUT/<user>/<device>/<file>
USER = "user"                   # one file per user: OUT/<user>/<file>
FLEET = "fleet"                 # one file set per group and device profile (mailprofiles fleet)
DOMAIN = "domain"               # one file per mail domain
ORGANIZATION = "organization"   # one file for the whole inventory
SCOPES = (DEVICE, USER, FLEET, DOMAIN, ORGANIZATION)


def show_text(content: bytes) -> str:
    """Bytes as text for a diff: UTF-16LE when the file starts with its BOM, else UTF-8."""
    if content.startswith(b"\xff\xfe"):
        return content[2:].decode("utf-16-le", errors="replace")
    return content.decode("utf-8", errors="replace")


def no_limitations(org: Organization, subject: Any) -> list[Finding]:
    return []


def no_install(subject: Any) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class FleetForm:
    """How a device format reaches ``mailprofiles fleet`` (one file set per group and device profile).

    ``formats``: the formats whose files stand in for it in a fleet set (the format itself, rendered with the
    MDM's variables, or formats of scope ``fleet``); none: ``none`` says why, as the fleet's warning.
    """

    formats: tuple[str, ...] = ()
    needs_address_pattern: bool = False     # made only for groups with a fleet.address_pattern
    none: str = ""                          # the warning when there is no fleet form


@dataclass(frozen=True, slots=True)
class Format:
    """One output format."""

    name: str                                                   # the client name for device formats
    scope: str
    filename: str
    render: Callable[[Site, Any], bytes]
    verify: Callable[[bytes, Organization, Any], list[str]]
    read_settings: Callable[[bytes], Settings] | None = None    # device formats: the connection, read back
    # What it cannot express: for a device, from its settings and servers alone (user and device are only
    # stamped on each finding), so devices with the same resolved values share the work (tests/test_registry.py)
    limitations: Callable[[Organization, Any], list[Finding]] = no_limitations
    skips: frozenset[str] = field(default_factory=frozenset)     # limitation codes that mean "not produced"
    show: Callable[[bytes], str] = show_text
    kind: str = ""                                               # the manifest's kind; default: the scope
    templates: tuple[str, ...] = ()                              # its templates, relative to templates/
    filename_for: Callable[[Any], str] | None = None             # a device format whose file name is a setting
    templates_for: Callable[[Any], tuple[str, ...]] | None = None  # the templates one subject's file uses
    signable: bool = False                                       # signed (CMS) when a signer is given
    # Device formats: how the user installs the file, by handout language ({file}: its name, ``code``)
    install: Callable[[Any], Mapping[str, str]] = no_install
    fleet: FleetForm = FleetForm()                               # device formats: the fleet's form of it

    @property
    def manifest_kind(self) -> str:
        return self.kind or self.scope

    def file_name(self, subject: Any) -> str:
        return self.filename_for(subject) if self.filename_for is not None else self.filename

    def templates_used(self, subject: Any) -> tuple[str, ...]:
        return self.templates_for(subject) if self.templates_for is not None else self.templates

    def check(self, content: bytes, org: Organization, subject: Any) -> list[str]:
        """Every rule the bytes break; a file that cannot be read back at all is one problem."""
        try:
            return self.verify(content, org, subject)
        except VerifyFailure as exc:
            return [str(exc)]
        except (KeyError, TypeError, ValueError) as exc:
            return [f"the file cannot be read back: {type(exc).__name__}: {exc}"]


FORMATS: tuple[Format, ...] = (
    Format("thunderbird", DEVICE, "prefs.js", render_thunderbird.render, verify_thunderbird.verify,
           verify_thunderbird.read_settings, render_thunderbird.limitations,
           templates=("thunderbird/prefs.js.j2",), filename_for=render_thunderbird.filename,
           install=render_thunderbird.install,
           fleet=FleetForm(("thunderbird-site-prefs", "thunderbird-site-cfg"), needs_address_pattern=True)),
    Format("apple", DEVICE, "mail.mobileconfig", render_apple.render, verify_apple.verify,
           verify_apple.read_settings, render_apple.limitations, show=verify_apple.show, signable=True,
           templates=("apple/mail.mobileconfig.j2",), install=lambda device: render_apple.INSTALL,
           fleet=FleetForm(("apple",))),
    Format("outlook", DEVICE, "outlook.prf", render_outlook.render, verify_outlook.verify,
           verify_outlook.read_settings, render_outlook.limitations, render_outlook.SKIPS,
           templates=("outlook/outlook.prf.j2",), install=lambda device: render_outlook.INSTALL,
           fleet=FleetForm(none=render_outlook.NO_FLEET_FORM)),
    Format("autoconfig", DOMAIN, "autoconfig/{domain}/mail/config-v1.1.xml", render_autoconfig.render,
           verify_autoconfig.verify, limitations=render_autoconfig.limitations, kind="autoconfig",
           templates=("autoconfig/config-v1.1.xml.j2",)),
    Format("thunderbird-site-prefs", FLEET, "thunderbird/defaults/pref/autoconfig.js",
           render_thunderbird_site.render_prefs, verify_thunderbird_site.verify_prefs, kind="fleet",
           templates=("thunderbird-site/autoconfig.js.j2",)),
    Format("thunderbird-site-cfg", FLEET, "thunderbird/mailprofiles.cfg", render_thunderbird_site.render_cfg,
           verify_thunderbird_site.verify_cfg, kind="fleet", templates=("thunderbird-site/mailprofiles.cfg.j2",)),
    Format("handout", USER, "handout.html", render_handout.render, verify_handout.verify,
           limitations=render_handout.limitations, kind="handout",
           templates=("handout/handout.html.j2", "handout/lang/en.j2", "handout/lang/de.j2"),
           templates_for=lambda subject: ("handout/handout.html.j2", f"handout/lang/{subject.user.language}.j2")),
)

CLIENTS: tuple[str, ...] = tuple(fmt.name for fmt in FORMATS if fmt.scope == DEVICE)


def by_scope(scope: str) -> tuple[Format, ...]:
    """The formats of one scope, in registry order."""
    return tuple(fmt for fmt in FORMATS if fmt.scope == scope)


def named(name: str) -> Format:
    """The format called ``name``; KeyError when there is none."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise KeyError(name)
