"""The real consumer of prefs.js: Thunderbird (Debian package), headless, against the test Dovecot.

Our generated prefs.js is the profile's only account configuration; the test CA and the stored
password are added the way Thunderbird itself keeps them. Thunderbird must log in, download the
seeded mail over POP3 without deleting it from the server (leave on server), and log in over IMAP
with STARTTLS.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from mailservers import PASSWORD, server_inventory
from thunderbird_profile import make_profile, stop

from generator import generate


def _require_thunderbird() -> str:
    binary = shutil.which("thunderbird")
    if binary is None or shutil.which("certutil") is None:
        if os.environ.get("CI"):
            pytest.fail("thunderbird and certutil are needed (apt-get install thunderbird libnss3-tools)")
        pytest.skip("thunderbird is not installed")
    return binary


def _run_until(binary: str, profile: Path, home: Path, log: Path, offset: int, pattern: str,
               seconds: float = 90, graceful: bool = False, env: dict | None = None) -> str:
    """Run Thunderbird headless until the Dovecot log (after ``offset``) matches ``pattern``."""
    env = dict(os.environ, MOZ_HEADLESS="1", HOME=str(home), MOZ_DISABLE_AUTO_SAFE_MODE="1", **(env or {}))
    with open(home / "thunderbird.log", "wb") as output:
        proc = subprocess.Popen([binary, "--headless", "--no-remote", "-profile", str(profile)], env=env,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + seconds
    text = ""
    try:
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")[offset:]
            if re.search(pattern, text):
                return text
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        stop(proc, graceful)
    tail = (home / "thunderbird.log").read_text(errors="replace")[-2000:]
    raise AssertionError(f"Thunderbird did not get there: {pattern!r}\ndovecot: {text[-2000:]}\nthunderbird: {tail}")


def _launch(mail_servers, tmp_path: Path, mode: str, device: str, incoming_origin: str, pattern: str):
    """Generate the inventory's prefs.js for ``device``, build a profile around it and run Thunderbird."""
    binary = _require_thunderbird()
    ports = dict(mail_servers["dovecot"].ports, **mail_servers["smtp"].ports)
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(server_inventory(
        ports, mode, "  - {email: anna@example.com, name: Anna Muster, login: anna, devices: [desktop, laptop]}\n"))
    generate(folder, tmp_path / "out")
    prefs = (tmp_path / "out" / "anna@example.com" / device / "prefs.js").read_bytes()
    home = tmp_path / "home"
    home.mkdir()
    profile = make_profile(home / "profile", prefs, mail_servers["pki"].ca_file,
                           [(incoming_origin, "anna", PASSWORD), ("smtp://localhost", "anna", PASSWORD)])
    log = mail_servers["dovecot"].folder / "dovecot.log"
    offset = len(log.read_text(errors="replace"))
    return profile, _run_until(binary, profile, home, log, offset, pattern)


def test_thunderbird_pop3_desktop_downloads_and_leaves_mail_on_server(mail_servers, tmp_path):
    profile, text = _launch(mail_servers, tmp_path, "ssl", "desktop", "mailbox://localhost",
                            r"pop3\(anna\).*Disconnected: Logged out.*retr=\d+")
    assert re.search(r"pop3-login: Info: Login: user=<anna>.*TLS", text)
    session = re.search(r"pop3\(anna\).*Logged out top=\d+/\d+, retr=(\d+)/\d+, del=(\d+)/(\d+)", text)
    assert session and int(session.group(1)) >= 2, text
    assert session.group(2) == "0", "leave_on_server: Thunderbird must not delete mail from the server"
    inbox = (profile / "Mail" / "localhost" / "Inbox").read_text(errors="replace")
    assert "Seeded message 1 for anna" in inbox and "Seeded message 2 for anna" in inbox


def test_thunderbird_imap_laptop_logs_in_with_starttls(mail_servers, tmp_path):
    profile, text = _launch(mail_servers, tmp_path, "starttls", "laptop", "imap://localhost",
                            r"imap-login: Info: Login: user=<anna>.*TLS")
    assert "imap-login" in text
    assert (profile / "ImapMail" / "localhost").is_dir()


def _prefs_file(path: Path) -> dict:
    """The user_pref values of a prefs.js that Thunderbird wrote (strings and ints are enough here)."""
    found = {}
    for match in re.finditer(r'^user_pref\("([^"]+)", (.*)\);$', path.read_text(errors="replace"), re.MULTILINE):
        found[match.group(1)] = match.group(2).strip('"')
    return found


