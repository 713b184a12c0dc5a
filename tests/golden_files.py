"""Golden files: a run's output held byte for byte against a folder of tests/golden (UPDATE_GOLDEN=1 rewrites it)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by its relative path; the run index holds times, so it is not output."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".mailprofiles" not in p.parts}


def assert_matches_golden(out: Path, golden_folder: Path) -> None:
    produced = tree(out)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(golden_folder, ignore_errors=True)
        for rel, data in produced.items():
            (golden_folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden_folder / rel).write_bytes(data)
    golden = tree(golden_folder)
    assert sorted(produced) == sorted(golden)
    for rel in golden:
        assert produced[rel] == golden[rel], f"{rel} differs from its golden file"
