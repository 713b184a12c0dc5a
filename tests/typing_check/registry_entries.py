"""Registry entries for mypy (``test_registry_types.py`` runs it on this file): each line whose comment starts
with "wrong" must be refused, every other line accepted. A format's scope fixes its subject, and its renderer, verifier,
limitations, file name, templates and install text must all take that subject."""
from __future__ import annotations

from generator.formats.registry import DEVICE, FLEET, USER, Format, ScopedFormat
from generator.formats.render import apple, handout, thunderbird, thunderbird_site
from generator.formats.verify import handout as handout_check
from generator.formats.verify import thunderbird as thunderbird_check
from generator.formats.verify import thunderbird_site as site_check
from generator.model import Device

RIGHT = (
    Format("handout", USER, "handout.html", handout.render, handout_check.verify, limitations=handout.limitations,
           templates_for=lambda subject: (f"handout/lang/{subject.user.language}.j2",)),
    Format("thunderbird", DEVICE, "prefs.js", thunderbird.render, thunderbird_check.verify, filename_for=thunderbird.filename,
           install=thunderbird.install),
    Format("prefs", FLEET, "autoconfig.js", thunderbird_site.render_prefs, site_check.verify_prefs),
)

WRONG = (
    Format("handout", USER, "handout.html", handout.render, thunderbird_check.verify),  # wrong: a device's verifier
    Format("card", DEVICE, "card.html", handout.render, handout_check.verify),  # wrong: a user's functions, device scope
    Format("cfg", FLEET, "x.cfg", thunderbird_site.render_cfg, site_check.verify_cfg, limitations=apple.limitations),  # wrong
    Format("page", USER, "page.html", handout.render, handout_check.verify,
           templates_for=lambda subject: (subject.domain,)),  # wrong: a user's subject has no domain
    Format("prefs", DEVICE, "prefs.js", thunderbird.render, thunderbird_check.verify,
           install=lambda device: {"en": device.findings[0].message}),  # wrong: a device has no findings
)

REGISTERED: tuple[ScopedFormat, ...] = (   # in the registry's own type, too: its union lets no wrong entry through
    Format("handout", USER, "handout.html", handout.render, handout_check.verify),
    Format("handout", USER, "handout.html", handout.render, thunderbird_check.verify),  # wrong: a device's verifier
)


def file_name(fmt: Format[Device], device: Device) -> str:
    return fmt.file_name(device) + fmt.file_name(device.user)  # wrong: a user is not the format's subject
