"""The benchmark script runs (at a small N: only that it works; its figures come from real runs, see README)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import INSTALLED, ROOT


def test_benchmark_script_prints_its_figures(tmp_path):
    env = dict(os.environ)
    if not INSTALLED:
        env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "20", "--workdir", str(tmp_path),
                             "--syscall-users", "20", "--settle", "0"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout
    assert "users: 20   files: 243" in lines                 # 11 device files and a handout per user, 2 domain files
    for figure in ("validate:", "generate (cold):", "files/s", "I/O floor", "ratio to the floor:",
                   "% of the cold run", "peak RSS", "pair 1:", "pair 3:", "median of 3 alternating pairs"):
        assert figure in lines, figure
    for number in (1, 2, 3):                            # each pair's CPU: the cold run's and the floor's
        assert re.search(rf"pair {number} CPU: generate CPU [0-9.]+ s \(user [0-9.]+, system [0-9.]+\), [0-9.]+ of "
                         rf"[0-9]+ cores busy; I/O floor CPU [0-9.]+ s .* generate's CPU per file [0-9]+ us", lines), number
    assert "0 written, output untouched" in lines       # the no-change rerun
    assert "files rendered, 10 changed" in lines        # one user's name changed: the files that name it
    # Between 10 and 20 users (120 files): one open per staged file (strace is on CI's package list)
    assert "system calls per file: open 1.00," in lines
    assert list(tmp_path.iterdir()) == [], "the work folder is removed"
