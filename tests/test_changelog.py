"""The list of changes a run reports is held in bounded memory: beyond a few thousand it is read back from an
anonymous temporary file, in path order, with the same contents as the list would have had."""
from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import BASE

from generator import generate
from generator.output import changelog
from generator.output.changelog import ChangeLog
from generator.output.reconcile import CHANGED, CREATED, REMOVED, Change


def _changes(count: int) -> list[Change]:
    statuses = (CREATED, CHANGED, REMOVED)
    return [Change(f"user{i:03}@example.com/desktop/prefs.js", statuses[i % 3],
                   f"--- a\n+++ b\n+ \"ümlaut\" \\ {i}\r\n" if i % 5 == 0 else "") for i in range(count)]


def test_spooled_changes_read_back_in_order_with_their_diffs():
    wanted = _changes(50)
    log = ChangeLog(keep=7)
    log.extend(wanted)
    log.finish()
    assert list(log) == wanted and list(log) == wanted       # read twice: each reading starts at the beginning
    assert len(log) == 50 and log == wanted and log == tuple(wanted) and log != wanted[:-1]
    assert log[3] == wanted[3] and log[40] == wanted[40] and log[-1] == wanted[-1] and log[5:9] == wanted[5:9]
    assert (log.count_of(CREATED), log.count_of(CHANGED), log.count_of(REMOVED)) == (17, 17, 16)
    assert log._spool is not None and len(log._head) == 7   # most of it is in the file, not in memory
    log.close()


def test_a_change_out_of_order_is_sorted_when_the_log_is_finished():
    wanted = _changes(30)
    log = ChangeLog(keep=4)
    log.extend(wanted[10:] + wanted[:10])
    assert list(log.finish()) == wanted and len(log) == 30


def test_the_temporary_file_has_no_name(tmp_path, monkeypatch):
    """Nobody can open the spool by its name, in the output folder or anywhere: it is unlinked as it is made."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    log = ChangeLog(keep=1)
    log.extend(_changes(5))
    log.finish()
    assert log._spool is not None and os.fstat(log._spool.fileno()).st_nlink == 0
    assert list(tmp_path.iterdir()) == []


def _roster(folder: Path, users: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "inventory.yaml").write_text(BASE + "users_file: users.csv\n", encoding="utf-8")
    rows = "".join(f"user{i}@example.com,User {i},desktop;phone\n" for i in range(users))
    (folder / "users.csv").write_text("email,name,devices\n" + rows, encoding="utf-8")
    return folder


def test_a_run_reports_the_same_changes_spooled_or_not(tmp_path, monkeypatch):
    """A cold run, a run that changes and removes files, both with --diff: the spooled list (a handful kept in
    memory) is the in-memory one, in the same order, with the same diffs and counts."""
    inventory = _roster(tmp_path / "inv", 12)
    results = {}
    for keep in (changelog.KEEP, 3):
        monkeypatch.setattr(changelog, "KEEP", keep)
        out = tmp_path / f"out-{keep}"
        cold = generate(inventory, out, diff=True)
        (inventory / "users.csv").write_text("email,name,devices\n" + "".join(
            f"user{i}@example.com,Renamed {i},desktop\n" for i in range(0, 12, 2)), encoding="utf-8")
        second = generate(inventory, out, diff=True)
        results[keep] = (cold, second)
        (inventory / "users.csv").write_text("email,name,devices\n" + "".join(
            f"user{i}@example.com,User {i},desktop;phone\n" for i in range(12)), encoding="utf-8")
    (cold_memory, second_memory), (cold_spooled, second_spooled) = results[changelog.KEEP], results[3]
    assert isinstance(cold_spooled.changes, ChangeLog) and cold_spooled.changes._spool is not None
    for memory, spooled in ((cold_memory, cold_spooled), (second_memory, second_spooled)):
        assert list(spooled.changes) == list(memory.changes)
        paths = [c.path for c in spooled.changes]
        assert paths == sorted(paths)
        assert json.loads("".join(spooled.json_chunks(diffs=True))) == json.loads(
            "".join(memory.json_chunks(diffs=True)))
    assert {c.status for c in second_spooled.changes} == {CHANGED, REMOVED}
    removed = [c for c in second_spooled.changes if c.status == REMOVED]
    assert second_spooled.count(REMOVED) == len(removed) > 6 and second_spooled.count(CHANGED) > 0
    assert all(c.diff.startswith("# ") or c.diff.startswith("--- ") for c in second_spooled.changes)
