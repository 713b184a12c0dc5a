"""The spine: example inventory → golden artifacts, re-read by independent readers."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from conftest import BASE, EXAMPLES, ROOT
from golden_files import assert_matches_golden
from golden_files import tree as _tree
from readers import read_autodiscover, read_plist, read_prefs, read_prf, read_reg_values

from generator import explain, generate, load_inventory

GOLDEN = ROOT / "tests" / "golden" / "example"


def test_example_matches_golden_files(tmp_path):
    generate(EXAMPLES, tmp_path / "out")
    assert_matches_golden(tmp_path / "out", GOLDEN)


def test_every_artifact_says_what_the_inventory_says(tmp_path):
    result = generate(EXAMPLES, tmp_path / "out")
    inventory = load_inventory(EXAMPLES)
    devices = {(d.user.email, d.name): d for d in inventory.devices}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert len(manifest["artifacts"]) == len(result.artifacts) == 36
    assert sorted(e["kind"] for e in manifest["artifacts"]).count("device") == 30
    assert sorted(e["path"] for e in manifest["artifacts"] if e["kind"] != "device") == [
        "anna@example.com/handout.html", "autoconfig/example.com/mail/config-v1.1.xml",
        "autodiscover/example.com/autodiscover.xml", "ben@example.com/handout.html",
        "carla@example.com/handout.html", "jurgen.muller@example.com/handout.html"]
    for entry in (e for e in manifest["artifacts"] if e["kind"] == "device"):
        device = devices[(entry["user"], entry["device"])]
        data = (tmp_path / "out" / entry["path"]).read_bytes()
        assert entry["protocol"] == device.protocol and entry["profile"] == device.profile
        import hashlib
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        incoming, smtp, user = device.incoming, device.outgoing, device.user
        if entry["client"] == "thunderbird":
            prefs = read_prefs(data)
            server = prefs["mail.account.account1.server"]
            assert prefs[f"mail.server.{server}.type"] == device.protocol
            assert prefs[f"mail.server.{server}.hostname"] == incoming.host
            assert prefs[f"mail.server.{server}.port"] == incoming.port
            assert prefs[f"mail.server.{server}.socketType"] == {"ssl": 3, "starttls": 2, "none": 0}[incoming.security]
            assert prefs[f"mail.server.{server}.userName"] == user.login
            assert prefs["mail.identity.id1.fullName"] == user.name
            assert prefs["mail.identity.id1.doBcc"] is device.bcc_self
            assert prefs["mail.smtpserver.smtp1.hostname"] == smtp.host
            assert prefs["mail.smtpserver.smtp1.port"] == smtp.port
            assert prefs["mail.smtpserver.smtp1.try_ssl"] == {"ssl": 3, "starttls": 2, "none": 0}[smtp.security]
            if device.protocol == "pop3":
                assert prefs[f"mail.server.{server}.leave_on_server"] is True
                assert prefs[f"mail.server.{server}.delete_by_age_from_server"] is True
                assert prefs[f"mail.server.{server}.num_days_to_leave_on_server"] == 28
                assert prefs[f"mail.server.{server}.download_on_biff"] is True
            else:
                assert prefs["mail.identity.id1.doBccList"] == user.email
        elif entry["client"] == "apple":
            plist = read_plist(data)
            mail = plist["PayloadContent"][0]
            assert mail["EmailAccountType"] == {"imap": "EmailTypeIMAP", "pop3": "EmailTypePOP"}[device.protocol]
            assert mail["IncomingMailServerHostName"] == incoming.host
            assert mail["IncomingMailServerPortNumber"] == incoming.port
            assert mail["IncomingMailServerUseSSL"] is True
            assert mail["IncomingMailServerUsername"] == user.login
            assert mail["OutgoingMailServerHostName"] == smtp.host
            assert mail["OutgoingMailServerPortNumber"] == smtp.port
            assert mail["EmailAccountName"] == user.name
            assert mail["EmailAddress"] == user.email
        elif entry["path"].endswith("/autodiscover.xml"):
            answer = read_autodiscover(data)
            assert answer["user"] == {"DisplayName": user.name, "AutoDiscoverSMTPAddress": user.email}
            (inc, out) = answer["protocols"]
            assert (inc["Type"], inc["Server"], inc["Port"], inc["LoginName"]) == \
                (device.protocol.upper(), incoming.host, str(incoming.port), user.login)
            assert (out["Type"], out["Server"], out["Port"], out["LoginName"]) == \
                ("SMTP", smtp.host, str(smtp.port), user.login)
            assert inc["Encryption"] == {"ssl": "SSL", "starttls": "TLS", "none": "None"}[incoming.security]
            assert out["Encryption"] == {"ssl": "SSL", "starttls": "TLS", "none": "None"}[smtp.security]
        elif entry["path"].endswith("/autodiscover.reg"):
            (values,) = read_reg_values(data).values()
            assert values == {"PreferLocalXML": 1, user.domain:
                              f"C:\\ProgramData\\Autodiscover\\{user.email}\\autodiscover.xml"}
        else:
            prf = read_prf(data)
            account = prf["account1"]
            p = "pop3" if device.protocol == "pop3" else "imap"
            assert prf["internet account list"]["account1"] == ("I_Mail" if p == "pop3" else "IMAP_I_Mail")
            assert account[f"{p}server"] == incoming.host
            assert int(account[f"{p}port"]) == incoming.port
            assert account[f"{p}usessl"] == "1"
            assert account[f"{p}username"] == user.login
            assert account["displayname"] == user.name
            assert account["smtpserver"] == smtp.host
            assert int(account["smtpport"]) == smtp.port
            assert account["smtpsecureconnection"] == {"ssl": "1", "starttls": "2"}[smtp.security]
            if p == "pop3":
                value = int(account["leaveonserver"], 16)
                assert value & 0xFFFF == 0x3 and value >> 16 == 28
                assert account["leaveonserver"] == "0x1C0003"
            for keys in prf.values():
                assert not any("password" in k for k in keys)


def test_non_ascii_prf_is_utf16_with_bom_and_prefs_are_utf8(tmp_path):
    generate(EXAMPLES, tmp_path / "out")
    prf = (tmp_path / "out" / "jurgen.muller@example.com/desktop/outlook.prf").read_bytes()
    assert prf.startswith(b"\xff\xfe")
    assert read_prf(prf)["account1"]["displayname"] == "Jürgen Müller"
    ascii_prf = (tmp_path / "out" / "anna@example.com/desktop/outlook.prf").read_bytes()
    assert ascii_prf.isascii() and b"\r\n" in ascii_prf
    prefs = (tmp_path / "out" / "jurgen.muller@example.com/desktop/prefs.js").read_bytes()
    assert "Jürgen Müller".encode() in prefs


def test_no_password_anywhere(tmp_path):
    generate(EXAMPLES, tmp_path / "out")
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            text = path.read_bytes().replace(b"\x00", b"").lower()
            assert b"password\"" not in text and b"password=" not in text
            assert b"<key>incomingpassword</key>" not in text and b"<key>outgoingpassword</key>" not in text


def test_stable_uuids_derived_from_input(tmp_path):
    generate(EXAMPLES, tmp_path / "a")
    generate(EXAMPLES, tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    uuids = set()
    for path in (tmp_path / "a").rglob("*.mobileconfig"):
        plist = read_plist(path.read_bytes())
        uuids.add(plist["PayloadUUID"])
        uuids.add(plist["PayloadContent"][0]["PayloadUUID"])
        assert plist["PayloadIdentifier"].startswith("com.example.")
    assert len(uuids) == 2 * len(list((tmp_path / "a").rglob("*.mobileconfig")))


@pytest.mark.parametrize("parts", [("com.example", "a@example.com", "laptop", "profile"),
                                   ("ORG", "Ünïcödé@Example.COM", "iPhone 15", "mail"), ("",), ("x\ny", "ß", "😀")])
def test_a_stable_uuid_is_the_uuid5_of_its_parts(parts):
    from generator.formats.render.uuids import NAMESPACE, stable_uuid

    assert stable_uuid(*parts) == str(uuid.uuid5(NAMESPACE, "\n".join(p.casefold() for p in parts))).upper()


def test_rerun_rewrites_nothing(tmp_path):
    out = tmp_path / "out"
    first = generate(EXAMPLES, out)
    assert first.count("created") == 36 and first.manifest_changed
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    inodes = {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()}
    second = generate(EXAMPLES, out)
    assert second.count("unchanged") == 36 and second.count("changed") == 0
    assert not second.manifest_changed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    assert {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()} == inodes


def test_change_is_reported_and_stale_artifacts_removed_but_foreign_files_kept(tmp_path, write_inventory):
    folder = write_inventory(BASE + """users:
  - {email: a@example.com, name: A, devices: [desktop, laptop]}
