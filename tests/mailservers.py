"""Real mail servers on 127.0.0.1 for the tests: Dovecot (IMAP/POP3) and an aiosmtpd submission server.

Everything is made at test time: a test CA, a server certificate for ``localhost``/127.0.0.1,
a second CA that nobody trusts, users in a passwd-file, Maildirs with seeded messages.
"""
from __future__ import annotations

import datetime
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PASSWORD = "Test-Passw0rd"
USERS = ("anna@example.com", "ben@example.com")
LOGINS = USERS + ("anna",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass
class Pki:
    folder: Path
    ca_file: Path = None
    cert_file: Path = None
    key_file: Path = None
    wrong_host_cert: Path = None
    untrusted_cert: Path = None

    def make(self) -> Pki:
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

        def ca(common: str):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(start).not_valid_after(end)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                 content_commitment=False, key_encipherment=False,
                                                 data_encipherment=False, key_agreement=False,
                                                 encipher_only=False, decipher_only=False), critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .sign(key, hashes.SHA256()))
            return key, cert

        def leaf(ca_key, ca_cert, key, names: list[str], ips: list[str]):
            import ipaddress
            alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            return (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(start).not_valid_after(end)
                    .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                   critical=False)
                    .sign(ca_key, hashes.SHA256()))

        pem = serialization.Encoding.PEM
        self.folder.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = ca("mailprofiles test CA")
        key = ec.generate_private_key(ec.SECP256R1())
        self.key_file = self.folder / "server.key"
        self.key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        self.ca_file = self.folder / "ca.pem"
        self.ca_file.write_bytes(ca_cert.public_bytes(pem))
        self.cert_file = self.folder / "server.pem"
        self.cert_file.write_bytes(leaf(ca_key, ca_cert, key, ["localhost"], ["127.0.0.1"]).public_bytes(pem))
        self.wrong_host_cert = self.folder / "wrong-host.pem"
        self.wrong_host_cert.write_bytes(leaf(ca_key, ca_cert, key, ["mail.elsewhere.test"], []).public_bytes(pem))
        other_key, other_ca = ca("untrusted CA")
        self.untrusted_cert = self.folder / "untrusted.pem"
        self.untrusted_cert.write_bytes(leaf(other_key, other_ca, key, ["localhost"], ["127.0.0.1"]).public_bytes(pem))
        for path in self.folder.iterdir():
            os.chmod(path, 0o644)
        return self

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self, cert: Path | None = None) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert or self.cert_file), str(self.key_file))
        return context


SEED = """From: Sender <sender@example.net>\r
To: {user}\r
Subject: Seeded message {n} for {user}\r
Message-ID: <seed-{n}-{user}>\r
Date: Mon, 02 Nov 2026 10:00:00 +0000\r
\r
Hello {user}, this is seeded message {n}.\r
"""


