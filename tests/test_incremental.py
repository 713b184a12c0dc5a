"""Reruns: what did not change is neither rendered nor written; what changed, or was changed by others, is."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BASE, INSTALLED, ROOT, replace_format

from generator import generate
from generator.pipeline import GenerateResult

USERS = 40


def _roster(folder: Path, users: int = USERS, rename: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(BASE + "users_file: users.csv\n", encoding="utf-8")
    rows = "".join(f"user{i}@example.com,{'Renamed' if i == rename else 'User'} {i},desktop;laptop;phone\n"
                   for i in range(users))
    (folder / "users.csv").write_text("email,name,devices\n" + rows, encoding="utf-8")
    return folder


def _age_index(out: Path) -> None:
    """Let time pass since the run: a file not older than the index is compared by its bytes (same clock tick)."""
    index = out / ".mailprofiles" / "index"
    later = index.stat().st_mtime + 5
    os.utime(index, (later, later))


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_ino) for p in [out, *out.rglob("*")]}


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".mailprofiles" not in p.parts}


def test_a_rerun_without_changes_renders_nothing_and_writes_nothing(tmp_path):
    inventory, out = _roster(tmp_path / "inv"), tmp_path / "out"
    first = generate(inventory, out)
    assert first.rendered == len(first.artifacts) == 12 * USERS + 2
    _age_index(out)
    before = _stamps(out)
    again = generate(inventory, out)
    # Only the domain's autoconfig and autodiscover files, made from every user, have no fingerprint and are always
    # rendered.
    assert again.rendered == 2 and again.count("unchanged") == len(first.artifacts) and not again.changes
    assert not again.manifest_changed and _stamps(out) == before
    check = generate(inventory, out, check=True)
    assert check.rendered == 2 and not check.changes
    assert [a.to_json() for a in again.artifacts] == [a.to_json() for a in first.artifacts]


def test_one_changed_user_renders_only_that_users_files(tmp_path):
    inventory, out = _roster(tmp_path / "inv"), tmp_path / "out"
    generate(inventory, out)
    _age_index(out)
    _roster(inventory, rename=7)
    result = generate(inventory, out)
    assert result.rendered == 12 + 2                # user7's eleven files and handout, and the two domain files
    assert "user7@example.com/handout.html" in {c.path for c in result.changes}
    assert all(c.path.startswith("user7@example.com/") for c in result.changes)
    assert b"Renamed 7" in (out / "user7@example.com/handout.html").read_bytes()


def test_a_file_changed_by_someone_else_is_found_and_replaced(tmp_path):
    inventory, out = _roster(tmp_path / "inv"), tmp_path / "out"
    generate(inventory, out)
    _age_index(out)
    target = out / "user3@example.com/laptop/prefs.js"
    original = target.read_bytes()
    target.write_bytes(original.replace(b"imap.example.com", b"imap.evil.example"))
    touched = out / "user4@example.com/handout.html"
    os.utime(touched, (time.time() + 60, time.time() + 60))     # only its time: re-read, the same bytes
    check = generate(inventory, out, check=True)
    assert [c.path for c in check.changes] == ["user3@example.com/laptop/prefs.js"]
    assert any("user3@example.com/laptop/prefs.js was changed outside mailprofiles" in a and "would be" in a
               for a in check.alerts)
    result = generate(inventory, out)
    assert [(c.path, c.status) for c in result.changes] == [("user3@example.com/laptop/prefs.js", "changed")]
    assert any("changed outside mailprofiles since the last run; it is replaced" in a for a in result.alerts)
    assert target.read_bytes() == original
    assert result.rendered == 2 * 12 + 2            # the two users whose files differ from the index, and the domain's


def test_templates_and_product_are_inputs_too(tmp_path, monkeypatch):
    inventory, out = _roster(tmp_path / "inv"), tmp_path / "out"
    generate(inventory, out)
    _age_index(out)
    from generator.formats.render import thunderbird

    real = thunderbird.render
    replace_format(monkeypatch, "thunderbird", render=lambda site, device: real(site, device))
    result = generate(inventory, out)                # another renderer: every file is rendered again
    assert result.rendered == 12 * USERS + 2 and not result.changes
    monkeypatch.undo()
    _age_index(out)
    (inventory / "templates" / "handout").mkdir(parents=True)
    text = (Path(__file__).resolve().parents[1] / "templates/handout/handout.html.j2").read_text(encoding="utf-8")
    (inventory / "templates/handout/handout.html.j2").write_text(text.replace("</body>", "<p>Site</p></body>"),
                                                                 encoding="utf-8")
    inventory_yaml = inventory / "inventory.yaml"
    inventory_yaml.write_text(inventory_yaml.read_text(encoding="utf-8") + "templates_dir: templates\n",
                              encoding="utf-8")
    result = generate(inventory, out)
    assert result.rendered == 12 * USERS + 2
    assert {c.path for c in result.changes} == {f"user{i}@example.com/handout.html" for i in range(USERS)}


def test_an_index_that_is_not_ours_is_not_trusted(tmp_path):
    inventory, out = _roster(tmp_path / "inv"), tmp_path / "out"
    generate(inventory, out)
    index = out / ".mailprofiles" / "index"
    # An index that claims a stale file is current (its time and size planted to match) is only trusted
    # when it is ours: a link in its place is ignored, so every file is compared by its bytes.
    saved = index.read_bytes()
    index.unlink()
    planted = tmp_path / "planted"
    planted.write_bytes(saved)
    index.symlink_to(planted)
    target = out / "user1@example.com/laptop/prefs.js"
    stat = target.stat()
    changed = target.read_bytes().replace(b"imap.example.com", b"imap.exampl3.com")    # the same size
    assert changed != target.read_bytes()
    target.write_bytes(changed)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.utime(planted, (time.time() + 5, time.time() + 5))
    result = generate(inventory, out)
    assert result.rendered == 12 * USERS + 2
    assert [c.path for c in result.changes] == ["user1@example.com/laptop/prefs.js"]
    assert not index.is_symlink() and index.is_file()    # replaced by a real index of ours


# The runs with workers happen in a process of their own: workers are forked only from a process with one thread,
# and the test process may have others (the real servers of the system tier run in threads).
PARALLEL_RUNS = """
import json, sys
from generator import generate
from generator.output import execute, workers
workers.MIN_UNITS_PER_WORKER = 8              # workers for 60 users, not only from 256 on
execute.CHUNK = 4                             # in tasks of 4 units, not one task of all 60
inventory, one, many, lean, jobs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
serial = generate(inventory, one, jobs=1)
started = []
start = workers.Renderer._start
def counting(self, remaining):
    start(self, remaining)
    started.append(len(self.workers))