""")
    out = tmp_path / "out"
    generate(folder, out)
    (out / "README-by-admin.txt").write_text("mine")
    (out / "a@example.com" / "notes.txt").write_text("mine too")
    (folder / "inventory.yaml").write_text(BASE + """users:
  - {email: a@example.com, name: A B, devices: [desktop]}
""")
    result = generate(folder, out)
    statuses = {c.path: c.status for c in result.changes}
    assert statuses["a@example.com/desktop/prefs.js"] == "changed"
    assert statuses["a@example.com/laptop/prefs.js"] == "removed"
    assert not (out / "a@example.com/laptop").exists()
    assert (out / "README-by-admin.txt").read_text() == "mine"
    assert (out / "a@example.com/notes.txt").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["device"] for a in manifest["artifacts"] if a["kind"] == "device"} == {"desktop"}


def test_check_mode_writes_nothing_and_diff_shows_changes(tmp_path, write_inventory):
    folder = write_inventory(BASE + "users:\n  - {email: a@example.com, name: A, devices: [desktop]}\n")
    out = tmp_path / "out"
    result = generate(folder, out, check=True, diff=True)
    assert not out.exists()
    assert result.count("created") == 8      # five device files, the handout, the domain's autoconfig and autodiscover
    generate(folder, out)
    before = _tree(out)
    (folder / "inventory.yaml").write_text(
        BASE.replace("pop.example.com", "pop2.example.com") +
        "users:\n  - {email: a@example.com, name: A, devices: [desktop]}\n")
    result = generate(folder, out, check=True, diff=True)
    assert _tree(out) == before
    change = next(c for c in result.changes if c.path.endswith("prefs.js"))
    assert change.status == "changed"
    assert '-user_pref("mail.server.server1.hostname", "pop.example.com");' in change.diff
    assert '+user_pref("mail.server.server1.hostname", "pop2.example.com");' in change.diff
    prf_change = next(c for c in result.changes if c.path.endswith(".prf"))
    assert "+POP3Server=pop2.example.com" in prf_change.diff


def test_limit_only_touches_matching_users(tmp_path, write_inventory):
    users = """users:
  - {email: a@example.com, name: A, devices: [desktop], groups: [g]}
  - {email: b@example.com, name: B, devices: [desktop]}
