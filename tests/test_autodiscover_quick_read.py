"""The Autodiscover verifiers' one-pass readers of a file in its plain form read what their general readers read.

Each case is one file, read once as the verifier reads it and once with the one-pass reader turned off (libxml2
alone for autodiscover.xml, line by line for autodiscover.reg): the values read, or the error raised, must be the
same. The plain values (in the XML words of characters that need no escape, XML's predefined escapes, non-ASCII
letters; in the .reg file quoted strings with their two escapes) must take the one-pass reader; the rest may not.
"""
from __future__ import annotations

from typing import Any

import pytest
from conftest import BASE

from generator import load_inventory
from generator.errors import ReadBackError
from generator.formats.registry import named
from generator.formats.subjects import DomainDevices
from generator.formats.verify import autodiscover
from generator.formats.verify import autodiscover_reg as verify_reg

PLAIN = ["Anna", "Anna Muster", "O&#39;Brien &amp; Söhne", "a &lt;b&gt; &quot;c&#34; &apos;d", "&amp;lt;", "x&amp;",
         "Łukasz Żółć", "用户", "\U0001f600 \U0010ffff", "a]b", "a=b;c", "A\u200bB"]
OTHER = ["", " ", "Anna  Muster", " Anna", "Anna ", "Anna\tM", "Anna\nM", "Anna\rM", "Anna\xa0M", "Anna\u2028M",
         "\u3000Anna", "Anna\x85", "A\x7fB", "A\x9fB", "A\x01B", "A\x0bB", "A\x1fB", "A\ufffeB", "A\uffffB", "A&#x41;B",
         "A&#65;B", "&#32;Anna", "Anna&#32;", "A&foo;B", "A&amp B", "A&B", "A<B", "A>B", "A]]>B", "A]]&gt;B",
         "<![CDATA[Anna]]>", "An<!-- c -->na", "An<?pi x?>na", "A<b/>", "A&#0;B", "A&#xD800;B", "&AMP;"]


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> tuple[str, str]:
    """A user's answer (with <User> and <LoginName>) and a domain's (neither), as rendered."""
    folder = tmp_path_factory.mktemp("inventory")
    (folder / "inventory.yaml").write_text(
        BASE + "users:\n  - {email: anna@example.com, name: Anna Muster, login: anna, devices: [laptop]}\n",
        encoding="utf-8")
    inventory = load_inventory(folder)
    device = next(d for d in inventory.devices if d.name == "laptop")
    user = named("outlook-autodiscover").render(inventory.site, device).decode("utf-8")
    domain = named("autodiscover").render(inventory.site, DomainDevices("example.com", tuple(inventory.devices)))
    assert b"<User>" not in domain and b"<LoginName>" not in domain
    return user, domain.decode("utf-8")


def _outcome(content: bytes) -> Any:
    try:
        return ("read", repr(autodiscover.read.__wrapped__(content)))
    except ReadBackError as exc:
        return ("refused", str(exc))


def _both(monkeypatch: pytest.MonkeyPatch, content: bytes) -> tuple[Any, Any, bool]:
    """(the verifier's reading, libxml2's alone, whether the one-pass reader read the file)."""
    quick = autodiscover._quick_read(content) is not None
    with_quick = _outcome(content)
    with monkeypatch.context() as patched:
        patched.setattr(autodiscover, "_quick_read", lambda content: None)
        without = _outcome(content)
    return with_quick, without, quick


def _variants(user: str) -> list[tuple[str, str]]:
    """Each value in each place a value can be: the name, the address, a server and a login."""
    places = ["<DisplayName>Anna Muster</DisplayName>", "<AutoDiscoverSMTPAddress>anna@example.com<",
              "<Server>imap.example.com</Server>", "<LoginName>anna</LoginName>"]
    found = []
    for place in places:
        assert place in user
        tag = place[1:place.index(">")]
        found += [(user.replace(place, f"<{tag}>{value}</{tag}>" if place.endswith(">") else f"<{tag}>{value}<", 1),
                   value) for value in PLAIN + OTHER]
    return found


