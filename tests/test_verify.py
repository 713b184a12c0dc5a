"""The built-in verifiers: each catches what would break its consumer, and generate refuses to write."""
from __future__ import annotations

import sys

import pytest
from apple_reference import REFERENCE, derive_rules
from conftest import EXAMPLES, replace_format

from generator import VerificationError, generate, load_inventory
from generator.formats.registry import named
from generator.formats.verify import cross_check
from generator.formats.verify.apple import rules


@pytest.fixture(scope="module")
def sample():
    inventory = load_inventory(EXAMPLES)
    by_key = {d.key: d for d in inventory.devices}
    return inventory.organization, by_key["anna@example.com/desktop"], by_key["ben@example.com/laptop"]


def _render(client, org, device) -> bytes:
    from generator.model import Site

    return named(client).render(Site(org), device)


def verify_artifact(client, content, org, device) -> list[str]:
    return named(client).check(content, org, device)


def _read_back(rendered: dict[str, bytes]) -> dict:
    return {client: named(client).read_settings(content) for client, content in rendered.items()}


def test_shipped_apple_rules_match_apples_schema_files():
    if not REFERENCE.is_dir():
        pytest.fail(f"Apple's schema files are expected at {REFERENCE}")
    shipped = {k: v for k, v in rules().items() if not k.startswith("_")}
    assert shipped == derive_rules()
    mail = shipped["com.apple.mail.managed"]
    assert mail["EmailAccountType"]["rangelist"] == ["EmailTypeIMAP", "EmailTypePOP"]
    assert mail["IncomingMailServerPortNumber"]["type"] == "integer"


def test_sound_artifacts_pass(sample):
    org, desktop, laptop = sample
    for device in (desktop, laptop):
        for client in device.clients:
            assert verify_artifact(client, _render(client, org, device), org, device) == []


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t.replace(b'"mail.server.server1.port", 995', b'"mail.server.server1.port", "995"'),
     "must be a bare integer"),
    (lambda t: t.replace(b'"mail.server.server1.leave_on_server", true', b'"mail.server.server1.leave_on_server", "true"'),
     "must be a bool"),
    (lambda t: t + b'user_pref("mail.server.server1.port", 110);\n', "set twice"),
    (lambda t: t.replace(b'"mail.smtpservers", "smtp1"', b'"mail.smtpservers", "smtp2"'), "not listed in mail.smtpservers"),
    (lambda t: t.replace(b'"mail.server.server1.socketType", 3', b'"mail.server.server1.socketType", 2'),
     "implicit-TLS port but starttls"),
    (lambda t: t.replace(b'num_days_to_leave_on_server", 28', b'num_days_to_leave_on_server", 7'),
     "num_days_to_leave_on_server is 7, expected 28"),
    (lambda t: t.replace(b'"mail.account.account1.server", "server1"', b'"mail.account.account1.server", "server2"'),
     "missing pref mail.server.server2.type"),
    (lambda t: t + b'user_pref("mail.server.server9.hostname", "x");\n', "belongs to no account"),
    (lambda t: t + b'garbage\n', "not a user_pref line"),
    (lambda t: t.replace(b'"Anna Muster"', b'"Anna \\q"'), "unknown escape"),
])
def test_prefs_verifier_catches(sample, mutation, rule):
    org, desktop, _ = sample
    broken = mutation(_render("thunderbird", org, desktop))
    problems = verify_artifact("thunderbird", broken, org, desktop)
    assert any(rule in p for p in problems), problems


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t.replace(b"<key>EmailAccountType</key>\n\t\t\t<string>EmailTypePOP</string>",
                         b"<key>EmailAccountType</key>\n\t\t\t<string>POP</string>"), "EmailAccountType"),
    (lambda t: t.replace(b"<integer>995</integer>", b"<string>995</string>"), "must be <integer>"),
    (lambda t: t.replace(b"<integer>995</integer>", b"<integer>99500</integer>"), "outside 1..65535"),
    (lambda t: t.replace(b"<key>EmailAddress</key>", b"<key>EmailAdress</key>"), "not in Apple's schema"),
    (lambda t: t.replace(b"<key>IncomingMailServerHostName</key>\n\t\t\t<string>pop.example.com</string>\n", b""),
     "required key IncomingMailServerHostName is missing"),
    (lambda t: t.replace(b"<key>PayloadVersion</key>\n\t<integer>1</integer>",
                         b"<key>PayloadVersion</key>\n\t<integer>2</integer>"), "PayloadVersion is 2"),
    (lambda t: t.replace(b"<key>EmailAddress</key>", b"<key>IncomingMailServerIMAPPathPrefix</key>\n"
                         b"\t\t\t<string>INBOX</string>\n\t\t\t<key>EmailAddress</key>"), "IMAP-only key"),
    (lambda t: t.replace(b"</dict>\n</plist>", b"</dict>"), "the plist cannot be read"),
    (lambda t: t.replace(b"<key>EmailAddress</key>", b"<key>IncomingPassword</key>\n\t\t\t<string>x</string>\n"
                         b"\t\t\t<key>EmailAddress</key>"), "IncomingPassword must not be written"),
])
def test_plist_verifier_catches(sample, mutation, rule):
    org, desktop, _ = sample
    original = _render("apple", org, desktop)
    broken = mutation(original)
    assert broken != original
    problems = verify_artifact("apple", broken, org, desktop)
    assert any(rule in p for p in problems), problems