groups: {g: {}}
"""
    folder = write_inventory(BASE + users)
    out = tmp_path / "out"
    generate(folder, out)
    (folder / "inventory.yaml").write_text(BASE.replace("smtp.example.com", "smtp9.example.com") + users)
    result = generate(folder, out, limit="a@*")
    changed = {c.path for c in result.changes if c.status == "changed"}
    assert changed and all(p.startswith("a@example.com/") for p in changed)
    assert b"smtp.example.com" in (out / "b@example.com/desktop/prefs.js").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["user"] for a in manifest["artifacts"] if "user" in a} == {"a@example.com", "b@example.com"}
    assert generate(folder, out, limit="@g").count("unchanged") == 6     # a's five device files and handout
    assert generate(folder, out, limit="b@example.com/desktop").count("changed") == 4     # the XML names the server


def test_layering_order(write_inventory):
    folder = write_inventory("""\
organization: {name: Org, identifier: org.example}
servers:
  imap: {host: imap.example.com}
  pop3: {host: pop.example.com}
  smtp: {host: smtp.example.com}
settings: {check_interval_minutes: 20, pop3: {delete_after_days: 10}}
groups:
  g1: {settings: {check_interval_minutes: 30, bcc_self: true}, servers: {smtp: {host: g1.example.com}}}
  g2: {settings: {check_interval_minutes: 40}}
users:
  - email: u@example.com
    groups: [g1, g2]
    settings: {pop3: {delete_after_days: 14}}
    devices:
      - desktop
      - {name: d2, profile: desktop, settings: {check_interval_minutes: 50, pop3: {delete_after_days: 7}},
         servers: {smtp: {host: dev.example.com, port: 587, security: starttls}}}