def test_plain_values_take_the_one_pass_reader_and_read_as_libxml2_reads_them(answers, monkeypatch):
    user, _ = answers
    for text, value in _variants(user):
        with_quick, without, quick = _both(monkeypatch, text.encode("utf-8"))
        assert with_quick == without, text
        if value in PLAIN:
            assert quick and with_quick[0] == "read", text
    # The escapes are read as libxml2 reads them, in one pass ("&amp;lt;" is "&lt;", not "<").
    read = autodiscover.read(user.replace("Anna Muster", "&amp;lt; O&#39;Brien &amp; S&quot;&#34;&apos;&gt;").encode())
    assert read[0] == {"name": "&lt; O'Brien & S\"\"'>", "email": "anna@example.com"}


@pytest.mark.parametrize("change", [
    lambda t: t, lambda t: t.replace("\n", "\r\n"), lambda t: t[:-1], lambda t: t + "\n", lambda t: t + " ",
    lambda t: t.replace("  ", "\t"), lambda t: t.replace("    <User>", "    <!-- c -->\n    <User>"),
    lambda t: t.replace("<Account>", "<Account x=\"1\">"), lambda t: t.replace("<Type>IMAP</Type>", "<Type/>"),
    lambda t: t.replace("<Type>IMAP</Type>", "<Type></Type>"),
    lambda t: t.replace("        <UsePOPAuth>on</UsePOPAuth>\n", ""),
    lambda t: t.replace("        <SMTPLast>off</SMTPLast>\n", ""),
    lambda t: t.replace("        <LoginName>anna</LoginName>\n", "", 1),
    lambda t: t.replace("        <SPA>off</SPA>\n", "", 1),
    lambda t: t.replace("        <SPA>off</SPA>\n", "        <SPA>off</SPA>\n        <SPA>off</SPA>\n", 1),
    lambda t: t.replace("        <SPA>off</SPA>\n        <SSL>on</SSL>\n", "        <SSL>on</SSL>\n        <SPA>off</SPA>\n", 1),
    lambda t: t.replace("<SPA>off</SPA>", "<SPA>off</SPA><Password>x</Password>", 1),
    lambda t: t.replace("</Protocol>\n", "</Protocol>\n      <Protocol>\n      </Protocol>\n", 1),
    lambda t: t.replace("      <Protocol>", "      <Protocol>\n        <Type>SMTP</Type>", 1),
    lambda t: t[:t.index("      <Protocol>")] + t[t.index("    </Account>"):],
    lambda t: t.replace("<AccountType>email</AccountType>", "<AccountType>EMAIL</AccountType>"),
    lambda t: t.replace("<Action>settings</Action>", "<Action>redirectUrl</Action>"),
    lambda t: t.replace("<Response xmlns=\"http", "<Response xmlns=\"https"),
    lambda t: t.replace("<Autodiscover xmlns=", "<a:Autodiscover xmlns:a=").replace("</Autodiscover>", "</a:Autodiscover>"),
    lambda t: t.replace('encoding="utf-8"', "encoding='utf-8'"),
    lambda t: t.replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n", "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                        "<!DOCTYPE x [<!ENTITY e \"x\">]>\n"),
    lambda t: t.replace("<DisplayName>", "<DisplayName>\xff").encode("latin-1", "replace").decode("latin-1"),
], ids=lambda change: "")
def test_other_answers_read_as_libxml2_reads_them(answers, monkeypatch, change):
    for answer in answers:
        text = change(answer)
        with_quick, without, _ = _both(monkeypatch, text.encode("utf-8"))
        assert with_quick == without, text
    # Bytes that are not UTF-8, or an encoded surrogate, are libxml2's to refuse.
    for broken in (b"\xff", b"\xed\xa0\x80", b"\xc0\xa0"):
        content = answers[0].encode("utf-8").replace(b"Anna Muster", b"Anna" + broken)
        with_quick, without, quick = _both(monkeypatch, content)
        assert with_quick == without and not quick and with_quick[0] == "refused"


