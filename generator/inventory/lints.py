"""Stage 4: policy lints. Warnings about one user's devices measured against the pattern.

The pattern: a stationary POP3 device keeps the archive and leaves mail on the server
for the mobile devices; the mobile (IMAP) devices Bcc the own address so the archive
also gets what they send; every connection is encrypted.
"""
from __future__ import annotations

from ..model import DEFAULT_PORTS, Device, Finding, Layout, User, usual_port


class Lints:
    """:func:`lint_user` for many users, sorted (:meth:`Finding.sort_key`): users whose devices are alike (names,
    settings, servers) get the same warnings, each with the user's address."""

    MAX_REMEMBERED = 4096

    def __init__(self) -> None:
        # devices alike -> (what keeps the ids of the key alive, the first user's warnings), or None where a
        # warning says more of its user than the address
        self.remembered: dict[object, tuple[object, list[Finding]] | None] = {}

    def of(self, user: User, devices: list[Device]) -> list[Finding]:
        return self._of(user, tuple((d.name, id(d.kind)) for d in devices), devices, None)

    def of_layout(self, user: User, layout: Layout) -> list[Finding]:
        """The same for devices given as a layout (``model.Roster``)."""
        return self._of(user, id(layout), None, layout)

    def _of(self, user: User, key: object, devices: list[Device] | None, layout: Layout | None) -> list[Finding]:
        known = self.remembered.get(key)
        if known is not None:
            email = user.email
            return [Finding(f.code, f.message, email, f.device, f.client) for f in known[1]]
        if devices is None:
            assert layout is not None
            devices = [Device(user, name, kind) for name, kind in layout]
        found = sorted(lint_user(user, devices), key=Finding.sort_key)
        if len(self.remembered) >= self.MAX_REMEMBERED:
            self.remembered.clear()
        alike = all(f.user == user.email and user.email not in f.message for f in found)
        self.remembered[key] = (layout or devices, found) if alike else None
        return found


def lint_user(user: User, devices: list[Device]) -> list[Finding]:
    found: list[Finding] = []
    pop3 = [d for d in devices if d.protocol == "pop3"]
    imap = [d for d in devices if d.protocol == "imap"]
    if not pop3:
        found.append(Finding(
            "no-archive", "no device keeps the archive (no POP3 desktop): mail is kept only as long as the "
            "server keeps it", user.email, None, None))
    if len(pop3) > 1:
        found.append(Finding(
            "multiple-pop3", f"{len(pop3)} POP3 devices ({', '.join(d.name for d in pop3)}): each downloads "
            "its own copy and the archive is split", user.email, None, None))
    for device in pop3:
        if imap and not device.setting("pop3.leave_on_server"):
            found.append(Finding(
                "pop3-deletes-mail", "this POP3 device deletes mail from the server after download, so the "
                f"user's IMAP devices ({', '.join(d.name for d in imap)}) will miss it; set "
                "pop3.leave_on_server: true", user.email, device.name, None))
    if pop3:
        for device in imap:
            if not device.bcc_self:
                found.append(Finding(
                    "no-bcc-to-archive", "this mobile device does not Bcc the own address, so mail sent from it "
                    f"never reaches the archive on {pop3[0].name}; set bcc_self: true",
                    user.email, device.name, None))
    for device in devices:
        for server in (device.incoming, device.outgoing):
            if not usual_port(server):
                usual = ", ".join(f"{p} for {s}" for (proto, s), p in DEFAULT_PORTS.items()
                                  if proto == server.protocol and s != "none")
                found.append(Finding(
                    "unusual-port", f"{server.protocol} on {server.host} port {server.port} with security "
                    f"{server.security!r} is unusual ({server.protocol} uses {usual}); it is generated as written: "
                    "check that the server answers so with 'mailprofiles check-servers'", user.email, device.name,
                    None))
            if server.security == "none":
                found.append(Finding(
                    "insecure-connection", f"{server.protocol} to {server.host}:{server.port} is not encrypted; "
                    "passwords and mail cross the network in clear text", user.email, device.name, None))
    return found
