"""check-servers for servers with ``auth: oauth2``, against the real Dovecot (oauth2 passdb) and SMTP servers.

The mail servers check bearer tokens at a local introspection endpoint (tests/introspection.py): the
fixture's tokens are active, any other token is not.
"""
from __future__ import annotations

import json
import secrets

import pytest
from mailservers import Dovecot, SmtpServer

from generator.servers import Endpoint, check_endpoint, tls_context

TOKEN_ENV = "MP_TEST_TOKEN"
OAUTH2_BLOCK = ('oauth2: {issuer: login.example.com, authorization_endpoint: "https://login.example.com/authorize",\n'
                '         token_endpoint: "https://login.example.com/token", client_id: mailprofiles-test,\n'
                '         scopes: "openid email offline_access"}\n')


@pytest.fixture
def ports(mail_servers):
    return dict(mail_servers["dovecot"].ports, **mail_servers["smtp"].ports)


@pytest.fixture(scope="module")
def password_only(mail_servers):
    """Dovecot and SMTP as they were before OAuth2: PLAIN and LOGIN only."""
    folder = mail_servers["folder"] / "password-only"
    dovecot = Dovecot(folder, mail_servers["pki"]).start()
    smtp = SmtpServer(mail_servers["pki"]).start()
    yield dict(dovecot.ports, **smtp.ports)
    smtp.stop()
    dovecot.stop()


def _inventory(folder, ports, mode):
    imap, pop3, smtp = ((ports["imaps"], ports["pop3s"], ports["smtps"]) if mode == "ssl"
                        else (ports["imap"], ports["pop3"], ports["submission"]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(
        "organization: {name: Test Org, identifier: test.mailprofiles}\n"
        "servers:\n"
        f"  imap: {{host: localhost, port: {imap}, security: {mode}, auth: oauth2}}\n"
        f"  pop3: {{host: localhost, port: {pop3}, security: {mode}, auth: oauth2}}\n"
        f"  smtp: {{host: localhost, port: {smtp}, security: {mode}, auth: oauth2}}\n"
        + OAUTH2_BLOCK +
        "users:\n"
        "  - {email: anna@example.com, login: anna, devices: [desktop, laptop]}\n")
    return folder


def _check(mail_servers, protocol, port, security="ssl", **login):
    context = tls_context(str(mail_servers["pki"].ca_file))
    return check_endpoint(Endpoint(protocol, "localhost", port, security, "oauth2"), context=context, timeout=5.0,
                          **login)


@pytest.mark.parametrize("protocol,port", [("imap", "imaps"), ("pop3", "pop3s"), ("smtp", "smtps")])
def test_the_oauth2_mechanisms_are_found(mail_servers, ports, protocol, port):
    result = _check(mail_servers, protocol, ports[port])
    assert result.status == "ok", result
    assert any("XOAUTH2" in d and "OAUTHBEARER" in d for d in result.details), result.details


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
@pytest.mark.parametrize("protocol,port", [("imap", "imaps"), ("pop3", "pop3"), ("smtp", "submission")])
def test_each_mechanism_logs_in_with_a_valid_token(mail_servers, ports, protocol, port, mechanism):
    security = "ssl" if port.endswith("s") else "starttls"
    token = mail_servers["tokens"]["anna"]
    result = _check(mail_servers, protocol, ports[port], security, login="anna", token=token,
                    mechanisms=(mechanism,))
    assert result.status == "ok", result
    assert result.mechanism == mechanism
    assert f"login as anna with {mechanism}: ok" in result.details
    refused = _check(mail_servers, protocol, ports[port], security, login="anna", token="tok-" + secrets.token_hex(8),
                     mechanisms=(mechanism,))
    assert refused.status == "failed" and f"login as anna with {mechanism} refused" in refused.reason, refused
    # a token is valid only for its own user
    other = _check(mail_servers, protocol, ports[port], security, login="ben@example.com", token=token,
                   mechanisms=(mechanism,))
    assert other.status == "failed" and "refused" in other.reason, other


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_login_with_a_token_through_the_cli(cli, mail_servers, ports, tmp_path, mode):
    folder = _inventory(tmp_path / "inv", ports, mode)
    token = mail_servers["tokens"]["anna"]
    result = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file), "--json",
                 "--login", "anna", "--token-env", TOKEN_ENV, env={TOKEN_ENV: token})
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert {(s["protocol"], s["status"], s["auth"]) for s in data["servers"]} == {
        ("imap", "ok", "oauth2"), ("pop3", "ok", "oauth2"), ("smtp", "ok", "oauth2")}
    assert all(s["mechanism"] in ("XOAUTH2", "OAUTHBEARER") for s in data["servers"])
    assert all(f"login as anna with {s['mechanism']}: ok" in s["details"] for s in data["servers"])
    assert token not in result.stdout + result.stderr
    table = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file))
    assert table.returncode == 0 and "answers as configured" in table.stdout, table.stdout + table.stderr


def test_an_inactive_token_is_refused_and_never_shown(cli, mail_servers, ports, tmp_path):
    folder = _inventory(tmp_path / "inv", ports, "ssl")
    token = "tok-" + secrets.token_urlsafe(24)
    asked = mail_servers["introspection"].asked
    for output in ("--json", None):
        result = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file),
                     *([output] if output else []), "--login", "anna", "--token-env", TOKEN_ENV, env={TOKEN_ENV: token})
        assert result.returncode == 1, result.stdout + result.stderr
        assert token not in result.stdout + result.stderr
        assert result.stdout.count("refused") >= 3, result.stdout
    assert mail_servers["introspection"].asked >= asked + 6, "the servers really asked the endpoint"


