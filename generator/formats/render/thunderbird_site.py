"""Thunderbird site-wide: the AutoConfig pair ``defaults/pref/autoconfig.js`` + ``mailprofiles.cfg``.

Thunderbird reads them from its installation folder at every start. The .cfg builds the
account from the environment (the login is ``USER``, or ``USERNAME`` on Windows; the address
comes from the group's ``address_pattern``), adds it to the profile's account and outgoing
server lists once, sets what the user may change with ``defaultPref`` and locks what the
pattern enforces (POP3 leave-on-server and retention, Bcc to self) with ``lockPref``.
"""
from __future__ import annotations

from typing import Any

from ...model import Site
from ..engine import render_text
from ..subjects import FleetSet
from .thunderbird import AUTH_METHOD, SOCKET_TYPE, js_literal

FOLDER = "thunderbird-site"
KEYS = {"account": "mailprofiles_acct", "server": "mailprofiles_srv", "identity": "mailprofiles_id",
        "smtp": "mailprofiles_smtp"}
FILTERS = (("js", js_literal),)


def _context(site: Site, subject: FleetSet) -> dict[str, Any]:
    device = subject.device
    prefix, _, suffix = str(subject.address_pattern).partition("{login}")
    return {"org": site.organization, "device": device, "incoming": device.incoming, "smtp": device.outgoing,
            "pop3": device.pop3, "keys": KEYS, "prefix": prefix, "suffix": suffix, "login_rule": subject.login_rule,
            "fleet_set": f"{subject.group}/{device.profile}",
            "socket_type": SOCKET_TYPE[device.incoming.security], "auth_method": AUTH_METHOD[device.incoming.auth],
            "smtp_try_ssl": SOCKET_TYPE[device.outgoing.security],
            "smtp_auth_method": AUTH_METHOD[device.outgoing.auth]}


def render_prefs(site: Site, subject: FleetSet) -> bytes:
    return render_text(site, FOLDER, "autoconfig.js.j2", _context(site, subject), filters=FILTERS).encode("utf-8")


def render_cfg(site: Site, subject: FleetSet) -> bytes:
    return render_text(site, FOLDER, "mailprofiles.cfg.j2", _context(site, subject), filters=FILTERS).encode("utf-8")