""")
    plain, override = explain(folder, "U@example.com")
    # built-in profile value < inventory settings < group (later group wins) < user < device
    assert plain.check_interval_minutes == 40
    assert dict(plain.provenance)["check_interval_minutes"].layer == "group g2"
    assert plain.bcc_self is True and dict(plain.provenance)["bcc_self"].layer == "group g1"
    assert plain.pop3.delete_after_days == 14 and dict(plain.provenance)["pop3.delete_after_days"].layer == "user"
    assert plain.pop3.leave_on_server is True
    assert dict(plain.provenance)["pop3.leave_on_server"].layer == "profile desktop (built-in)"
    assert plain.outgoing.host == "g1.example.com" and plain.outgoing.port == 465
    assert override.check_interval_minutes == 50 and override.pop3.delete_after_days == 7
    assert override.outgoing == type(override.outgoing)("smtp", "dev.example.com", 587, "starttls", "password")
    src = dict(override.provenance)["servers.smtp.host"]
    assert src.layer == "device d2" and src.location.line == 17


def test_profiles_dir_overrides_and_adds_profiles(write_inventory, tmp_path):
    folder = write_inventory(BASE + "profiles_dir: profiles\nusers:\n"
                             "  - {email: a@example.com, devices: [desktop, kiosk]}\n")
    (folder / "profiles").mkdir()
    (folder / "profiles" / "desktop.yaml").write_text(
        "settings: {protocol: pop3, clients: [thunderbird], bcc_self: false, fetch_automatically: true,\n"
        "  check_interval_minutes: 3, pop3: {leave_on_server: true, delete_after_days: 60}}\n")
    (folder / "profiles" / "kiosk.yaml").write_text(
        "settings: {protocol: imap, clients: [thunderbird], bcc_self: true, fetch_automatically: false,\n"
        "  check_interval_minutes: 60}\n")
    desktop, kiosk = explain(folder, "a@example.com")
    assert desktop.clients == ("thunderbird",) and desktop.pop3.delete_after_days == 60
    assert kiosk.protocol == "imap" and kiosk.fetch_automatically is False
    assert str(dict(kiosk.provenance)["protocol"]).startswith("profile kiosk (")


def test_policy_lints(write_inventory):
    folder = write_inventory(BASE + """users:
  - {email: nodesk@example.com, devices: [laptop]}
  - email: twopop@example.com
    devices: [desktop, {name: d2, profile: desktop}, phone]
  - email: deleter@example.com
    settings: {pop3: {leave_on_server: false}}
    devices: [desktop, {name: lap, profile: laptop, settings: {bcc_self: false}}]
""")
    inventory = load_inventory(folder)
    codes = {(f.user, f.device, f.code) for f in inventory.findings}
    assert ("nodesk@example.com", None, "no-archive") in codes
    assert ("twopop@example.com", None, "multiple-pop3") in codes
    assert ("deleter@example.com", "desktop", "pop3-deletes-mail") in codes
    assert ("deleter@example.com", "lap", "no-bcc-to-archive") in codes
    assert not any(f.user == "twopop@example.com" and f.code == "no-archive" for f in inventory.findings)


def test_client_limitations_are_reported_in_manifest(tmp_path, write_inventory):
    folder = write_inventory(BASE.replace("imap: {host: imap.example.com}",
                                          "imap: {host: imap.example.com, security: starttls}") +
                             "users:\n  - {email: a@example.com, devices: [desktop, laptop]}\n")
    result = generate(folder, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    codes = {(w["device"], w["client"], w["code"]) for w in manifest["warnings"]}
    assert ("laptop", "apple", "apple-no-bcc") in codes
    assert ("laptop", "outlook", "outlook-no-bcc") in codes
    assert ("laptop", "outlook", "outlook-incoming-starttls") in codes
    assert ("desktop", "apple", "apple-no-pop-retention") in codes
    # the PRF for the STARTTLS IMAP laptop is not produced, and the manifest says why; the Autodiscover pair is
    assert not (tmp_path / "out" / "a@example.com/laptop/outlook.prf").exists()
    assert {a.path.rsplit("/", 1)[1] for a in result.artifacts if a.device == "laptop" and a.client == "outlook"} \
        == {"autodiscover.xml", "autodiscover.reg"}


def test_csv_roster_equivalent_to_inline(write_inventory, tmp_path):
    inline = write_inventory(BASE + """users:
  - {email: c@example.com, name: "Carla O'Neill", login: carla, devices: [desktop, {name: ipad, profile: phone}]}
