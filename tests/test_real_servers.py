"""Every artifact's connection settings, read back from the file, log in to real servers."""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import time

import pytest
from mailservers import PASSWORD, server_inventory
from readers import connection_settings, read_autoconfig, read_autodiscover

from generator import generate


def _inventory(ports: dict, mode: str) -> str:
    return server_inventory(ports, mode,
                            "  - {email: anna@example.com, name: Anna Muster, login: anna, devices: [desktop, laptop, phone]}\n"
                            "  - {email: ben@example.com, name: Ben Beispiel, devices: [desktop, laptop]}\n")


def _connect_incoming(protocol: str, host: str, port: int, mode: str, context: ssl.SSLContext):
    if protocol == "imap":
        if mode == "ssl":
            return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=10)
        conn = imaplib.IMAP4(host, port, timeout=10)
        if mode == "starttls":
            conn.starttls(context)
        return conn
    if mode == "ssl":
        return poplib.POP3_SSL(host, port, context=context, timeout=10)
    conn = poplib.POP3(host, port, timeout=10)
    if mode == "starttls":
        conn.stls(context)
    return conn


def _fetch(protocol: str, host: str, port: int, mode: str, login: str, context) -> bytes:
    modes = ["ssl", "starttls"] if mode == "tls" else [mode]
    last = None
    for attempt in modes:
        try:
            conn = _connect_incoming(protocol, host, port, attempt, context)
            break
        except (OSError, imaplib.IMAP4.error, poplib.error_proto) as exc:
            last = exc
    else:
        raise AssertionError(f"cannot connect to {protocol} {host}:{port} ({mode}): {last}")
    if protocol == "imap":
        conn.login(login, PASSWORD)
        conn.select("INBOX", readonly=True)
        typ, data = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        conn.logout()
        assert typ == "OK"
        return data[0][1]
    conn.user(login)
    conn.pass_(PASSWORD)
    count, _ = conn.stat()
    assert count >= 1
    lines = conn.top(1, 0)[1]
    conn.quit()
    return b"\n".join(lines)


def _submit(host: str, port: int, mode: str, login: str, sender: str, context) -> None:
    modes = ["ssl", "starttls"] if mode == "tls" else [mode]
    for attempt in modes:
        try:
            if attempt == "ssl":
                conn = smtplib.SMTP_SSL(host, port, context=context, timeout=10)
            else:
                conn = smtplib.SMTP(host, port, timeout=10)
                if attempt == "starttls":
                    conn.starttls(context=context)
            break
        except (OSError, smtplib.SMTPException):
            if attempt == modes[-1]:
                raise
    conn.login(login, PASSWORD)
    conn.sendmail(sender, ["rcpt@example.net"], f"From: {sender}\r\nSubject: via {port}\r\n\r\nhi\r\n".encode())
    conn.quit()


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_artifacts_log_in_fetch_and_submit(mail_servers, tmp_path, mode):
    dovecot, smtp = mail_servers["dovecot"], mail_servers["smtp"]
    ports = dict(dovecot.ports, **smtp.ports)
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(_inventory(ports, mode))
    started = time.monotonic()
    result = generate(folder, tmp_path / "out")
    context = mail_servers["pki"].client_context()
    before = len(smtp.messages)
    checked = set()
    # autodiscover.reg names no server: it points Outlook at the autodiscover.xml beside it, which is checked here
    devices = [a for a in result.artifacts if a.kind == "device" and not a.path.endswith(".reg")]
    for artifact in devices:
        data = (tmp_path / "out" / artifact.path).read_bytes()
        settings = connection_settings(artifact.client, data)
        protocol, host, port, got_mode, login = settings["incoming"]
        assert protocol == artifact.protocol
        assert got_mode in (mode, "tls"), (artifact.path, got_mode)
        subject = _fetch(protocol, host, port, got_mode, login, context)
        assert b"Seeded message 1" in subject
        _, host, port, got_mode, login = settings["outgoing"]
        _submit(host, port, got_mode, login, artifact.user, context)
        checked.add((artifact.client, artifact.protocol, artifact.path.rsplit(".", 1)[1]))
    # The domain's autoconfig file: every server it lists answers, and takes a login of the form it names.
    (autoconfig,) = [a for a in result.artifacts if a.kind == "autoconfig"]
    config = read_autoconfig((tmp_path / "out" / autoconfig.path).read_bytes())
    modes = {"SSL": "ssl", "STARTTLS": "starttls"}
    for kind in ("imap", "pop3"):
        server = config["servers"][kind]
        assert server["username"] == "%EMAILADDRESS%"
        subject = _fetch(kind, server["hostname"], int(server["port"]), modes[server["socketType"]],
                         "ben@example.com", context)
        assert b"Seeded message 1" in subject
    server = config["servers"]["smtp"]
    _submit(server["hostname"], int(server["port"]), modes[server["socketType"]], "ben@example.com",
            "ben@example.com", context)
    # The domain's Autodiscover answer: every server it lists answers; it names no login, so Outlook offers the
    # address, which is ben's login.
    (autodiscover,) = [a for a in result.artifacts if a.kind == "autodiscover"]
    answer = read_autodiscover((tmp_path / "out" / autodiscover.path).read_bytes())
    encryption = {"SSL": "ssl", "TLS": "starttls"}
    assert [p["Type"] for p in answer["protocols"]] == ["IMAP", "POP3", "SMTP"]
    for protocol in answer["protocols"][:2]:
        assert "LoginName" not in protocol
        subject = _fetch(protocol["Type"].lower(), protocol["Server"], int(protocol["Port"]),
                         encryption[protocol["Encryption"]], "ben@example.com", context)
        assert b"Seeded message 1" in subject
    smtp_protocol = answer["protocols"][2]
    _submit(smtp_protocol["Server"], int(smtp_protocol["Port"]), encryption[smtp_protocol["Encryption"]],
            "ben@example.com", "ben@example.com", context)
    sent = smtp.messages[before:]
    assert len(sent) == len(devices) + 2
    files = {"thunderbird": "js", "apple": "mobileconfig", "outlook": "prf"}
    if mode == "ssl":
        assert checked == {(c, p, f) for c, f in files.items() for p in ("imap", "pop3")} | \
            {("outlook", p, "xml") for p in ("imap", "pop3")}
    else:
        # A PRF cannot ask for STARTTLS on POP3/IMAP: the PRF is not produced, and it is said; the Autodiscover
        # answer says STARTTLS (Encryption TLS), and its settings log in.
        assert ("outlook", "imap", "prf") not in checked and ("outlook", "pop3", "prf") not in checked
        assert any(f.code == "outlook-incoming-starttls" for f in result.findings)
        assert {(c, p, f) for c, f in files.items() if c != "outlook" for p in ("imap", "pop3")} | \
            {("outlook", p, "xml") for p in ("imap", "pop3")} <= checked
    print(f"{mode}: {len(result.artifacts)} artifacts checked against real servers "
          f"in {time.monotonic() - started:.2f}s")
