"""Worker processes that die (the kernel's OOM killer sends SIGKILL) end the run: exit 1, nothing written."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import BASE, INSTALLED, ROOT

from generator import generate

OLD_USERS = 300          # in the earlier output: their files change (the workers render them)
USERS = 900              # new users' folders are staged by the workers themselves
DEADLINE = 60            # seconds a run may take to notice a dead worker and stop


def _inventory(folder: Path, smtp: str, users: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(BASE.replace("smtp.example.com", smtp) + "users_file: users.csv\n")
    rows = "".join(f"user{i}@example.com,User {i},desktop;laptop\n" for i in range(users))
    (folder / "users.csv").write_text("email,name,devices\n" + rows)
    return folder


def _tree(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below OUT (the state folder included) with its bytes and modification time."""
    return {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid``, found by scanning /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != b"Z":
            found.append(int(entry))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_a_worker_killed_by_the_kernel_ends_the_run_and_leaves_the_output_intact(tmp_path):
    old = _inventory(tmp_path / "old", "smtp.example.com", OLD_USERS)
    new = _inventory(tmp_path / "new", "smtp-new.example.com", USERS)
    out = tmp_path / "out"
    generate(old, out, jobs=1)
    (out / "admin-notes.txt").write_text("not ours")
    before = _tree(out)

    env = dict(os.environ, COLUMNS="200")
    if not INSTALLED:
        env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "generator", "generate", str(new), "-o", str(out), "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        # The workers fork once the run has rendered a few hundred users itself; kill one as soon as both run.
        started = time.monotonic()
        workers: list[int] = []
        while len(workers) < 2 and proc.poll() is None and time.monotonic() - started < DEADLINE:
            workers = _children(proc.pid)
            time.sleep(0.005)
        assert len(workers) == 2, f"the run did not start two workers (exit {proc.poll()})"
        victim, survivor = workers
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        try:
            stdout, stderr = proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the run still waits {DEADLINE} s after its worker was killed") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, stderr
    assert "a worker process died (signal 9, e.g. out of memory)" in stderr, stderr
    assert "nothing was written: the output is intact" in stderr and "Traceback" not in stderr, stderr
    assert time.monotonic() - killed < DEADLINE
    assert not _alive(survivor), "the other worker outlived the run"
    assert _tree(out) == before          # no staging files, no journal, not a byte or time stamp changed

    # The lock was released and nothing is left to recover: the next run completes normally.
    result = generate(new, out, jobs=2)
    assert not result.notes and result.count("created") == 11 * (USERS - OLD_USERS)    # ten device files, a handout
    assert (out / "admin-notes.txt").read_text() == "not ours"
