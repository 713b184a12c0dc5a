"""Nothing lost: a run killed at any moment leaves a complete, consistent output."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BASE, INSTALLED, ROOT, run_cli

from generator import InventoryError, OutputError, generate
from generator.errors import PartialOutput

USERS = 200      # the kill test: enough files that its kill points land in every phase of a run
FEW = 20         # the other tests


def _write(folder: Path, smtp: str, users: int = USERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(BASE.replace("smtp.example.com", smtp) + "users_file: users.csv\n")
    rows = "".join(f"user{i}@example.com,User {i},,,desktop;laptop\n" for i in range(users))
    (folder / "users.csv").write_text("email,name,login,groups,devices\n" + rows)
    return folder


def _consistent(out: Path) -> dict:
    """The manifest's artifacts all exist with their hashes; returns path -> sha."""
    manifest = json.loads((out / "manifest.json").read_text())
    found = {}
    for entry in manifest["artifacts"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        found[entry["path"]] = entry["sha256"]
    return found


def _files(out: Path) -> dict:
    """What a user sees in OUT: every file but the run's own state folder."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and not p.relative_to(out).as_posix().startswith(".mailprofiles/")}


def _no_strays(out: Path) -> None:
    leftovers = [p.name for p in out.parent.iterdir() if "mailprofiles" in p.name]
    assert leftovers == [], leftovers
    assert not [p for p in out.rglob("*.tmp")]
    state = out / ".mailprofiles"
    left = sorted(p.name for p in state.iterdir()) if state.exists() else []
    assert left in ([], ["index"]), f"staging files or a journal were left behind: {left}"


@pytest.mark.parametrize("added", [0, 300], ids=["changed-files", "new-user-folders-by-workers"])
def test_kill_at_many_points_never_loses_output(tmp_path, added):
    """Changed files are moved in one by one; new user folders (staged by worker processes) whole."""
    old_inv = _write(tmp_path / "old", "smtp.example.com")
    new_inv = _write(tmp_path / "new", "smtp-new.example.com", USERS + added)
    base_out = tmp_path / "base" / "out"
    generate(old_inv, base_out)
    (base_out / "admin-notes.txt").write_text("not ours")
    old_files = _files(base_out)
    reference = tmp_path / "reference" / "out"
    shutil.copytree(base_out, reference)
    started = time.monotonic()
    generate(new_inv, reference)
    full = time.monotonic() - started
    new_files = _files(reference)
    assert new_files != old_files

    env = dict(os.environ)
    if not INSTALLED:
        env["PYTHONPATH"] = str(ROOT)
    outcomes = set()
    # Kill points spread over a whole run in a subprocess (start-up included), plus one after it ends.
    for attempt, fraction in enumerate((0.2, 0.4, 0.6, 0.75, 0.85, 0.95, 1.05, 1.3, 2.5)):
        out = tmp_path / f"run{attempt}" / "out"
        shutil.copytree(base_out, out)
        proc = subprocess.Popen([sys.executable, "-m", "generator", "generate", str(new_inv), "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
        time.sleep(fraction * (full + 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        journal = out / ".mailprofiles" / "journal.json"
        if journal.exists():
            outcome = "committed"       # past the commit point: the next run completes it
        elif _files(out) == new_files:
            outcome = "finished"
        else:
            outcome = "untouched"
            assert _files(out) == old_files, "a run killed before its commit point changed the output"
            _consistent(out)
        # The next run (here with the same new inventory) leaves a consistent output and no strays.
        result = generate(new_inv, out)
        assert _files(out) == new_files
        assert (out / "admin-notes.txt").read_text() == "not ours"
        _consistent(out)
        _no_strays(out)
        if outcome == "committed":
            assert result.notes == ("completed an interrupted run",)
        outcomes.add(outcome)
    assert "untouched" in outcomes and "finished" in outcomes, outcomes


def test_failed_run_leaves_previous_output_and_no_staging(tmp_path):
    inv = _write(tmp_path / "inv", "smtp.example.com", FEW)
    out = tmp_path / "out"
    generate(inv, out)
    before = _files(out)
    (inv / "users.csv").write_text((inv / "users.csv").read_text() + "broken,,,,desktop\n")
    try:
        generate(inv, out)
    except InventoryError:
        pass
    else:
        raise AssertionError("the broken roster was accepted")
    assert _files(out) == before
    _no_strays(out)


def test_interrupted_commit_is_completed_by_the_next_run(tmp_path, monkeypatch):
    """Simulate a kill right after the commit point: the journal is replayed by the next run."""
    from generator.output import writer

    inv = _write(tmp_path / "inv", "smtp.example.com", FEW)
    out = tmp_path / "out"
    generate(inv, out)
    inv2 = _write(tmp_path / "inv2", "smtp2.example.com", FEW)

    def die(outdir, state, journal, replay=True):
        raise SystemExit(9)  # as abrupt as a kill, right after the journal was flushed

    monkeypatch.setattr(writer, "apply_journal", die)
    with pytest.raises(SystemExit):
        generate(inv2, out)
    monkeypatch.undo()
    assert (out / ".mailprofiles" / "journal.json").exists()
    result = generate(inv2, out)
    assert result.notes == ("completed an interrupted run",)
    assert result.count("unchanged") == FEW * 11 + 2     # ten device files and a handout each, two domain files
    _consistent(out)
    _no_strays(out)


@contextlib.contextmanager
def _mounted(folder: Path, spare: Path, kind: str = "tmpfs") -> Iterator[None]:
    """A tmpfs (or a bind mount of a folder on OUT's own file system) mounted at ``folder`` (a folder of OUT),
    holding a copy of what was there; unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root (CI runs the tests as root)")
    shutil.copytree(folder, spare, copy_function=shutil.copy2)
    command = ["mount", "--bind", str(spare), str(folder)] if kind == "bind" else \
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(folder)]
    mount = subprocess.run(command, capture_output=True, text=True)
    if mount.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs as root: {mount.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        if kind != "bind":
            shutil.copytree(spare, folder, copy_function=shutil.copy2, dirs_exist_ok=True)
        yield
    finally:
        if subprocess.run(["umount", str(folder)]).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
def test_a_folder_of_out_on_another_file_system_is_refused_before_the_commit_point(tmp_path, kind):
    """A rename fails across mount points, a bind mount of OUT's own file system included."""
    old_inv = _write(tmp_path / "old", "smtp.example.com", 20)
    new_inv = _write(tmp_path / "new", "smtp-new.example.com", 20)
    out = tmp_path / "out"
    generate(old_inv, out)
    with _mounted(out / "autoconfig", tmp_path / "spare", kind):
        before = _files(out)
        for _attempt in range(2):        # the refusal leaves nothing that a later run trips over
            result = run_cli("generate", str(new_inv), "-o", str(out))
            assert result.returncode == 1, result.stderr
            assert f"{out / 'autoconfig'} is on another file system than {out / '.mailprofiles'}" in result.stderr
            assert "nothing was written: the output is intact" in result.stderr and "Traceback" not in result.stderr
            assert "partly updated" not in result.stderr
            assert _files(out) == before
            _consistent(out)
            _no_strays(out)
        # A run that moves nothing into the mounted folder is not refused.
        assert run_cli("generate", str(old_inv), "-o", str(out)).returncode == 0
    result = run_cli("generate", str(new_inv), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert b"smtp-new.example.com" in (out / "autoconfig/example.com/mail/config-v1.1.xml").read_bytes()
    _consistent(out)
    _no_strays(out)


def test_a_journal_whose_target_became_another_file_system_does_not_wedge_later_runs(tmp_path, monkeypatch):
    """Killed after the commit point; then OUT/autoconfig becomes a mount point before the rerun."""
    from generator.output import writer

    old_inv = _write(tmp_path / "old", "smtp.example.com", 20)
    new_inv = _write(tmp_path / "new", "smtp-new.example.com", 20)
    out = tmp_path / "out"
    generate(old_inv, out)
    reference = tmp_path / "reference"
    generate(new_inv, reference)
    monkeypatch.setattr(writer, "apply_journal", lambda *args, **kwargs: sys.exit(9))
    with pytest.raises(SystemExit):
        generate(new_inv, out)
    monkeypatch.undo()
    assert (out / ".mailprofiles" / "journal.json").exists()
    old_autoconfig = (out / "autoconfig/example.com/mail/config-v1.1.xml").read_bytes()

    with _mounted(out / "autoconfig", tmp_path / "spare"):
        with pytest.raises(PartialOutput) as replayed:
            generate(new_inv, out)
        assert f"{out / 'autoconfig'} is on another file system" in str(replayed.value)
        assert "1 new file(s) or folder(s) there were dropped" in str(replayed.value)
        assert not (out / ".mailprofiles" / "journal.json").exists()
        # Every other change of the journal is in; the manifest describes the disk (the old autoconfig file).
        on_disk = _files(out)
        assert on_disk["autoconfig/example.com/mail/config-v1.1.xml"] == old_autoconfig
        assert {p: b for p, b in on_disk.items() if not p.startswith(("autoconfig/", "manifest.json"))} == \
            {p: b for p, b in _files(reference).items() if not p.startswith(("autoconfig/", "manifest.json"))}
        _consistent(out)
        _no_strays(out)
        # The next runs are refused before their commit point, naming the folder, and change nothing.
        with pytest.raises(OutputError, match="nothing was written") as refused:
            generate(new_inv, out)
        assert not isinstance(refused.value, PartialOutput)
        assert _files(out) == on_disk
    result = generate(new_inv, out)
    assert not result.notes and [c.path for c in result.changes] == ["autoconfig/example.com/mail/config-v1.1.xml"]
    assert _files(out) == _files(reference)
    _consistent(out)
    _no_strays(out)