@dataclass
class Dovecot:
    folder: Path
    pki: Pki
    cert: Path | None = None
    introspection_url: str | None = None      # with it: XOAUTH2 and OAUTHBEARER, tokens checked there
    ports: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> Dovecot:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
        if os.geteuid() != 0:
            raise RuntimeError("the Dovecot test server needs root (CI runs as root)")
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o755)
        mail_user = pwd.getpwnam("nobody")
        home = self.folder / "home"
        for user in LOGINS:
            new = home / user / "Maildir" / "new"
            for sub in ("new", "cur", "tmp"):
                (home / user / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            for n in (1, 2):
                (new / f"100000000{n}.M{n}P1.seed").write_text(SEED.format(user=user, n=n), newline="")
        for path in [home, *home.rglob("*")]:
            os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
        passwd = self.folder / "passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in LOGINS))
        os.chmod(passwd, 0o644)
        self.ports = {"imap": free_port(), "imaps": free_port(), "pop3": free_port(), "pop3s": free_port()}
        for sub in ("run", "state"):
            (self.folder / sub).mkdir(exist_ok=True)
        mechanisms, oauth2 = "plain login", ""
        if self.introspection_url:
            oauth2_file = self.folder / "dovecot-oauth2.conf.ext"
            oauth2_file.write_text(f"introspection_mode = post\n"
                                   f"introspection_url = {self.introspection_url}\n"
                                   f"username_attribute = username\n"
                                   f"active_attribute = active\n"
                                   f"active_value = true\n")
            os.chmod(oauth2_file, 0o644)
            mechanisms += " xoauth2 oauthbearer"
            oauth2 = f"""
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {oauth2_file}
}}"""
        config = self.folder / "dovecot.conf"
        config.write_text(f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
info_log_path = {self.folder}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.cert or self.pki.cert_file}
ssl_key = <{self.pki.key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {passwd}
}}{oauth2}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {self.ports['imap']}
  }}
  inet_listener imaps {{
    port = {self.ports['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.ports['pop3']}
  }}
  inet_listener pop3s {{
    port = {self.ports['pop3s']}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # no authentication penalty: the tests refuse logins on purpose, and the next one must not wait for it
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
        self.process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log = (self.folder / "dovecot.log").read_text() if (self.folder / "dovecot.log").exists() else ""
                        raise RuntimeError(f"dovecot did not start: {self.process.stderr.read()!r} {log}") from None
                    time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stderr:
            self.process.stderr.close()


class SmtpServer:
    """aiosmtpd submission servers: implicit TLS (465-style) and STARTTLS (587-style), AUTH required."""

    def __init__(self, pki: Pki, introspection_url: str | None = None):
        self.pki = pki
        self.introspection_url = introspection_url    # with it: XOAUTH2 and OAUTHBEARER, tokens checked there
        self.messages: list = []
        self.ports = {}
        self.controllers = []

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = self

        class Handler:
            async def handle_DATA(self, smtp_server, session, envelope):
                server.messages.append((session.auth_data, envelope.mail_from, list(envelope.rcpt_tos),
                                        envelope.content))
                return "250 OK"

        class OAuth2Handler(Handler):
            """XOAUTH2 and OAUTHBEARER (RFC 7628), the token checked at the introspection endpoint."""

            async def auth_XOAUTH2(self, smtp_server, args):
                return await self._bearer(smtp_server, args, b"")

            async def auth_OAUTHBEARER(self, smtp_server, args):
                return await self._bearer(smtp_server, args, b"\x01")

            async def _bearer(self, smtp_server, args, ends_error):
                import asyncio
                import base64

                from introspection import introspect

                if len(args) == 2:
                    try:
                        blob = base64.b64decode(args[1], validate=True)
                    except ValueError:
                        return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
                else:
                    blob = await smtp_server.challenge_auth("")
                    if not isinstance(blob, bytes):
                        return AuthResult(success=False, handled=True)
                fields = dict(f.split(b"=", 1) for f in blob.split(b"\x01") if b"=" in f)
                user = fields.get(b"user")
                if user is None and blob.startswith(b"n,"):                # OAUTHBEARER's GS2 header: n,a=user,
                    user = next((p[2:] for p in blob.split(b"\x01")[0].split(b",") if p.startswith(b"a=")), None)
                auth = fields.get(b"auth", b"")
                token = auth[7:].decode("utf-8", "replace") if auth.startswith(b"Bearer ") else ""
                owner = await asyncio.get_running_loop().run_in_executor(
                    None, introspect, server.introspection_url, token) if token else None
                if owner is not None and user is not None and owner == user.decode("utf-8", "replace"):
                    return AuthResult(success=True, auth_data=owner)
                # RFC 7628 3.2.2: an error challenge, the client's one-byte answer, then the failure
                reply = await smtp_server.challenge_auth('{"status":"invalid_token","schemes":"bearer"}')
                if isinstance(reply, bytes) and reply != ends_error:
                    return AuthResult(success=False, handled=False, message="501 5.5.2 expected the client's error answer")
                return AuthResult(success=False, handled=not isinstance(reply, bytes))

        def authenticator(smtp_server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() in LOGINS
                  and auth_data.password.decode() == PASSWORD)
            return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

        self.ports = {"smtps": free_port(), "submission": free_port()}
        handler = OAuth2Handler if self.introspection_url else Handler
        implicit = Controller(handler(), hostname="127.0.0.1", port=self.ports["smtps"],
                              ssl_context=self.pki.server_context(), authenticator=authenticator,
                              auth_require_tls=False, server_hostname="localhost")
        starttls = Controller(handler(), hostname="127.0.0.1", port=self.ports["submission"],
                              tls_context=self.pki.server_context(), require_starttls=True,
                              authenticator=authenticator, auth_require_tls=True, server_hostname="localhost")
        for controller in (implicit, starttls):
            controller.start()
            self.controllers.append(controller)
        return self

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


class SilentServer:
    """Accepts connections and never says a word: a hung server."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
                self.clients.append(conn)
            except OSError:
                continue

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        for conn in self.clients:
            conn.close()
        self.sock.close()


def smtp_with_certificate(pki: Pki, cert: Path):
    """An implicit-TLS SMTP server presenting ``cert`` (for trust and host-name failures)."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ssl_context=pki.server_context(cert),
                            server_hostname="localhost")
    controller.start()
    return controller, port


def server_inventory(ports: dict, mode: str, users: str) -> str:
    """An inventory pointing at the test servers, all in one security mode (ssl or starttls)."""
    if mode == "ssl":
        imap, pop3, smtp = ports["imaps"], ports["pop3s"], ports["smtps"]
    else:
        imap, pop3, smtp = ports["imap"], ports["pop3"], ports["submission"]
    return (f"organization: {{name: Test Org, identifier: test.mailprofiles}}\n"
            f"servers:\n"
            f"  imap: {{host: localhost, port: {imap}, security: {mode}}}\n"
            f"  pop3: {{host: localhost, port: {pop3}, security: {mode}}}\n"
            f"  smtp: {{host: localhost, port: {smtp}, security: {mode}}}\n"
            f"users:\n{users}")


def plain_smtp():
    """An SMTP server with neither STARTTLS nor AUTH: what check-servers must flag."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    return controller, port


class HostileSmtp:
    """A plain SMTP peer that misbehaves on purpose, bounded in time so it always stops by itself.

    ``drip``: greets one byte every half second; ``flood``: greets, then answers EHLO with
    ``250-`` lines without end (until the client goes away or ``seconds`` pass).
    """

    def __init__(self, behaviour: str, seconds: float = 30.0):
        self.behaviour = behaviour
        self.seconds = seconds
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline and not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._serve(conn, deadline)

    def _serve(self, conn: socket.socket, deadline: float) -> None:
        line = b"250-" + b"x" * 60 + b"\r\n"
        try:
            if self.behaviour == "drip":
                for byte in b"220 slow.example.com ESMTP ready\r\n":
                    if time.monotonic() > deadline or self.stopped.is_set():
                        break
                    conn.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(0.5)
            else:
                conn.sendall(b"220 flood.example.com ESMTP\r\n")
                if not conn.recv(1024):              # EHLO (the greeting check just closes)
                    return
                while time.monotonic() < deadline and not self.stopped.is_set():
                    conn.sendall(line * 1000)
                    self.sent += len(line) * 1000
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(self.seconds + 5)
        self.sock.close()


def stop_process(process: subprocess.Popen) -> None:
    """End a server started as a child process (automx2, nginx, Apache): SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()