def test_plist_uuid_rules(sample):
    org, desktop, _ = sample
    text = _render("apple", org, desktop)
    import plistlib
    data = plistlib.loads(text)
    same = text.replace(data["PayloadContent"][0]["PayloadUUID"].encode(), data["PayloadUUID"].encode())
    assert any("not unique" in p for p in verify_artifact("apple", same, org, desktop))
    bad = text.replace(data["PayloadUUID"].encode(), b"not-a-uuid")
    assert any("is not a UUID" in p for p in verify_artifact("apple", bad, org, desktop))


def _prf_text(data: bytes) -> str:
    return data.decode("ascii")


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t.replace("\r\n", "\n"), "without CRLF"),
    (lambda t: t.replace("LeaveOnServer=0x1C0003", "LeaveOnServer=1835011"), "not 0x-hex"),
    (lambda t: t.replace("LeaveOnServer=0x1C0003", "LeaveOnServer=0x1C0002"), "removal bits without the leave bit"),
    (lambda t: t.replace("LeaveOnServer=0x1C0003", "LeaveOnServer=0x70003"), "(flags, days) is (3, 7), expected (3, 28)"),
    (lambda t: t.replace("POP3UseSSL=1", "POP3UseSSL=0"), "implicit-TLS port but none"),
    (lambda t: t.replace("POP3Port=PT_LONG,0x0104", "POP3Port=PT_LONG,0x0105"), "maps POP3Port"),
    (lambda t: t.replace("LeaveOnServer=PT_LONG,0x1000\r\n", ""), "no mapping line"),
    (lambda t: t.replace("[Account1]", "[Account1]\r\nAccountName=dup"), "appears twice"),
    (lambda t: t.replace("Account1=I_Mail", "Account1=MyPop"), "not I_Mail or IMAP_I_Mail"),
    (lambda t: t.replace("[General]", "stray line\r\n[General]"), "outside any section"),
    (lambda t: t.replace("SMTPSecureConnection=2", "SMTPSecureConnection=TRUE"), "not a decimal integer"),
    (lambda t: t.replace("Custom=1", "Custom=0"), "[General] Custom"),
])
def test_prf_verifier_catches(sample, mutation, rule):
    org, desktop, _ = sample
    original = _prf_text(_render("outlook", org, desktop))
    broken = mutation(original)
    assert broken != original
    problems = verify_artifact("outlook", broken.encode("ascii"), org, desktop)
    assert any(rule in p for p in problems), problems


def test_prf_encoding_rules(sample):
    org, desktop, _ = sample
    text = _prf_text(_render("outlook", org, desktop))
    assert any("UTF-8 BOM" in p for p in verify_artifact("outlook", b"\xef\xbb\xbf" + text.encode(), org, desktop))
    latin = text.replace("Anna Muster", "Anna M\u00fcster").encode("latin-1")
    assert any("ANSI code page" in p for p in verify_artifact("outlook", latin, org, desktop))


def test_cross_check_catches_disagreeing_artifacts(sample):
    org, desktop, _ = sample
    rendered = {c: _render(c, org, desktop) for c in desktop.clients}
    assert cross_check(_read_back(rendered)) == []
    rendered["thunderbird"] = rendered["thunderbird"].replace(b'"pop.example.com"', b'"pop2.example.com"')
    assert any("disagree on incoming host" in p for p in cross_check(_read_back(rendered)))


def test_generate_refuses_to_write_a_failing_artifact(tmp_path, monkeypatch):
    out = tmp_path / "out"
    generate(EXAMPLES, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = named("thunderbird").render
    replace_format(monkeypatch, "thunderbird",
                   render=lambda site, device: real(site, device).replace(b", 995)", b", \"995\")"))
    with pytest.raises(VerificationError) as info:
        generate(EXAMPLES, out)
    assert any("thunderbird" in f and "bare integer" in f for f in info.value.failures)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not any(p.name.endswith("-staging") for p in tmp_path.iterdir())


def test_cli_exit_code_3_on_verification_failure(tmp_path, monkeypatch, capsys):
    from generator import cli

    real = named("apple").render
    replace_format(monkeypatch, "apple", render=lambda site, device: real(site, device).replace(
        b"<key>EmailAddress</key>", b"<key>EmailAdress</key>"))
    monkeypatch.setattr(sys, "argv", ["mailprofiles", "generate", str(EXAMPLES), "-o", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 3
    captured = capsys.readouterr()
    assert "failed its verification" in captured.err and "EmailAdress" in captured.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mutation, rule", [
    (lambda t: t + b'user_pref("mail.accountmanager.accounts", "mailprofiles_x");\n', "would replace what the profile"),
    (lambda t: t.replace(b'"mailnews.append_preconfig_accounts.version", 1', b'"mailnews.append_preconfig_accounts.version", 2'),
     "must be 1"),
    (lambda t: t.replace(b'"mail.accountmanager.appendaccounts", "mailprofiles_acct_',
                         b'"mail.accountmanager.appendaccounts", "account1,mailprofiles_acct_'), "exactly one account"),
])
def test_user_js_verifier_catches(write_inventory, mutation, rule):
    from conftest import BASE

    folder = write_inventory(BASE + "users:\n  - {email: a@example.com, devices: "
                             "[{name: mac, profile: laptop, settings: {thunderbird_file: user.js}}]}\n")
    inventory = load_inventory(folder)
    device = inventory.devices[0]
    sound = _render("thunderbird", inventory.organization, device)
    assert sound.startswith(b"// Mozilla User Preferences") and b"appendaccounts" in sound
    assert verify_artifact("thunderbird", sound, inventory.organization, device) == []
    broken = mutation(sound)
    assert broken != sound
    assert any(rule in p for p in verify_artifact("thunderbird", broken, inventory.organization, device))