def test_user_js_adds_an_account_to_a_profile_in_use_once(mail_servers, tmp_path):
    """A profile with an account of its own, plus our user.js: both accounts work; a second start adds nothing."""
    binary = _require_thunderbird()
    ports = dict(mail_servers["dovecot"].ports, **mail_servers["smtp"].ports)
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(server_inventory(ports, "starttls", (
        "  - {email: anna@example.com, name: Anna Muster, login: anna,\n"
        "     devices: [{name: mac, profile: laptop, settings: {thunderbird_file: user.js}}]}\n"
        "  - {email: ben@example.com, name: Ben, devices: [desktop]}\n")))
    generate(folder, tmp_path / "out")
    ours = (tmp_path / "out" / "anna@example.com" / "mac" / "user.js").read_bytes()
    existing = (tmp_path / "out" / "ben@example.com" / "desktop" / "prefs.js").read_bytes()   # the profile's own
    home = tmp_path / "home"
    home.mkdir()
    profile = make_profile(home / "profile", existing, mail_servers["pki"].ca_file,
                           [("mailbox://localhost", "ben@example.com", PASSWORD), ("imap://localhost", "anna", PASSWORD),
                            ("smtp://localhost", "anna", PASSWORD), ("smtp://localhost", "ben@example.com", PASSWORD)])
    (profile / "user.js").write_bytes((profile / "user.js").read_bytes() + ours)
    log = mail_servers["dovecot"].folder / "dovecot.log"
    for start in (1, 2):
        offset = len(log.read_text(errors="replace"))
        text = _run_until(binary, profile, home, log, offset, r"imap-login: Info: Login: user=<anna>.*TLS",
                          graceful=True)
        assert "imap-login: Info: Login: user=<anna>" in text, start
        assert (profile / "ImapMail" / "localhost").is_dir(), "our account's IMAP folders are set up"
        prefs = _prefs_file(profile / "prefs.js")
        accounts = prefs["mail.accountmanager.accounts"].split(",")
        assert accounts.count("account1") == 1, (start, accounts)               # the profile's own account stays
        ours_key = [a for a in accounts if a.startswith("mailprofiles_acct_")]
        assert len(ours_key) == 1, (start, accounts)                          # ours, once, after every start
        assert len(accounts) == len(set(accounts))
        # Thunderbird 128+ reads outgoing servers only from mail.smtpservers and appends none: the run says so
        # (thunderbird-userjs-smtp) and the profile's own outgoing server is left as it was.
        assert prefs["mail.smtpservers"] == "smtp1", prefs["mail.smtpservers"]
    assert prefs["mail.accountmanager.defaultaccount"] == "account1"          # the user's default is kept
    findings = {f.code for f in generate(folder, tmp_path / "out").findings if f.device == "mac"}
    assert "thunderbird-userjs-smtp" in findings


def _private_installation(binary: str, folder: Path) -> Path:
    """A copy of the installed Thunderbird, so that AutoConfig files can be put into it (links kept absolute)."""
    installed = Path(os.path.realpath(binary))
    if installed.name != "thunderbird-bin":      # Debian's /usr/bin/thunderbird is a wrapper script
        installed = Path("/usr/lib/thunderbird/thunderbird-bin")
    source = installed.parent
    shutil.copytree(source, folder, symlinks=True)
    for link in [p for p in folder.iterdir() if p.is_symlink()]:
        target = os.path.realpath(source / link.name)
        link.unlink()
        if link.name == "defaults":          # the AutoConfig file goes in here: a real copy
            shutil.copytree(target, link)
        else:
            link.symlink_to(target)
    return folder / "thunderbird-bin"


def test_autoconfig_pair_sets_up_the_account_site_wide_and_locks_the_pattern(mail_servers, tmp_path):
    """The fleet's AutoConfig pair in a private copy of Thunderbird, USER=anna: the account appears and logs in,
    a second start adds nothing, and the locked leave-on-server cannot be turned off by the user."""
    from generator.pipeline import fleet

    binary = _private_installation(_require_thunderbird(), tmp_path / "thunderbird")
    ports = dict(mail_servers["dovecot"].ports, **mail_servers["smtp"].ports)
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(server_inventory(ports, "ssl", "").replace("users:\n", "") +
                                           'fleet: {login: local-part, address_pattern: "{login}@example.com"}\n')
    fleet(folder, tmp_path / "out", "jamf-pro")
    files = tmp_path / "out" / "fleet" / "_no-group" / "desktop" / "thunderbird"
    shutil.copy(files / "defaults" / "pref" / "autoconfig.js", binary.parent / "defaults" / "pref")
    shutil.copy(files / "mailprofiles.cfg", binary.parent)
    home = tmp_path / "home"
    home.mkdir()
    profile = make_profile(home / "profile", b"", mail_servers["pki"].ca_file,
                           [("mailbox://localhost", "anna", PASSWORD), ("smtp://localhost", "anna", PASSWORD)])
    # The user tries to turn off what the pattern enforces: the lock wins.
    with open(profile / "user.js", "a") as handle:
        handle.write('user_pref("mail.server.mailprofiles_srv.leave_on_server", false);\n')
    log = mail_servers["dovecot"].folder / "dovecot.log"
    for start in (1, 2):
        offset = len(log.read_text(errors="replace"))
        text = _run_until(str(binary), profile, home, log, offset,
                          r"pop3\(anna\).*Disconnected: Logged out.*retr=\d+", graceful=True, env={"USER": "anna"})
        session = re.search(r"pop3\(anna\).*Logged out top=\d+/\d+, retr=(\d+)/\d+, del=(\d+)/(\d+)", text)
        assert session and session.group(2) == "0", f"start {start}: the locked leave_on_server kept the mail\n{text}"
        prefs = _prefs_file(profile / "prefs.js")
        assert prefs["mail.accountmanager.accounts"].split(",").count("mailprofiles_acct") == 1, prefs
        assert prefs["mail.smtpservers"].split(",").count("mailprofiles_smtp") == 1, prefs
    assert prefs["mail.accountmanager.defaultaccount"] == "mailprofiles_acct"
