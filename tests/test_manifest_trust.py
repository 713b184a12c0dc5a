"""State found in OUT is never trusted: the manifest describes the files as they are, whatever the old one said."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import BASE

from generator import generate
from generator.output.manifest import manifest_chunks

USERS = "users:\n  - {email: a@example.com, devices: [desktop, laptop]}\n  - {email: b@example.com, devices: [desktop]}\n"
TARGET = "a@example.com/laptop/prefs.js"


def _age_index(out: Path) -> None:
    """Let time pass since the run, so that the index is trusted to skip files (see tests/test_incremental.py)."""
    index = out / ".mailprofiles" / "index"
    later = index.stat().st_mtime + 5
    os.utime(index, (later, later))


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _write_manifest(out: Path, data: dict) -> None:
    """In the layout mailprofiles writes (one entry a line), as an editor would leave it after changing a line."""
    (out / "manifest.json").write_bytes(b"".join(manifest_chunks(data["artifacts"], data["warnings"])))


def _files(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and ".mailprofiles" not in p.parts and p.name != "manifest.json"}


def _describes_the_disk(out: Path, reference: dict, extra: tuple[str, ...] = ()) -> None:
    """Every entry's sha256 is the file's, recomputed here; the entries are those of a clean run."""
    manifest = _manifest(out)
    on_disk = _files(out)
    for name in extra:
        on_disk.pop(name)
    assert {e["path"]: e["sha256"] for e in manifest["artifacts"]} == on_disk
    assert manifest["artifacts"] == reference["artifacts"]


@pytest.fixture
def site(write_inventory, tmp_path):
    folder = write_inventory(BASE + USERS)
    out = tmp_path / "out"
    generate(folder, out)
    reference = _manifest(out)
    _age_index(out)
    return folder, out, reference


def _edit_entry(out: Path, change) -> None:
    data = _manifest(out)
    for entry in data["artifacts"]:
        if entry["path"] == TARGET:
            change(entry)
    _write_manifest(out, data)


@pytest.mark.parametrize("change", [
    lambda e: e.update(user="b@example.com"),
    lambda e: e.update(sha256="0" * 64),
    lambda e: e.update(kind="user"),
    lambda e: e.update(client="outlook", device="desktop", profile="phone"),
    lambda e: e.update(signed=True),
], ids=["other-user", "zero-hash", "wrong-kind", "other-template", "signed"])
def test_a_hand_edited_entry_of_an_up_to_date_file_is_rewritten_from_our_own_state(site, change):
    folder, out, reference = site
    _edit_entry(out, change)
    before = _files(out)
    result = generate(folder, out)
    assert not result.changes and result.manifest_changed
    assert _files(out) == before
    _describes_the_disk(out, reference)
    assert [a.to_json() for a in result.artifacts] == reference["artifacts"]


def test_a_missing_entry_comes_back(site):
    folder, out, reference = site
    data = _manifest(out)
    data["artifacts"] = [e for e in data["artifacts"] if e["path"] != TARGET]
    _write_manifest(out, data)
    generate(folder, out)
    _describes_the_disk(out, reference)


def test_an_extra_entry_for_a_file_we_never_wrote_deletes_nothing(site, write_inventory):
    folder, out, reference = site
    notes = out / "a@example.com" / "notes.txt"
    notes.write_text("the admin's", encoding="utf-8")
    data = _manifest(out)
    data["artifacts"].append({"kind": "device", "user": "a@example.com", "device": "notes", "path":
                              "a@example.com/notes.txt", "sha256": hashlib.sha256(b"the admin's").hexdigest()})
    data["artifacts"].sort(key=lambda e: e["path"])
    _write_manifest(out, data)
    result = generate(folder, out)
    assert notes.read_text(encoding="utf-8") == "the admin's" and not result.changes
    assert any("a@example.com/notes.txt" in a and "no record of writing it" in a for a in result.alerts)
    _describes_the_disk(out, reference, extra=("a@example.com/notes.txt",))
    # When a's laptop goes, only what we wrote there goes with it.
    write_inventory(BASE + USERS.replace("[desktop, laptop]", "[desktop]"))
    result = generate(folder, out)
    assert {c.path for c in result.changes if c.status == "removed"} == {
        p for p in _paths(reference) if p.startswith("a@example.com/laptop/")}
    assert notes.read_text(encoding="utf-8") == "the admin's"
    assert "a@example.com/notes.txt" not in (out / "manifest.json").read_text(encoding="utf-8")


def _paths(manifest: dict) -> set[str]:
    return {e["path"] for e in manifest["artifacts"]}


def _index(out: Path) -> list[bytes]:
    return (out / ".mailprofiles" / "index").read_bytes().splitlines(keepends=True)


def _edit_index(out: Path, path: str, change) -> None:
    lines = _index(out)
    for number, line in enumerate(lines[1:], 1):
        entry = json.loads(line)
        if entry["path"] == path:
            change(entry)
            lines[number] = json.dumps(entry).encode() + b"\n"
    index = out / ".mailprofiles" / "index"
    stamp = index.stat()
    index.write_bytes(b"".join(lines))
    os.utime(index, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_file_tampered_with_and_state_planted_to_match_is_rewritten(site):
    """Same size, same time, and both the manifest and the index edited to claim the new bytes."""
    folder, out, reference = site
    target = out / TARGET
    original = target.read_bytes()
    stamp = target.stat()
    tampered = original.replace(b"imap.example.com", b"imap.exampl3.com")
    assert tampered != original and len(tampered) == len(original)
    target.write_bytes(tampered)
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    sha = hashlib.sha256(tampered).hexdigest()
    _edit_entry(out, lambda e: e.update(sha256=sha))
    _edit_index(out, TARGET, lambda e: e.update(sha256=sha))
    result = generate(folder, out)
    assert target.read_bytes() == original
    assert [(c.path, c.status) for c in result.changes] == [(TARGET, "changed")]
    _describes_the_disk(out, reference)


def test_a_hand_edited_index_line_is_not_trusted(site):
    folder, out, reference = site
    _edit_index(out, TARGET, lambda e: e.update(sha256="0" * 64))
    result = generate(folder, out)
    assert not result.changes
    assert any("index" in a and "compared by their bytes" in a for a in result.alerts)
    _describes_the_disk(out, reference)
    again = generate(folder, out)              # the index is ours again: nothing more to say
    assert not again.changes and not any("index" in a for a in again.alerts)


def test_an_index_line_for_a_file_we_never_wrote_deletes_nothing(site):
    folder, out, reference = site
    notes = out / "b@example.com" / "notes.txt"
    notes.write_text("the admin's", encoding="utf-8")
    lines = _index(out)
    template = json.loads(lines[-1])
    template.update(path="b@example.com/notes.txt", sha256=hashlib.sha256(b"the admin's").hexdigest(),
                    size=notes.stat().st_size, mtime_ns=notes.stat().st_mtime_ns)
    entries = sorted([*lines[1:], json.dumps(template).encode() + b"\n"], key=lambda raw: json.loads(raw)["path"])
    (out / ".mailprofiles" / "index").write_bytes(lines[0] + b"".join(entries))
    result = generate(folder, out)
    assert notes.read_text(encoding="utf-8") == "the admin's"
    assert not [c for c in result.changes if c.status == "removed"]
    _describes_the_disk(out, reference, extra=("b@example.com/notes.txt",))


def test_fresh_and_rerun_manifests_are_the_same_bytes(site, tmp_path):
    folder, out, _ = site
    generate(folder, out)
    fresh = tmp_path / "fresh"
    generate(folder, fresh)
    assert (out / "manifest.json").read_bytes() == (fresh / "manifest.json").read_bytes()
