"""A Thunderbird profile for a real-client test: our prefs.js, the test CA, stored passwords.

Passwords go into logins.json encrypted with NSS's SDR key of the profile (the same way
Thunderbird stores them), done in a subprocess through libnss3 with ctypes.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

_SDR = r'''
import ctypes, sys, base64, json
class SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_ubyte)), ("len", ctypes.c_uint)]
nss = ctypes.CDLL("libnss3.so")
nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
nss.PK11_Authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
nss.PK11SDR_Encrypt.argtypes = [ctypes.POINTER(SECItem)] * 3 + [ctypes.c_void_p]
if nss.NSS_InitReadWrite(("sql:" + sys.argv[1]).encode()) != 0:
    raise SystemExit("NSS_InitReadWrite failed")
slot = nss.PK11_GetInternalKeySlot()
if nss.PK11_Authenticate(slot, 1, None) != 0:
    raise SystemExit("PK11_Authenticate failed")
out = []
for text in json.loads(sys.stdin.read()):
    raw = text.encode()
    buf = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
    data = SECItem(0, buf, len(raw))
    keyid = SECItem(0, None, 0)
    result = SECItem(0, None, 0)
    if nss.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data), ctypes.byref(result), None) != 0:
        raise SystemExit("PK11SDR_Encrypt failed")
    out.append(base64.b64encode(bytes(result.data[:result.len])).decode())
nss.NSS_Shutdown()
print(json.dumps(out))
'''


# No first-run pages, no update or telemetry traffic, no start page.
QUIET = [
    'user_pref("mail.shell.checkDefaultClient", false);',
    'user_pref("app.update.enabled", false);',
    'user_pref("mail.rights.version", 1);',
    'user_pref("datareporting.policy.dataSubmissionEnabled", false);',
    'user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);',
    'user_pref("mailnews.start_page.enabled", false);',
]


def make_profile(folder: Path, prefs: bytes, ca_file: Path, logins: list[tuple[str, str, str]]) -> Path:
    """``logins``: (origin such as mailbox://localhost, user name, password)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prefs.js").write_bytes(prefs)
    # Keep the test quiet and offline: no first-run pages, no update or telemetry traffic.
    (folder / "user.js").write_text("\n".join([
        *QUIET,
        'user_pref("network.dns.disableIPv6", true);',
        'user_pref("mail.provider.enabled", false);',
        'user_pref("mail.server.default.check_all_folders_for_new", false);',
        ""]))
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-A", "-n", "mailprofiles test CA", "-t", "C,,", "-i", str(ca_file),
                    "-d", f"sql:{folder}"], check=True, capture_output=True)
    secrets = [value for _, user, password in logins for value in (user, password)]
    done = subprocess.run([sys.executable, "-c", _SDR, str(folder)], input=json.dumps(secrets),
                          capture_output=True, text=True, check=True)
    encrypted = json.loads(done.stdout)
    entries = []
    for index, (origin, _, _) in enumerate(logins):
        entries.append({
            "id": index + 1, "hostname": origin, "httpRealm": origin, "formSubmitURL": None,
            "usernameField": "", "passwordField": "",
            "encryptedUsername": encrypted[2 * index], "encryptedPassword": encrypted[2 * index + 1],
            "guid": "{" + str(uuid.uuid4()) + "}", "encType": 1,
            "timeCreated": 1764460800000, "timeLastUsed": 1764460800000,
            "timePasswordChanged": 1764460800000, "timesUsed": 1,
        })
    (folder / "logins.json").write_text(json.dumps({
        "nextId": len(entries) + 1, "logins": entries, "potentiallyVulnerablePasswords": [],
        "dismissedBreachAlertsByLoginGUID": {}, "version": 3}))
    return folder


def make_offline_profile(folder: Path, prefs: bytes) -> Path:
    """A profile with ``prefs`` as its only account configuration that cannot reach the network: no server is
    contacted at startup or on a timer, and every connection goes to a proxy at a closed local port."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prefs.js").write_bytes(prefs)
    text = prefs.decode("utf-8")
    servers = sorted(set(re.findall(r'user_pref\("mail\.server\.([A-Za-z0-9_]+)\.hostname"', text)))
    lines = [
        *QUIET,
        'user_pref("mail.provider.enabled", false);',
        'user_pref("network.proxy.type", 1);',
        'user_pref("network.proxy.socks", "127.0.0.1");',
        'user_pref("network.proxy.socks_port", 9);',
        'user_pref("network.proxy.socks_remote_dns", true);',
        'user_pref("network.proxy.http", "127.0.0.1");',
        'user_pref("network.proxy.http_port", 9);',
        'user_pref("network.proxy.ssl", "127.0.0.1");',
        'user_pref("network.proxy.ssl_port", 9);',
    ]
    for key in servers:
        lines += [f'user_pref("mail.server.{key}.login_at_startup", false);',
                  f'user_pref("mail.server.{key}.check_new_mail", false);']
    (folder / "user.js").write_text("\n".join(lines) + "\n")
    return folder


def private_installation(folder: Path, cfg: str, policies: bytes | None = None) -> Path:
    """A private Thunderbird installation that runs ``cfg`` (AutoConfig, privileged JavaScript) at startup: the
    binary and ``defaults/`` copied, everything else linked to the installed Thunderbird. With ``policies``, that
    is its ``distribution/policies.json`` (Thunderbird looks for it next to the program it runs)."""
    source = Path("/usr/lib/thunderbird")
    folder.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == "thunderbird-bin":
            shutil.copy2(entry, folder / entry.name)
        elif entry.name == "defaults":
            shutil.copytree(os.path.realpath(entry), folder / "defaults")
        elif entry.name != "distribution":
            (folder / entry.name).symlink_to(os.path.realpath(entry))
    if policies is not None:
        (folder / "distribution").mkdir()
        (folder / "distribution" / "policies.json").write_bytes(policies)
    (folder / "defaults" / "pref" / "autoconfig.js").write_text(
        '// The test AutoConfig file\npref("general.config.filename", "mailprofiles-test.cfg");\n'
        'pref("general.config.obscure_value", 0);\npref("general.config.sandbox_enabled", false);\n')
    (folder / "mailprofiles-test.cfg").write_text("// The test AutoConfig script\n" + cfg)
    return folder / "thunderbird-bin"


def stop(proc: subprocess.Popen, graceful: bool = True) -> None:
    """End a Thunderbird started in a process group of its own: a quit first when ``graceful`` (a clean quit
    writes prefs.js, as a user's quit would), then SIGKILL to whatever of the group is left."""
    if graceful and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
