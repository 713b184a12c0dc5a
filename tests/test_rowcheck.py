"""The roster's row check answers exactly as the full JSON Schema validator, for any row."""
from __future__ import annotations

from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.inventory.schema import RowCheck, validator

CHECK = RowCheck()          # one instance for every example: its remembered answers are part of what is tested

text = st.one_of(st.sampled_from(["", "a", "ab", "a@b.c", "desktop", "laptop", "phone", "sales", "x" * 201,
                                  "x" * 255, "en", "de", "xx", "starttls", "ssl", "none"]), st.text(max_size=8))
scalar = st.one_of(text, st.integers(-2, 70000), st.floats(allow_nan=False), st.booleans(), st.none(),
                   st.just(993.0), st.just(587))
device = st.one_of(text, st.dictionaries(st.sampled_from(["name", "profile", "clients", "settings", "servers", "x"]),
                                         st.one_of(scalar, st.lists(text, max_size=3),
                                                   st.dictionaries(text, scalar, max_size=2)), max_size=4))
servers = st.dictionaries(st.sampled_from(["imap", "pop3", "smtp", "ftp"]),
                          st.dictionaries(st.sampled_from(["host", "port", "security", "auth", "allow_insecure"]),
                                          scalar, max_size=4), max_size=2)
values = {
    "email": st.one_of(text, scalar), "name": st.one_of(text, scalar), "login": st.one_of(text, scalar),
    "language": st.one_of(text, scalar), "groups": st.one_of(st.lists(text, max_size=3), scalar),
    "devices": st.one_of(st.lists(device, max_size=3), scalar), "servers": st.one_of(servers, scalar),
    "settings": st.one_of(st.dictionaries(st.sampled_from(["protocol", "bcc_self", "clients", "nonsense"]), scalar,
                                          max_size=2), scalar),
    "unknown": scalar,
}
row = st.fixed_dictionaries({}, optional=values)


@settings(max_examples=examples(1500), deadline=None)
@given(row)
def test_row_check_agrees_with_the_schema(data):
    expected = not any(True for _ in validator("user").iter_errors(data))
    assert CHECK.valid(data) == expected
    assert CHECK.valid(data) == expected      # the remembered answer too


def test_typical_rows_are_valid_and_remembered():
    check = RowCheck()
    for i in range(50):
        assert check.valid({"email": f"u{i}@example.com", "name": f"U {i}", "groups": ["sales"],
                            "devices": ["desktop", "laptop", "phone"]})
    assert len(check.remembered) == 2        # groups and devices: checked once each
    assert not check.valid({"email": "u@example.com", "devices": []})
    assert not check.valid({"email": "u@example.com", "devices": ["desktop"], "colour": "red"})
