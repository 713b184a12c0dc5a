"""The generated OAuth2 accounts in the real Thunderbird 153, headless and offline.

The prefs.js generated for the Microsoft 365 and the Google inventory (tests/cases/oauth2/) is a profile's only
account configuration. A private copy of the installation runs an AutoConfig script (privileged JavaScript, as a
site's ``.cfg``) once the main window is up: it asks Thunderbird's account manager and outgoing-server service
what they loaded, asks ``OAuth2Providers.getHostnameDetails(host, type)`` (modules/OAuth2Providers.sys.mjs in
omni.ja) where each server signs in, writes the answers into prefs and quits. Nothing reaches the network: no
server is contacted at startup, every connection goes to a closed local port, and Thunderbird never asks for a
token; the run is killed if it does not end by itself.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from thunderbird_profile import make_offline_profile, private_installation

from generator import generate
from generator.oauth2 import provider_for

CASES = Path(__file__).resolve().parent / "cases" / "oauth2"
OAUTH2 = 10     # Ci.nsMsgAuthMethod.OAuth2

# Runs once the first main window is up (mail-startup-done, from mailTabs.js), then quits.
PROBE = r"""
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const { OAuth2Providers } = ChromeUtils.importESModule("resource:///modules/OAuth2Providers.sys.mjs");
function probeRecord(prefix, type, host, username, authMethod) {
  const details = OAuth2Providers.getHostnameDetails(host, type);
  Services.prefs.setStringPref(prefix + ".type", type);
  Services.prefs.setStringPref(prefix + ".host", host);
  Services.prefs.setStringPref(prefix + ".username", username);
  Services.prefs.setIntPref(prefix + ".authMethod", authMethod);
  Services.prefs.setStringPref(prefix + ".issuer", details ? details.issuer : "");
  Services.prefs.setStringPref(prefix + ".scope", details ? details.requiredScopes : "");
}
Services.obs.addObserver(function probe() {
  Services.obs.removeObserver(probe, "mail-startup-done");
  try {
    for (const account of MailServices.accounts.accounts) {
      const server = account.incomingServer;
      if (server.type == "none") {
        continue;
      }
      probeRecord("mailprofiles.probe." + server.key, server.type, server.hostname, server.username,
                  server.authMethod);
    }
    for (const server of MailServices.outgoingServer.servers) {
      const smtp = server.QueryInterface(Components.interfaces.nsISmtpServer);
      probeRecord("mailprofiles.probe." + server.key, "smtp", smtp.hostname, server.username, server.authMethod);
    }
    Services.prefs.setBoolPref("mailprofiles.probe.done", true);
  } catch (error) {
    Services.prefs.setStringPref("mailprofiles.probe.error", String(error));
  }
  Services.prefs.savePrefFile(null);
  Services.startup.quit(Components.interfaces.nsIAppStartup.eForceQuit);
}, "mail-startup-done");
"""


def _prefs_file(path: Path) -> dict[str, str]:
    """The user_pref values of a prefs.js that Thunderbird wrote (strings, ints and booleans as text)."""
    return {m.group(1): m.group(2).strip('"') for m in
            re.finditer(r'^user_pref\("([^"]+)", (.*)\);$', path.read_text(errors="replace"), re.MULTILINE)}


@pytest.fixture(scope="module")
def thunderbird(tmp_path_factory) -> Path:
    if shutil.which("thunderbird") is None or not Path("/usr/lib/thunderbird/thunderbird-bin").exists():
        if os.environ.get("CI"):
            pytest.fail("thunderbird is needed (apt-get install thunderbird)")
        pytest.skip("thunderbird is not installed")
    return private_installation(tmp_path_factory.mktemp("tb") / "thunderbird", PROBE)


def _run(binary: Path, profile: Path, home: Path, seconds: float = 120) -> str:
    """Run Thunderbird headless until it quits by itself; killed (and the test failed) after ``seconds``."""
    env = dict(os.environ, MOZ_HEADLESS="1", HOME=str(home), MOZ_DISABLE_AUTO_SAFE_MODE="1")
    log = home / "thunderbird.log"
    with open(log, "wb") as output:
        proc = subprocess.Popen([str(binary), "--headless", "--no-remote", "-profile", str(profile)], env=env,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + seconds
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        ended = proc.poll() is not None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    text = log.read_text(errors="replace")
    assert ended, f"Thunderbird did not quit within {seconds} s\n{text[-3000:]}"
    return text


@pytest.mark.parametrize("case, device", [("m365", "laptop"), ("m365", "desktop"), ("google", "laptop")])
def test_thunderbird_keeps_the_oauth2_account_and_knows_its_provider(thunderbird, tmp_path, case, device):
    generate(CASES / case, tmp_path / "out")
    generated = tmp_path / "out" / "anna@example.com" / device / "prefs.js"
    wanted = _prefs_file(generated)
    home = tmp_path / "home"
    home.mkdir()
    profile = make_offline_profile(home / "profile", generated.read_bytes())
    log = _run(thunderbird, profile, home)
    prefs = _prefs_file(profile / "prefs.js")
    assert "mailprofiles.probe.error" not in prefs, prefs["mailprofiles.probe.error"]
    assert prefs.get("mailprofiles.probe.done") == "true", f"the probe did not run\n{log[-3000:]}"
    servers = sorted({m.group(1) for name in wanted
                      if (m := re.fullmatch(r"mail\.(?:server|smtpserver)\.([^.]+)\.hostname", name))})
    incoming = [key for key in servers if f"mail.server.{key}.hostname" in wanted]
    outgoing = [key for key in servers if f"mail.smtpserver.{key}.hostname" in wanted]
    assert len(incoming) == len(outgoing) == 1, wanted
    for key, branch, user in ((incoming[0], "mail.server", "userName"), (outgoing[0], "mail.smtpserver", "username")):
        # The generated account, as Thunderbird rewrote prefs.js at its quit.
        assert prefs[f"{branch}.{key}.authMethod"] == str(OAUTH2) == wanted[f"{branch}.{key}.authMethod"]
        host = wanted[f"{branch}.{key}.hostname"]
        assert prefs[f"{branch}.{key}.hostname"] == host
        assert prefs[f"{branch}.{key}.{user}"] == wanted[f"{branch}.{key}.{user}"] == "anna@example.com"
        # What Thunderbird's own objects loaded, and where Thunderbird itself says the host signs in.
        probe = f"mailprofiles.probe.{key}"
        assert (prefs[f"{probe}.host"], prefs[f"{probe}.username"], prefs[f"{probe}.authMethod"]) == (
            host, "anna@example.com", str(OAUTH2))
        known = provider_for(host)
        assert known is not None
        protocol = prefs[f"{probe}.type"]
        assert protocol == wanted[f"{branch}.{key}.type"]
        assert (prefs[f"{probe}.issuer"], prefs[f"{probe}.scope"]) == (known.issuer, known.scope(protocol))


def test_thunderbird_knows_no_provider_for_an_own_identity_providers_host(thunderbird, tmp_path):
    """The own-idp case: Thunderbird keeps authMethod 10 but names no issuer for the host, as the warning
    thunderbird-oauth2-custom-provider says (an extension has to register the provider)."""
    generate(CASES / "own-idp", tmp_path / "out")
    generated = tmp_path / "out" / "anna@example.com" / "laptop" / "prefs.js"
    home = tmp_path / "home"
    home.mkdir()
    profile = make_offline_profile(home / "profile", generated.read_bytes())
    log = _run(thunderbird, profile, home)
    prefs = _prefs_file(profile / "prefs.js")
    assert prefs.get("mailprofiles.probe.done") == "true", f"the probe did not run\n{log[-3000:]}"
    for key, host in (("server1", "imap.example.com"), ("smtp1", "smtp.example.com")):
        assert provider_for(host) is None
        assert (prefs[f"mailprofiles.probe.{key}.host"], prefs[f"mailprofiles.probe.{key}.authMethod"]) == (
            host, str(OAUTH2))
        assert prefs[f"mailprofiles.probe.{key}.issuer"] == prefs[f"mailprofiles.probe.{key}.scope"] == ""
