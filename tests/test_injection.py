"""Property tests: no value can break out of its place in any generated file.

Each generated value goes through the whole path (YAML inventory → validation → renderers) and the
artifacts are read back with the independent readers: either the value was refused with a clean
error naming its field, or each file holds exactly the input value where it belongs and nothing else
changed: no extra key, pref, section or plist entry.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from conftest import examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from readers import read_autodiscover, read_plist, read_prefs, read_prf, read_reg_values

from generator import InventoryError, load_inventory
from generator.formats.registry import of_client
from generator.textrules import text_problem

PIECES = ['"', "\\", "&", "<", ">", ";", "=", "[", "]", "\r", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\x85",
          "\u2028", "\u2029", "\u202e", "\u200f", "\u0301", "\ufeff", "مرحبا", "שלום", "</string>", "<key>",
          "user_pref(\"x\", 1);", "\");", "[Account1]", "\nAccountName=x", "\t", " ", "'", "%", "\u00fc",
          "🚀", "\U0001F468\u200D\U0001F469", "]]>", "<!--", "&amp;", "\\u0041", "x" * 300]
VALUES = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.lists(st.sampled_from(PIECES + ["a", "b", "Anna", " Muster"]), min_size=1, max_size=8).map("".join),
)


def _inventory(name: str = "Anna Muster", org: str = "Example GmbH", login: str = "anna") -> str:
    data = {
        "organization": {"name": org, "identifier": "com.example"},
        "servers": {"imap": {"host": "imap.example.com"}, "pop3": {"host": "pop.example.com"},
                    "smtp": {"host": "smtp.example.com"}},
        "users": [{"email": "anna@example.com", "name": name, "login": login, "devices": ["desktop", "laptop"]}],
    }
    return yaml.safe_dump(data, allow_unicode=True, width=10_000)


def _artifacts(text: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inventory.yaml"
        path.write_text(text, encoding="utf-8")
        inventory = load_inventory(path)
    out = {}
    for device in inventory.devices:
        for client in device.clients:
            for module in of_client(client):
                if any(f.code in module.skips for f in module.limitations(inventory.organization, device)):
                    continue
                out[(device.name, module.name)] = module.render(inventory.site, device)
    return out


def _shape(client: str, data: bytes):
    """The set of keys of an artifact: what an injection would change."""
    if client == "thunderbird":
        return sorted(read_prefs(data))
    if client == "apple":
        plist = read_plist(data)
        return sorted(plist), sorted(plist["PayloadContent"][0]), len(plist["PayloadContent"])
    if client == "outlook-autodiscover":
        answer = read_autodiscover(data)
        return sorted(answer["user"]), [list(protocol) for protocol in answer["protocols"]]
    if client == "outlook-autodiscover-reg":
        return {key: sorted(values) for key, values in read_reg_values(data).items()}
    return {section: sorted(keys) for section, keys in read_prf(data).items()}


_BASE_ARTIFACTS = _artifacts(_inventory())
BASELINE = {key: _shape(key[1], data) for key, data in _BASE_ARTIFACTS.items()}


def _values(client: str, data: bytes) -> list:
    if client == "thunderbird":
        return list(read_prefs(data).values())
    if client == "apple":
        plist = read_plist(data)
        return list(plist.values()) + list(plist["PayloadContent"][0].values())
    if client == "outlook-autodiscover":
        answer = read_autodiscover(data)
        return list(answer["user"].values()) + [v for protocol in answer["protocols"] for v in protocol.values()]
    if client == "outlook-autodiscover-reg":
        return [v for values in read_reg_values(data).values() for v in values.values()]
    return [v for keys in read_prf(data).values() for v in keys.values()]


def _check(field: str, value: str, text: str, where: dict) -> None:
    # The value as the inventory states it (YAML folds line breaks such as NEL inside scalars).
    data = yaml.safe_load(text)
    value = data["organization"]["name"] if field == "organization.name" else data["users"][0][field.split(".")[1]]
    if value in ("Anna Muster", "Example GmbH", "anna"):
        return   # the baseline's own value: nothing to tell apart
    try:
        artifacts = _artifacts(text)
    except InventoryError as exc:
        assert exc.diagnostics, "a rejection names its problem"
        for diagnostic in exc.diagnostics:
            assert diagnostic.location is not None and diagnostic.location.line >= 1
        assert any(d.field == field or d.field == "" for d in exc.diagnostics), [d.format() for d in exc.diagnostics]
        return
    assert text_problem(value) is None, "a value breaking the text rules must be refused"
    for key, data in artifacts.items():
        client = key[1]
        assert _shape(client, data) == BASELINE[key], f"{client}: the file's keys changed"
        found = _values(client, data)
        before = _values(client, _BASE_ARTIFACTS[key]).count(value)
        assert found.count(value) - before == where[client], (client, value)


SETTINGS = settings(max_examples=examples(150), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(VALUES)
@example('Bob "The Builder" \\ O\'Neill <b>&amp;; x=y')
@example("Anna\nuser_pref(\"mail.evil\", 1);")
@example("[Account1]\r\nAccountName=evil")
@example("</string><key>IncomingPassword</key><string>x")
@example("Anna]]></DisplayName><LoginName>x")
def test_user_name(value):
    # the name is the identity name (Thunderbird), EmailAccountName (Apple), DisplayName (Outlook)
    _check("users[0].name", value, _inventory(name=value), {"thunderbird": 1, "apple": 1, "outlook": 1,
                                                             "outlook-autodiscover": 1, "outlook-autodiscover-reg": 0})


@SETTINGS
@given(VALUES)
@example('Müller & Söhne "GmbH" \\ Test')
def test_organization_name(value):
    # organization (identity) and SMTP description in prefs.js; PayloadOrganization; Organization in the PRF
    _check("organization.name", value, _inventory(org=value), {"thunderbird": 2, "apple": 1, "outlook": 1,
                                                                "outlook-autodiscover": 0, "outlook-autodiscover-reg": 0})


@SETTINGS
@given(VALUES)
@example("EXAMPLE\\anna")
@example('a"b')
@example("anna</LoginName><SPA>on</SPA><LoginName>x")
def test_login(value):
    # userName + SMTP username; incoming + outgoing username; POP3/IMAP user name; LoginName of both protocols
    _check("users[0].login", value, _inventory(login=value), {"thunderbird": 2, "apple": 2, "outlook": 1,
                                                              "outlook-autodiscover": 2, "outlook-autodiscover-reg": 0})


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_js_literal_round_trips_every_string(value):
    import json as _json

    from generator.formats.render.thunderbird import js_literal

    literal = js_literal(value)
    assert "\n" not in literal and "\r" not in literal and "\u2028" not in literal and "\u2029" not in literal
    assert _json.loads(literal) == value
    # and the pref line reader sees exactly one pref with exactly this value
    line = f'user_pref("x", {literal});\n'.encode()
    assert read_prefs(line) == {"x": value}


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(VALUES)
def test_ini_value_is_refused_or_reads_back(value):
    import pytest as _pytest

    from generator.errors import UnrepresentableValue
    from generator.formats.render.outlook import ini_value

    if text_problem(value) is not None:
        with _pytest.raises(UnrepresentableValue):
            ini_value(value)
        return
    line = f"[S]\r\nKey={ini_value(value)}\r\n"
    data = line.encode("ascii") if line.isascii() else b"\xff\xfe" + line.encode("utf-16-le")
    assert read_prf(data) == {"s": {"key": value}}


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(VALUES)
def test_reg_string_is_refused_or_reads_back(value):
    """The .reg filter: a quoted name or text that Registry Editor reads back as exactly the value, or a refusal."""
    import pytest as _pytest

    from generator.errors import UnrepresentableValue
    from generator.formats.render.autodiscover_reg import reg_string

    if text_problem(value) is not None:
        with _pytest.raises(UnrepresentableValue):
            reg_string(value)
        return
    text = f"Windows Registry Editor Version 5.00\r\n\r\n[K]\r\n{reg_string(value)}={reg_string(value)}\r\n\r\n"
    assert read_reg_values(b"\xff\xfe" + text.encode("utf-16-le")) == {"K": {value: value}}
