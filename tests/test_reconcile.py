"""The output stage's reconciler: its decisions from values alone, with no output folder at all."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from generator.formats.registry import named
from generator.output.index import Index
from generator.output.manifest import ArtifactRecord
from generator.output.reconcile import (
    CHANGED,
    CREATED,
    UNCHANGED,
    UNSAFE,
    Carry,
    Claim,
    Merge,
    Retire,
    Scope,
    Seen,
    claim,
    classify,
    expected,
    fresh_folder,
    stale,
    unchanged_entry,
    unchanged_record,
    up_to_date,
)
from generator.plan.planner import Item, Unit

UID, INDEX_NS = 1000, 2_000
INDEX = Index(None)          # no state folder: a fresh key, nothing read


def _record(path: str, kind: str = "device", inputs: str | None = "fp", **names: str) -> ArtifactRecord:
    user = path.split("/")[0] if "@" in path else None
    return ArtifactRecord(kind, path, "", user=user, inputs=inputs, **names)


def _line(record: ArtifactRecord, content: bytes = b"x", mtime_ns: int = 1_000) -> tuple[dict, bytes]:
    """A run-index line as an earlier run wrote it for ``content``."""
    written = dataclasses.replace(record, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                                  mtime_ns=mtime_ns)
    assert written.size is not None and written.mtime_ns is not None
    raw = INDEX.line_of(written.entry_text().encode(), written.inputs, written.size, written.mtime_ns)
    return json.loads(raw), raw


def _item(record: ArtifactRecord) -> Item:
    return Item(named("thunderbird"), None, record, record.path)


def test_merge_cuts_the_index_and_the_old_manifest_along_the_units():
    paths = ["a@example.com/desktop/prefs.js", "b@example.com/desktop/prefs.js", "c@example.com/phone/prefs.js",
             "domains/example.com.txt", "z@example.com/desktop/prefs.js"]
    lines = [_line(_record(p)) for p in paths]
    units = [Unit("a@example.com/"), Unit("c@example.com/"), Unit("domains/example.com.txt")]
    merge = Merge(lines, [lines[1], lines[3], lines[4]])
    first, second, third = (merge.cut(position, unit) for position, unit in enumerate(units))
    assert (list(first.inside), first.before, first.claims) == ([paths[0]], [], [])
    assert (second.before, list(second.inside), second.claims) == ([lines[1]], [paths[2]], [lines[1]])
    assert (list(third.inside), third.claims) == ([paths[3]], [lines[3]])
    assert list(merge.rest()) == [lines[4]]
    assert list(merge.rest_claims({paths[4]})) == []
    assert fresh_folder(units[0]) == "a@example.com" and fresh_folder(units[2]) is None


def test_a_unit_is_up_to_date_only_when_the_index_and_the_disk_both_say_so():
    records = [_record("a@example.com/desktop/prefs.js"), _record("a@example.com/desktop/outlook.prf")]
    items = [_item(r) for r in records]
    inside = {r.path: _line(r) for r in records}
    lines = expected(items, inside)
    assert lines is not None
    as_written = {r.path: Seen(True, UID, 1, 1_000) for r in records}
    assert up_to_date(lines, as_written, UID, INDEX_NS)
    for path, other in [(records[0].path, Seen(False, UID, 1, 1_000)),     # not a regular file
                        (records[0].path, Seen(True, 0, 1, 1_000)),        # not ours
                        (records[1].path, Seen(True, UID, 2, 1_000)),      # another size
                        (records[1].path, Seen(True, UID, 1, INDEX_NS)),   # as recent as the index
                        (records[1].path, None)]:                          # gone
        assert not up_to_date(lines, {**as_written, path: other}, UID, INDEX_NS)
    # new inputs, a file the index does not list, or no fingerprint at all: rendered without looking at the disk
    assert expected([_item(dataclasses.replace(records[0], inputs="other")), items[1]], inside) is None
    assert expected(items, {records[0].path: inside[records[0].path]}) is None
    assert expected([_item(dataclasses.replace(records[0], inputs=None))], inside) is None
    assert expected([], {}) is None


def test_an_up_to_date_file_keeps_the_hash_the_index_recorded():
    record = _record("a@example.com/desktop/prefs.js", device="desktop", client="thunderbird")
    line = _line(record, b"on disk")
    entry = unchanged_entry(_item(record), line)
    assert json.loads(entry) == {**record.to_json(), "sha256": hashlib.sha256(b"on disk").hexdigest()}
    assert unchanged_record(_item(record), line).size == len(b"on disk")
    # a plan entry that says more than the line: made from the plan, never from the line's text
    assert unchanged_entry(_item(dataclasses.replace(record, protocol="imap")), line)["protocol"] == "imap"


def test_a_rendered_file_is_classified_by_its_bytes():
    ours = hashlib.sha256(b"old").hexdigest()
    assert classify(b"new", b"new", ours) == (UNCHANGED, False)
    assert classify(None, b"new", None) == (CREATED, False)
    assert classify(b"old", b"new", ours) == (CHANGED, False)
    assert classify(b"edited", b"new", ours) == (CHANGED, True)       # changed by someone else since our run
    assert classify(b"edited", b"new", None) == (CHANGED, False)      # never ours: nothing to say


def test_stale_files_are_retired_in_scope_and_carried_outside_it():
    scope = Scope(frozenset({"device", "user"}), frozenset({"device", "user", "fleet"}))
    device = _line(_record("a@example.com/desktop/prefs.js"))
    fleet = _line(_record("fleet/sales/laptop/mail.mobileconfig", "fleet", group="sales"))
    gone = _line(_record("rosters/example.com.txt", "roster"))        # a kind no format makes any more
    assert stale(device, scope) == Retire(device[0]["path"], device[0]["sha256"], device[0])
    assert stale(gone, scope) == Retire(gone[0]["path"], gone[0]["sha256"], gone[0])
    carried = stale(fleet, scope)
    assert isinstance(carried, Carry) and carried.line == fleet[1]
    assert "size" not in carried.entry and "inputs" not in carried.entry and carried.entry["group"] == "sales"
    assert stale(({**device[0], "path": "../outside"}, device[1]), scope) is None
    # --limit: a file of a user it does not select is carried, like one of another command's kind
    limited = dataclasses.replace(scope, patterns=("@g",), groups={"a@example.com": ("g",)})
    assert isinstance(stale(device, limited), Retire)
    assert isinstance(stale(_line(_record("b@example.com/desktop/prefs.js")), limited), Carry)
    assert isinstance(stale(gone, limited), Carry)                     # no user: --limit leaves it alone


def test_old_manifest_entries_the_index_does_not_list_are_only_claims():
    scope = Scope(frozenset({"fleet"}), frozenset({"device", "fleet"}))
    entry = _line(_record("fleet/sales/laptop/mail.mobileconfig", "fleet"))
    assert claim(entry, scope) == Claim(entry[0]["path"], entry[0]["sha256"])
    assert claim(_line(_record("a@example.com/desktop/prefs.js")), scope) is None
    assert claim(({**entry[0], "path": "/etc/passwd"}, entry[1]), scope) == UNSAFE


def test_a_line_made_from_the_manifest_entry_is_the_entry_with_the_index_fields_and_its_check():
    """The executor makes a file's index line from its manifest entry's JSON (made once for both): the entry's fields
    in its order, then ``inputs`` (when there is one), ``size``, ``mtime_ns`` and the keyed ``check`` of the line
    before it, as one JSON object, with and without inputs, signed or not, with text that JSON escapes; the index
    reads it back (the entry, the fields and the check), and a line changed anywhere, or under another key, is not
    trusted."""
    records = [_record("a@example.com/desktop/prefs.js", device="desktop", profile="desktop", client="thunderbird",
                       protocol="pop3"),
               _record("domains/ex\u00e4mple.com.xml", kind="domain", inputs=None, domain='ex\u00e4"mple\\.com'),
               dataclasses.replace(_record("b@example.com/phone/mail.mobileconfig", inputs="fp \u2028\n"), signed=True)]
    other = Index(None)
    for record in records:
        written = record.made(hashlib.sha256(b"x").hexdigest(), record.signed).written(12_345, 1_796_212_392_518_701_105)
        entry = json.dumps(written.to_json(), ensure_ascii=False).encode()
        assert entry == written.entry_text().encode()
        assert written.size is not None and written.mtime_ns is not None
        line = INDEX.line_of(entry, written.inputs, written.size, written.mtime_ns)
        fields = {**written.to_json(), **({"inputs": written.inputs} if written.inputs is not None else {}),
                  "size": written.size, "mtime_ns": written.mtime_ns}
        body = json.dumps(fields, ensure_ascii=False).encode()
        check = hashlib.blake2b(body, key=INDEX.key, digest_size=16).hexdigest()
        assert line == json.dumps({**fields, "check": check}, ensure_ascii=False).encode()
        assert Index.manifest_entry(line) == entry
        assert INDEX._valid(json.loads(line), line)
        assert not other._valid(json.loads(line), line)
        edited = line.replace(b"12345", b"12346")
        assert not INDEX._valid(json.loads(edited), edited)


def test_a_record_made_field_by_field_and_pickled_is_the_same_record():
    """``made``, ``written`` and the record's pickled form (a worker sends one per file) keep every field."""
    import pickle

    record = ArtifactRecord("device", "a@example.com/phone/mail.mobileconfig", "", user="a@example.com", device="phone",
                            profile="phone", client="apple", protocol="imap", domain="d", group="g", inputs="fp")
    made = record.made("ab" * 32, True)
    assert made == dataclasses.replace(record, sha256="ab" * 32, signed=True)
    assert made.written(7, 9) == dataclasses.replace(made, size=7, mtime_ns=9)
    assert made.written(7, 9).written(8, 10) == dataclasses.replace(made, size=8, mtime_ns=10)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(made.written(7, 9), protocol)) == made.written(7, 9)