workers.Renderer._start = counting
parallel = generate(inventory, many, jobs=jobs)
lean_run = generate(inventory, lean, jobs=jobs, records=False)     # as the command line runs: no records kept
print(json.dumps({"started": max(started), "lean": (lean_run.rendered, len(lean_run.artifacts)),
                  "changes": [[c.path for c in run.changes] for run in (serial, parallel, lean_run)],
                  "written": [[a.path, a.size, a.mtime_ns] for a in parallel.artifacts],
                  "artifacts": [[a.to_json() for a in run.artifacts] for run in (serial, parallel)]}))
"""


@pytest.mark.parametrize("jobs", [2])
def test_workers_write_the_same_bytes_in_the_same_order(tmp_path, jobs):
    inventory = _roster(tmp_path / "inv", users=60)
    one, many, lean = tmp_path / "one", tmp_path / "many", tmp_path / "lean"
    env = dict(os.environ, **({} if INSTALLED else {"PYTHONPATH": str(ROOT)}))
    ran = subprocess.run([sys.executable, "-c", PARALLEL_RUNS, str(inventory), str(one), str(many), str(lean), str(jobs)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    runs = json.loads(ran.stdout)
    assert runs["started"] == jobs                           # the parallel run did render in worker processes
    serial_artifacts, parallel_artifacts = runs["artifacts"]
    assert runs["changes"][0] == runs["changes"][1] == runs["changes"][2] and serial_artifacts == parallel_artifacts
    assert _files(one) == _files(many) == _files(lean)
    assert runs["lean"] == [len(parallel_artifacts), 0]
    for path, size, mtime_ns in runs["written"]:       # the records a worker sent back hold what it wrote
        assert (size, mtime_ns) == ((many / path).stat().st_size, (many / path).stat().st_mtime_ns)
    lean_index = [json.loads(line) for line in (lean / ".mailprofiles/index").read_text().splitlines()[1:]]
    assert [(e["path"], e["sha256"], e["size"]) for e in lean_index] == [
        (a["path"], a["sha256"], (lean / a["path"]).stat().st_size) for a in parallel_artifacts]
    index = [json.loads(line) for line in (many / ".mailprofiles/index").read_text().splitlines()[1:]]
    assert [e["path"] for e in index] == sorted(e["path"] for e in index) == [
        a["path"] for a in parallel_artifacts]
    for entry in index:
        data = (many / entry["path"]).read_bytes()
        assert (len(data), (many / entry["path"]).stat().st_mtime_ns) == (entry["size"], entry["mtime_ns"])
    manifest = json.loads((many / "manifest.json").read_text())
    assert all(hashlib.sha256((many / e["path"]).read_bytes()).hexdigest() == e["sha256"]
               for e in manifest["artifacts"])


def test_the_default_is_one_worker_per_core_and_one_more(monkeypatch):
    from generator.output import workers
    for cores, expected in (({0}, 1), ({0, 1}, 3), (set(range(8)), 9)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, cores=cores: cores)
        assert workers.default_jobs() == expected


def test_the_json_recap_is_streamed_and_parses(tmp_path):
    result = generate(_roster(tmp_path / "inv"), tmp_path / "out")
    assert isinstance(result, GenerateResult)
    assert json.loads("".join(result.json_chunks(diffs=True))) == {**result.to_json(), "diffs": {}}
