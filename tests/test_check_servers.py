"""check-servers against the real Dovecot and SMTP servers, including every way it should fail."""
from __future__ import annotations

import json

import pytest
from mailservers import PASSWORD, SilentServer, free_port, server_inventory, smtp_with_certificate

from generator.servers import Endpoint, check_endpoint, tls_context


def _inventory(folder, ports, mode):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(server_inventory(
        ports, mode, "  - {email: anna@example.com, login: anna, devices: [desktop, laptop]}\n"))
    return folder


@pytest.fixture
def ports(mail_servers):
    return dict(mail_servers["dovecot"].ports, **mail_servers["smtp"].ports)


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_correct_inventory_passes_with_login(cli, mail_servers, ports, tmp_path, mode):
    folder = _inventory(tmp_path / "inv", ports, mode)
    result = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file), "--json",
                 "--login", "anna", "--password-env", "MP_TEST_PASSWORD", env={"MP_TEST_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert {(s["protocol"], s["status"]) for s in data["servers"]} == {("imap", "ok"), ("pop3", "ok"), ("smtp", "ok")}
    assert all("login as anna: ok" in s["details"] for s in data["servers"])
    assert PASSWORD not in result.stdout + result.stderr
    table = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file))
    assert table.returncode == 0 and "answers as configured" in table.stdout


def test_wrong_password_and_untrusted_ca_fail_through_cli(cli, mail_servers, ports, tmp_path):
    folder = _inventory(tmp_path / "inv", ports, "ssl")
    result = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file), "--json",
                 "--login", "anna", "--password-env", "MP_TEST_PASSWORD", env={"MP_TEST_PASSWORD": "wrong"})
    assert result.returncode == 1
    reasons = [s["reason"] for s in json.loads(result.stdout)["servers"]]
    assert all("login as anna refused" in r for r in reasons), reasons
    untrusted = cli("check-servers", str(folder), "--json", "--timeout", "5")   # system store only
    assert untrusted.returncode == 1
    assert all("not trusted" in s["reason"] for s in json.loads(untrusted.stdout)["servers"])


def test_password_never_from_command_line(cli, tmp_path, ports):
    folder = _inventory(tmp_path / "inv", ports, "ssl")
    assert cli("check-servers", str(folder), "--login", "anna").returncode == 2
    assert cli("check-servers", str(folder), "--login", "anna", "--password-env", "MP_UNSET_VARIABLE").returncode == 2


def _check(mail_servers, protocol, port, security, host="localhost", timeout=2.0):
    context = tls_context(str(mail_servers["pki"].ca_file))
    return check_endpoint(Endpoint(protocol, host, port, security), context=context, timeout=timeout)


def test_wrong_port_is_named(mail_servers, ports):
    result = _check(mail_servers, "imap", ports["pop3s"], "ssl")
    assert result.status == "failed" and "not a IMAP server" in result.reason
    result = _check(mail_servers, "smtp", ports["imaps"], "ssl")
    assert result.status == "failed" and "not a SMTP server" in result.reason


def test_wrong_security_mode(mail_servers, ports):
    # implicit TLS configured on a STARTTLS port: the server greets in clear text
    result = _check(mail_servers, "pop3", ports["pop3"], "ssl")
    assert result.status == "failed" and "does not speak implicit TLS" in result.reason
    # STARTTLS configured on an implicit-TLS port: the server waits for a TLS handshake
    result = _check(mail_servers, "imap", ports["imaps"], "starttls", timeout=1.0)
    assert result.status == "failed" and "expects implicit TLS" in result.reason


def test_certificate_problems(mail_servers, ports):
    pki = mail_servers["pki"]
    controller, port = smtp_with_certificate(pki, pki.wrong_host_cert)
    try:
        result = _check(mail_servers, "smtp", port, "ssl")
        assert result.status == "failed" and "does not name localhost" in result.reason
    finally:
        controller.stop()
    controller, port = smtp_with_certificate(pki, pki.untrusted_cert)
    try:
        result = _check(mail_servers, "smtp", port, "ssl")
        assert result.status == "failed" and "not trusted" in result.reason
    finally:
        controller.stop()


def test_closed_port_and_silent_server(mail_servers):
    result = _check(mail_servers, "imap", free_port(), "ssl")
    assert result.status == "failed" and "connection refused" in result.reason
    silent = SilentServer()
    try:
        result = _check(mail_servers, "smtp", silent.port, "ssl", timeout=1.0)
        assert result.status == "failed" and "no answer within 1 s" in result.reason
        result = _check(mail_servers, "pop3", silent.port, "none", timeout=1.0)
        assert result.status == "failed" and "no greeting within 1 s" in result.reason
    finally:
        silent.stop()


def test_plain_connections(mail_servers, ports):
    result = _check(mail_servers, "pop3", ports["pop3"], "none")
    assert result.status == "warning" and "not encrypted" in result.reason
    result = _check(mail_servers, "imap", ports["imap"], "none")
    assert result.status == "warning" and "not encrypted" in result.reason


def test_missing_starttls_and_missing_auth_are_named(mail_servers):
    from mailservers import plain_smtp

    controller, port = plain_smtp()
    try:
        result = _check(mail_servers, "smtp", port, "starttls")
        assert result.status == "failed" and result.reason == "STARTTLS is not offered"
        result = _check(mail_servers, "smtp", port, "none")
        assert result.status == "failed" and "no password AUTH mechanism" in result.reason
    finally:
        controller.stop()


@pytest.mark.parametrize("behaviour", ["drip", "flood"])
def test_a_hostile_server_cannot_hold_or_flood_the_check(mail_servers, behaviour):
    """A server dripping a byte every half second, or sending EHLO lines without end: bounded in time and memory."""
    import resource
    import time

    from mailservers import HostileSmtp

    from generator.servers import check_bounded

    server = HostileSmtp(behaviour)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    try:
        context = tls_context(str(mail_servers["pki"].ca_file))
        result = check_bounded(Endpoint("smtp", "127.0.0.1", server.port, "none"), context=context, timeout=1.0,
                               deadline=3.0)
        elapsed = time.monotonic() - started
        assert result.status == "failed", result
        if behaviour == "drip":
            assert "no complete answer within 3 s" in result.reason and server.sent < 20
        else:   # the child hits its memory cap, or the deadline: either way the parent never holds the flood
            assert ("the answer needed more than 128 MiB" in result.reason
                    or "no complete answer within 3 s" in result.reason), result.reason
            assert server.sent > 10 * 1024 * 1024, "the server really flooded"
        assert elapsed < 20, "the deadline holds (generous bound: the machine may be busy)"
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown_kib < 64 * 1024, f"the parent grew by {grown_kib} KiB"
    finally:
        server.stop()