def test_a_manifest_entry_as_text_is_its_json():
    """``entry_text`` (made field by field for every file) is the text of ``to_json``'s dict, whatever fields apply and
    whatever the text holds; a change's ``text`` is its ``to_json``'s."""
    from generator.jsontext import dumps
    from generator.output.reconcile import Change

    odd = 'a"b\\c\u00e4\u2028\n\t\x00\ud800'
    records = [ArtifactRecord("device", "a@example.com/desktop/prefs.js", "ab" * 32, user="a@example.com",
                              device="desktop", profile="desktop", client="thunderbird", protocol="pop3"),
               ArtifactRecord("domain", f"domains/{odd}.xml", "", domain=odd, signed=True),
               ArtifactRecord("group", "groups/x.html", "cd" * 32, group=odd, user=odd, signed=False),
               ArtifactRecord(odd, odd, odd, user=odd, device=odd, profile=odd, client=odd, protocol=odd, domain=odd,
                              group=odd, signed=True, inputs=odd, size=1, mtime_ns=2)]
    for record in records:
        assert record.entry_text() == dumps(record.to_json()) == json.dumps(record.to_json(), ensure_ascii=False)
    for change in (Change("a/b", "created"), Change(odd, odd, "diff")):
        assert change.text() == json.dumps(change.to_json(), ensure_ascii=False)