""")
    generate(inline, tmp_path / "inline")
    shutil.rmtree(inline)
    csv_folder = write_inventory(BASE + "users_file: users.csv\n", users__csv=(
        "email,name,login,groups,devices\nc@example.com,Carla O'Neill,carla,,desktop;ipad:phone\n"))
    generate(csv_folder, tmp_path / "csv")
    assert _tree(tmp_path / "inline") == _tree(tmp_path / "csv")


def test_insecure_needs_opt_in(write_inventory):
    from generator import InventoryError

    folder = write_inventory(BASE.replace("smtp: {host: smtp.example.com}",
                                          "smtp: {host: smtp.example.com, security: none}") +
                             "users:\n  - {email: a@example.com, devices: [desktop]}\n")
    with pytest.raises(InventoryError, match="allow_insecure"):
        load_inventory(folder)
    (folder / "inventory.yaml").write_text((folder / "inventory.yaml").read_text().replace(
        "security: none}", "security: none, allow_insecure: true}"))
    inventory = load_inventory(folder)
    assert inventory.devices[0].outgoing.port == 587
    assert any(f.code == "insecure-connection" for f in inventory.findings)


def test_tampered_manifest_cannot_delete_outside_the_output(tmp_path):
    out = tmp_path / "out"
    generate(EXAMPLES, out)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    manifest = json.loads((out / "manifest.json").read_text())
    for evil in ("../victim.txt", "/etc/hostname", "a/../../victim.txt", "C:\\victim.txt"):
        manifest["artifacts"].append({"user": "x@example.com", "device": "d", "profile": "desktop",
                                      "client": "thunderbird", "protocol": "pop3", "path": evil, "sha256": "0"})
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = generate(EXAMPLES, out)
    assert victim.read_text() == "keep me"
    assert result.count("removed") == 0
    assert "../victim.txt" not in (out / "manifest.json").read_text()


def test_limit_never_removes_files_of_other_users(tmp_path, write_inventory):
    both = BASE + "users:\n  - {email: a@example.com, devices: [desktop]}\n  - {email: b@example.com, devices: [desktop]}\n"
    folder = write_inventory(both)
    out = tmp_path / "out"
    generate(folder, out)
    (folder / "inventory.yaml").write_text(BASE + "users:\n  - {email: a@example.com, devices: [desktop]}\n")
    result = generate(folder, out, limit="a@example.com")
    assert result.count("removed") == 0 and (out / "b@example.com/desktop/prefs.js").exists()
    assert (out / "b@example.com/handout.html").exists()
    assert "b@example.com" in (out / "manifest.json").read_text()
    result = generate(folder, out)                 # without --limit the stale user goes, handout included
    assert result.count("removed") == 6 and not (out / "b@example.com").exists()


def test_second_concurrent_run_is_refused(tmp_path):
    from generator import OutputError
    from generator.output.writer import locked

    out = tmp_path / "out"
    with locked(out):
        with pytest.raises(OutputError, match="another mailprofiles run"):
            generate(EXAMPLES, out)
        assert list(out.iterdir()) == []
    generate(EXAMPLES, out)


def test_the_lock_belongs_to_the_folder_not_to_its_spelling(tmp_path, monkeypatch):
    """A link to OUT, or '.', names the same folder: a second run through it is refused while one runs."""
    from generator import OutputError
    from generator.output.writer import locked

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "alias").symlink_to(out)
    monkeypatch.chdir(out)
    with locked(out):
        for spelling in (tmp_path / "alias", Path("."), tmp_path / "out" / ".." / "out"):
            with pytest.raises(OutputError, match="another mailprofiles run"):
                generate(EXAMPLES, spelling)
        with pytest.raises(OutputError):   # still locked for a further run
            generate(EXAMPLES, out)
    assert list(out.iterdir()) == []
    assert not [p for p in tmp_path.iterdir() if "mailprofiles" in p.name], "nothing is kept next to OUT"
    generate(EXAMPLES, tmp_path / "alias")
    assert (out / "manifest.json").exists()


def test_manifest_chunks_are_valid_json_for_any_size():
    from generator.output.manifest import manifest_chunks

    for count in (0, 1, 3):
        items = [{"path": f"p{i}", "note": "ü \"q\""} for i in range(count)]
        data = json.loads(b"".join(manifest_chunks(iter(items), iter(items[:1]))))
        assert data == {"version": 1, "artifacts": items, "warnings": items[:1]}