def test_a_server_without_oauth2_is_named(cli, mail_servers, password_only, tmp_path):
    folder = _inventory(tmp_path / "inv", password_only, "starttls")
    result = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    servers = json.loads(result.stdout)["servers"]
    assert {s["protocol"] for s in servers} == {"imap", "pop3", "smtp"}
    for server in servers:
        assert server["status"] == "failed"
        assert server["reason"] == "no OAuth2 login (XOAUTH2 or OAUTHBEARER) is offered after TLS", server


def test_a_token_never_from_the_command_line(cli, tmp_path, ports):
    folder = _inventory(tmp_path / "inv", ports, "ssl")
    assert cli("check-servers", str(folder), "--login", "anna").returncode == 2
    unset = cli("check-servers", str(folder), "--login", "anna", "--token-env", "MP_UNSET_VARIABLE")
    assert unset.returncode == 2 and "MP_UNSET_VARIABLE" in unset.stderr
    assert cli("check-servers", str(folder), "--token-env", "MP_UNSET_VARIABLE").returncode == 2


def test_a_mixed_inventory_logs_in_with_each_servers_credential(cli, mail_servers, ports, tmp_path):
    """IMAP with a password, POP3 and SMTP with the token; without the password the IMAP login is not tried."""
    from mailservers import PASSWORD

    folder = _inventory(tmp_path / "inv", ports, "ssl")
    text = (folder / "inventory.yaml").read_text()
    (folder / "inventory.yaml").write_text(text.replace("security: ssl, auth: oauth2}", "security: ssl}", 1))
    token = mail_servers["tokens"]["anna"]
    both = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file), "--json", "--login", "anna",
               "--token-env", TOKEN_ENV, "--password-env", "MP_TEST_PASSWORD",
               env={TOKEN_ENV: token, "MP_TEST_PASSWORD": PASSWORD})
    assert both.returncode == 0, both.stdout + both.stderr
    servers = {s["protocol"]: s for s in json.loads(both.stdout)["servers"]}
    assert (servers["imap"]["auth"], servers["imap"]["mechanism"]) == ("password", "LOGIN")
    assert "login as anna: ok" in servers["imap"]["details"]
    assert all(servers[p]["auth"] == "oauth2" and servers[p]["status"] == "ok" for p in ("pop3", "smtp"))
    assert token not in both.stdout + both.stderr and PASSWORD not in both.stdout + both.stderr
    token_only = cli("check-servers", str(folder), "--ca-file", str(mail_servers["pki"].ca_file), "--json",
                     "--login", "anna", "--token-env", TOKEN_ENV, env={TOKEN_ENV: token})
    assert token_only.returncode == 0, token_only.stdout + token_only.stderr
    servers = {s["protocol"]: s for s in json.loads(token_only.stdout)["servers"]}
    assert servers["imap"]["status"] == "warning"
    assert servers["imap"]["reason"] == "login as anna not tried: a password server needs a password (--password-env)"
    assert servers["imap"]["mechanism"] is None


@pytest.mark.parametrize("protocol,port", [("imap", "imaps"), ("pop3", "pop3s"), ("smtp", "smtps")])
def test_a_password_only_server_is_named_even_with_a_token(mail_servers, password_only, protocol, port):
    result = _check(mail_servers, protocol, password_only[port], login="anna", token=mail_servers["tokens"]["anna"])
    assert result.status == "failed" and result.reason == "no OAuth2 login (XOAUTH2 or OAUTHBEARER) is offered after TLS"
    assert result.mechanism is None


@pytest.mark.parametrize("token", ["two words", "line\r\nA1 LOGOUT", "tök", ""])
def test_a_token_that_is_not_a_bearer_token_is_refused_before_connecting(cli, tmp_path, ports, token):
    """RFC 6750's b64token characters only: anything else is a usage error, and the token is not shown."""
    folder = _inventory(tmp_path / "inv", ports, "ssl")
    result = cli("check-servers", str(folder), "--login", "anna", "--token-env", TOKEN_ENV, env={TOKEN_ENV: token})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not an OAuth2 bearer token" in result.stderr
    assert not token or token not in result.stdout + result.stderr


def test_a_server_that_echoes_the_token_does_not_reveal_it(mail_servers):
    """A refusal quoting what the client sent: the token is blotted out of the reason."""
    import base64

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from mailservers import free_port

    class Echo:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

        async def auth_XOAUTH2(self, server, args):
            echoed = base64.b64decode(args[1]).replace(b"\x01", b" ").decode()
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 not accepted: {echoed}")

    port = free_port()
    controller = Controller(Echo(), hostname="127.0.0.1", port=port, server_hostname="localhost",
                            auth_require_tls=False)
    controller.start()
    try:
        token = "tok-" + secrets.token_urlsafe(24)
        result = _check(mail_servers, "smtp", port, "none", login="anna", token=token)
        assert result.status == "failed" and "login as anna with XOAUTH2 refused" in result.reason, result
        assert "auth=Bearer [hidden]" in result.reason
        assert token not in repr(result)
    finally:
        controller.stop()


def test_a_login_name_the_protocol_cannot_carry_is_a_failed_row(mail_servers, ports):
    """smtplib sends SASL responses as ASCII: a non-ASCII login name is reported, not a crashed check."""
    result = _check(mail_servers, "smtp", ports["smtps"], login="änna", token=mail_servers["tokens"]["anna"])
    assert result.status == "failed" and "cannot be sent" in result.reason, result
    password = check_endpoint(Endpoint("smtp", "localhost", ports["smtps"], "ssl"),
                              context=tls_context(str(mail_servers["pki"].ca_file)), timeout=5.0,
                              login="änna", password="pässword")
    assert password.status == "failed" and "cannot be sent" in password.reason, password
    assert "pässword" not in repr(password)
