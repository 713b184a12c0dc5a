"""The formats' names as the inventory uses them: scopes, client names and per-user file names.

Loading an inventory needs these words and nothing else of the formats, so they live here, where
importing them loads no renderer (no Jinja2, no cryptography). The registry (``registry.py``) checks
on import that it says the same; a new client adds the name of its first device format to ``CLIENTS`` (its
other formats name it in ``of_client``).
"""
from __future__ import annotations

DEVICE = "device"               # one file per device and client: OUT/<user>/<device>/<file>
USER = "user"                   # one file per user: OUT/<user>/<file>
FLEET = "fleet"                 # one file set per group and device profile (mailprofiles fleet)
DOMAIN = "domain"               # one file per mail domain
ORGANIZATION = "organization"   # one file for the whole inventory
GROUP = "group"                 # one file per group of users (users in no group: ``_no-group``)
SCOPES = (DEVICE, USER, FLEET, DOMAIN, ORGANIZATION, GROUP)

CLIENTS: tuple[str, ...] = ("thunderbird", "apple", "outlook")
"""The device formats, in registry order: the values of a device's ``clients`` setting."""

PER_USER_FILES: tuple[str, ...] = ("handout.html",)
"""The files made per user, beside the device folders (no device may take their names)."""
