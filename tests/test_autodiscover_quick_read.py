"""The Autodiscover verifier's one-pass reader of an answer in its plain form reads what libxml2 reads.

Each case is one answer, read once as the verifier reads it and once with the one-pass reader turned off (libxml2
alone): the values read, or the error raised, must be the same. The plain values (words of characters that need no
escape, XML's predefined escapes, non-ASCII letters) must take the one-pass reader; the rest may not.
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