REG_HEAD = ("Windows Registry Editor Version 5.00\r\n\r\n"
            "[HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook\\AutoDiscover]\r\n"
            "\"PreferLocalXML\"=dword:00000001\r\n")
REG_PLAIN = ["example.com", "C:\\\\ProgramData\\\\Autodiscover\\\\anna@example.com\\\\autodiscover.xml", "a\\\"b", "",
             "Ünïcödé ß", "a=b", "[x]", "a\\\\\\\"b"]
REG_OTHER = ["a\\b", "a\"b", "a\\", "PreferLocalXML", "preferlocalxml", "PREFERLOCALXML", "a\rb", "a\nb", "a\r\nb",
             "a\x00b"]


def _reg_outcome(content: bytes) -> Any:
    try:
        return ("read", repr(verify_reg.read.__wrapped__(content)))
    except ReadBackError as exc:
        return ("refused", str(exc))


def _reg_both(monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[Any, Any, bool]:
    content = b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass")
    taken = []
    original = verify_reg._quick_read

    def counted(text: str) -> Any:
        found = original(text)
        taken.append(found is not None)
        return found

    with monkeypatch.context() as patched:
        patched.setattr(verify_reg, "_quick_read", counted)
        with_quick = _reg_outcome(content)
        patched.setattr(verify_reg, "_quick_read", lambda text: None)
        without = _reg_outcome(content)
    return with_quick, without, any(taken)


def test_the_reg_files_plain_values_take_the_one_pass_reader_and_read_as_line_by_line(monkeypatch):
    for name in REG_PLAIN + REG_OTHER:
        for data in REG_PLAIN + REG_OTHER:
            with_quick, without, quick = _reg_both(monkeypatch, f'{REG_HEAD}"{name}"="{data}"\r\n\r\n')
            assert with_quick == without, (name, data)
            if name in REG_PLAIN and data in REG_PLAIN:
                assert quick and with_quick[0] == "read", (name, data)
    assert verify_reg.read(f'\ufeff{REG_HEAD}"a\\\\b\\"c"="C:\\\\x"\r\n\r\n'.encode("utf-16-le")) == {
        "hkey_current_user\\software\\microsoft\\office\\16.0\\outlook\\autodiscover": {
            "preferlocalxml": ("PreferLocalXML", 1), "a\\b\"c": ("a\\b\"c", "C:\\x")}}


@pytest.mark.parametrize("change", [
    lambda t: t, lambda t: t.replace("\r\n", "\n"), lambda t: t.replace("\r\n", "\r"), lambda t: t[:-2],
    lambda t: t + "\r\n", lambda t: t.replace("00000001", "00000000"), lambda t: t.replace("dword", "DWORD"),
    lambda t: t.replace("[HKEY_CURRENT_USER", "[hkey_current_user"), lambda t: t.replace("\"=\"", "\"=dword:00000001\"x"),
    lambda t: t.replace('"example.com"="x"', '"example.com"=dword:0000000a'),
    lambda t: t.replace("\r\n\r\n[", "\r\n\r\n[HKEY_LOCAL_MACHINE\\X]\r\n[", 1),
    lambda t: t.replace('"x"\r\n', '"x"\r\n"other"="y"\r\n'), lambda t: t.replace('"x"\r\n', '"x"\r\n"example.com"="y"\r\n'),
    lambda t: t.replace('"PreferLocalXML"', '"preferlocalxml"'), lambda t: t.replace('"example.com"="x"', '"example.com" = "x"'),
    lambda t: t.replace("5.00", "4.00"), lambda t: "REGEDIT4" + t[t.index("\r\n"):], lambda t: t.replace("x", "\ud800"),
], ids=lambda change: "")
def test_other_reg_files_read_as_line_by_line(monkeypatch, change):
    with_quick, without, _ = _reg_both(monkeypatch, change(f'{REG_HEAD}"example.com"="x"\r\n\r\n'))
    assert with_quick == without
