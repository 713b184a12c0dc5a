"""The fleet's Thunderbird policies in the real Thunderbird 153 (Debian package), headless, against the test Dovecot.

A private copy of the installation gets the fleet's ``distribution/policies.json``, its MDM variables filled in
with anna's values (as the deployment does), and a probe: an AutoConfig script (privileged JavaScript, as a site's
``.cfg``) that, once the main window is up, asks Thunderbird's account manager and outgoing-server service what
they loaded, whether every pref of the policy took effect and which are locked, and logs in to the outgoing server
(it sends one message). What it finds is what the README and the warnings of ``render/thunderbird_policies.py`` say.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from mailservers import PASSWORD, server_inventory
from thunderbird_profile import make_profile, private_installation, stop

from generator import generate
from generator.formats.verify.thunderbird_policies import read_json, read_mobileconfig, read_reg
from generator.pipeline import fleet

ANNA = {"$EMAIL": "anna@example.com", "$FULLNAME": "Anna Muster", "$USERNAME": "anna"}
ONE = "mail.server.mailprofiles_one.check_time"    # the number 1 for a pref Thunderbird does not define
REFUSED = "toolkit.mailprofiles.refused"   # not a prefix the Preferences policy allows: the probe sees it refused

# Runs once the first main window is up (mail-startup-done), records what Thunderbird loaded into prefs, saves them.
PROBE = r"""
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const WANTED = %s;
function probeSet(name, value) { Services.prefs.setStringPref("mailprofiles.probe." + name, String(value)); }
function probeRead(name, value) {
  if (typeof value == "boolean") { return Services.prefs.getBoolPref(name); }
  if (typeof value == "number") { return Services.prefs.getIntPref(name); }
  return Services.prefs.getStringPref(name);
}
Services.obs.addObserver(function probe() {
  Services.obs.removeObserver(probe, "mail-startup-done");
  try {
    probeSet("policies", Services.policies.status);
    probeSet("accounts", MailServices.accounts.accounts.map(a =>
      a.key + ":" + a.incomingServer.type + ":" + a.incomingServer.username + ":" +
      a.identities.map(i => i.email + "/" + i.fullName + "/" + i.smtpServerKey).join("|")).join(","));
    probeSet("smtp", MailServices.outgoingServer.servers.map(s => s.key + ":" + s.serverURI.host + ":" +
      s.serverURI.port + ":" + s.username).join(","));
    const differ = [];
    const locked = [];
    for (const [name, value] of Object.entries(WANTED)) {
      let got;
      try { got = probeRead(name, value); } catch (e) { got = "(unset or another type)"; }
      if (got !== value) { differ.push(name + "=" + got); }
      if (Services.prefs.prefIsLocked(name)) { locked.push(name); }
    }
    probeSet("differ", differ.join(","));
    probeSet("locked", locked.sort().join(","));
    probeSet("refused", Services.prefs.getIntPref("%s", -1));
    probeSet("one", Services.prefs.getPrefType("%s") == Services.prefs.PREF_BOOL ? "boolean" : "another type");
    // Send one message the way the compose window does, through the identity's outgoing server.
    const identity = MailServices.accounts.defaultAccount.defaultIdentity;
    if (identity.key != "mailprofiles_id") {
      probeSet("done", true);       // not the policy's account: nothing to send
    } else {
      const smtp = MailServices.outgoingServer.getServerByIdentity(identity);
      const file = Services.dirsvc.get("ProfD", Components.interfaces.nsIFile);
      file.append("probe.eml");
      const message = "From: " + identity.email + "\r\nTo: " + identity.email + "\r\nSubject: policy probe\r\n" +
        "Message-ID: <policy-probe@mailprofiles.test>\r\n\r\nsent by the policy's outgoing server\r\n";
      const stream = Components.classes["@mozilla.org/network/file-output-stream;1"]
        .createInstance(Components.interfaces.nsIFileOutputStream);
      stream.init(file, 0x02 | 0x08 | 0x20, 0o600, 0);
      stream.write(message, message.length);
      stream.close();
      smtp.sendMailMessage(
        file, MailServices.headerParser.makeFromDisplayAddress(identity.email), [], identity, identity.email, null,
        null, false, "<policy-probe@mailprofiles.test>", {
          onSendStart() {},
          onSendStop(uri, status) {
            probeSet("smtp_sent", status);
            probeSet("done", true);
            Services.prefs.savePrefFile(null);
          },
        });
    }
  } catch (error) {
    probeSet("error", error);
    probeSet("done", true);
  }
  Services.prefs.savePrefFile(null);
}, "mail-startup-done");
"""


def _prefs_file(path: Path) -> dict[str, str]:
    return {m.group(1): m.group(2).strip('"') for m in
            re.finditer(r'^user_pref\("([^"]+)", (.*)\);$', path.read_text(errors="replace"), re.MULTILINE)}


def _filled(content: bytes) -> bytes:
    for variable, value in ANNA.items():
        content = content.replace(variable.encode(), value.encode())
    return content


@pytest.fixture(scope="module")
def policies_setup(mail_servers, tmp_path_factory):
    """The fleet's files for the test servers, and one private installation whose policies.json is anna's."""
    if shutil.which("thunderbird") is None or not Path("/usr/lib/thunderbird/thunderbird-bin").exists() \
            or shutil.which("certutil") is None:
        if os.environ.get("CI"):
            pytest.fail("thunderbird and certutil are needed (apt-get install thunderbird libnss3-tools)")
        pytest.skip("thunderbird is not installed")
    base = tmp_path_factory.mktemp("policies")
    ports = dict(mail_servers["dovecot"].ports, **mail_servers["smtp"].ports)
    folder = base / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(server_inventory(ports, "ssl", "").replace("users:\n", "")
                                           + "fleet: {login: local-part}\n")
    fleet(folder, base / "out", "jamf-pro")
    files = base / "out" / "fleet" / "_no-group" / "desktop" / "thunderbird"
    policies = json.loads(_filled((files / "distribution" / "policies.json").read_bytes()))
    wanted = {name: entry["Value"] for name, entry in policies["policies"]["Preferences"].items()}
    policies["policies"]["Preferences"][REFUSED] = {"Value": 7, "Status": "locked"}
    policies["policies"]["Preferences"][ONE] = {"Value": 1, "Status": "default"}
    binary = private_installation(base / "thunderbird", PROBE % (json.dumps(wanted), REFUSED, ONE),
                                  json.dumps(policies).encode("utf-8"))
    return {"binary": binary, "files": files, "wanted": wanted, "ports": ports, "base": base}


def _run(binary: Path, profile: Path, home: Path, log: Path, offset: int, pattern: str | None,
         seconds: float = 60) -> tuple[str, dict[str, str]]:
    """Run Thunderbird until the probe is done (and the Dovecot log matches ``pattern``), then quit it as a user
    would (SIGTERM: prefs.js is written)."""
    env = dict(os.environ, MOZ_HEADLESS="1", HOME=str(home), MOZ_DISABLE_AUTO_SAFE_MODE="1")
    prefs = profile / "prefs.js"
    if prefs.exists():      # the previous start's answers go
        prefs.write_text("".join(line for line in prefs.read_text().splitlines(keepends=True)
                                 if "mailprofiles.probe." not in line))
    with open(home / "thunderbird.log", "wb") as output:
        proc = subprocess.Popen([str(binary), "--headless", "--no-remote", "-profile", str(profile)], env=env,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline, text, done = time.monotonic() + seconds, "", False
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace")[offset:]
            probed = prefs.exists() and "mailprofiles.probe.done" in prefs.read_text(errors="replace")
            if probed and (pattern is None or re.search(pattern, text)):
                done = True
                break
            time.sleep(0.5)
    finally:
        stop(proc)
    tail = (home / "thunderbird.log").read_text(errors="replace")[-2000:]
    assert done, f"Thunderbird did not get there: {pattern!r}\ndovecot: {text[-2000:]}\nthunderbird: {tail}"
    return text, _prefs_file(profile / "prefs.js")


def test_the_three_forms_carry_one_policy(policies_setup):
    files = policies_setup["files"]
    from_json = read_json((files / "distribution" / "policies.json").read_bytes())
    assert read_reg((files / "policies.reg").read_bytes()) == from_json
    assert read_mobileconfig((files / "policies.mobileconfig").read_bytes()) == from_json


def test_the_policy_sets_up_the_account_and_its_outgoing_server_and_locks_the_pattern(mail_servers, policies_setup,
                                                                                      tmp_path):
    """A new profile, USER unset: the policy alone gives the account, which logs in to Dovecot (POP3 over TLS) and to
    the SMTP server; a second start adds nothing; the user's user.js cannot turn leave-on-server off."""
    home = tmp_path / "home"
    home.mkdir()
    profile = make_profile(home / "profile", b"", mail_servers["pki"].ca_file,
                           [("mailbox://localhost", "anna", PASSWORD), ("smtp://localhost", "anna", PASSWORD)])
    with open(profile / "user.js", "a") as handle:
        handle.write('user_pref("mail.server.mailprofiles_srv.leave_on_server", false);\n'
                     'user_pref("mail.identity.mailprofiles_id.doBcc", true);\n')
    log = mail_servers["dovecot"].folder / "dovecot.log"
    wanted = policies_setup["wanted"]
    for start in (1, 2):
        offset, before = len(log.read_text(errors="replace")), len(mail_servers["smtp"].messages)
        text, prefs = _run(policies_setup["binary"], profile, home, log, offset,
                           r"pop3\(anna\).*Disconnected: Logged out.*retr=\d+")
        assert "mailprofiles.probe.error" not in prefs, prefs["mailprofiles.probe.error"]
        assert prefs["mailprofiles.probe.policies"] == "1", "Services.policies.status: ACTIVE"
        session = re.search(r"pop3\(anna\).*Logged out top=\d+/\d+, retr=(\d+)/\d+, del=(\d+)/(\d+)", text)
        assert session and session.group(2) == "0", f"start {start}: the locked leave_on_server kept the mail\n{text}"
        assert re.search(r"pop3-login: Info: Login: user=<anna>.*TLS", text)
        accounts = prefs["mailprofiles.probe.accounts"].split(",")
        ours = [a for a in accounts if a.startswith("mailprofiles_acct:")]
        assert ours == ["mailprofiles_acct:pop3:anna:anna@example.com/Anna Muster/mailprofiles_smtp"], accounts
        assert len(accounts) == 2, accounts          # and Local Folders, which Thunderbird adds
        port = policies_setup["ports"]["smtps"]
        assert prefs["mailprofiles.probe.smtp"] == f"mailprofiles_smtp:localhost:{port}:anna"
        assert prefs["mailprofiles.probe.smtp_sent"] == "0", "sent through the policy's outgoing server"
        sent = [m for m in mail_servers["smtp"].messages[before:] if b"policy-probe@mailprofiles.test" in m[3]]
        assert [(m[0], m[1], m[2]) for m in sent] == [("anna", "anna@example.com", ["anna@example.com"])], sent
        # Every pref of the policy took effect, the user's user.js notwithstanding for the locked ones.
        # (Thunderbird adds Local Folders to the account list: the policy's value is its default, the user's list
        # starts with it.)
        differ = prefs["mailprofiles.probe.differ"].split(",")
        assert differ == ["mail.accountmanager.accounts=mailprofiles_acct", "account1"], differ
        locked = {name for name, entry in read_json((policies_setup["files"] / "distribution" / "policies.json")
                                                    .read_bytes()).items() if entry["Status"] == "locked"}
        assert set(prefs["mailprofiles.probe.locked"].split(",")) == locked
        assert prefs["mailprofiles.probe.refused"] == "-1", "a pref outside the allowed prefixes is refused"
        assert prefs["mailprofiles.probe.one"] == "boolean", "thunderbird-policies-number-one: 1 becomes true"
        assert prefs["mail.accountmanager.accounts"].split(",").count("mailprofiles_acct") == 1, prefs
    assert set(wanted) >= locked


def test_a_profile_in_use_keeps_its_own_accounts_and_gets_no_policy_account(mail_servers, policies_setup, tmp_path):
    """What the warning thunderbird-policies-new-profiles says: a profile with an account of its own (a user-set
    account list) does not show the policy's account."""
    ports = policies_setup["ports"]
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(server_inventory(
        ports, "ssl", "  - {email: ben@example.com, name: Ben, devices: [laptop]}\n"))
    generate(folder, tmp_path / "out")
    home = tmp_path / "home"
    home.mkdir()
    profile = make_profile(home / "profile", (tmp_path / "out/ben@example.com/laptop/prefs.js").read_bytes(),
                           mail_servers["pki"].ca_file, [("imap://localhost", "ben@example.com", PASSWORD)])
    log = mail_servers["dovecot"].folder / "dovecot.log"
    _, prefs = _run(policies_setup["binary"], profile, home, log, len(log.read_text(errors="replace")), None)
    accounts = prefs["mailprofiles.probe.accounts"]
    assert "mailprofiles_acct" not in accounts and "ben@example.com" in accounts, accounts
