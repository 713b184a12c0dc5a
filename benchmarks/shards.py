"""Benchmark: the speed-up of N local shard processes over one process, cold, on the same roster.

    python benchmarks/shards.py 20000 [--shards 2] [--rounds 3] [--workers] [--workdir DIR] [--keep]

Each round runs, alternating, into fresh folders: one unsharded process with ``--jobs 1``, then N
shard processes with ``--jobs 1`` each through ``examples/parallel/generate-shards.sh`` (GNU
parallel), and with ``--workers``, for comparison, one unsharded process with a worker per core
(``--jobs 0``). It prints every
time, the median of each, the speed-ups of the medians, and the load average before each run
(the machine may be shared). At the end it checks that the union of the shards' files is the
unsharded run's, byte for byte.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import write_inventory  # noqa: E402  (the same roster as benchmarks/run.py)


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every file a run made (without its manifest and state), by path."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".mailprofiles"]
        for name in files:
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            if relative != "manifest.json":
                found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", type=int)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", action="store_true", help="also one process with a worker per core")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if shutil.which("parallel") is None:
        sys.exit("GNU parallel is needed (apt-get install parallel)")
    work = Path(tempfile.mkdtemp(prefix="mailprofiles-shards-", dir=args.workdir))
    wrapper = work / "mailprofiles"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m generator "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    env = {**os.environ, "MAILPROFILES": str(wrapper), "PYTHONPATH": str(ROOT)}
    inventory = work / "inventory"
    write_inventory(inventory, args.users)
    runs = {
        "1 process (--jobs 1)": lambda out: [str(wrapper), "generate", str(inventory), "-o", str(out), "--jobs", "1"],
        f"{args.shards} shards (--jobs 1 each, GNU parallel)":
            lambda out: ["sh", str(ROOT / "examples/parallel/generate-shards.sh"), str(inventory), str(out),
                         str(args.shards)],
    }
    if args.workers:
        runs["1 process, a worker per core (--jobs 0)"] = \
            lambda out: [str(wrapper), "generate", str(inventory), "-o", str(out), "--jobs", "0"]
    times: dict[str, list[float]] = {name: [] for name in runs}
    print(f"users: {args.users:,}   shards: {args.shards}   cores: {os.cpu_count()}   rounds: {args.rounds}")
    try:
        for round_ in range(args.rounds):
            for position, (name, command) in enumerate(runs.items()):
                out = work / f"out-{round_}-{position}"
                load = os.getloadavg()[0]
                seconds = _timed(command(out), env)
                times[name].append(seconds)
                print(f"round {round_ + 1}: {name}: {seconds:.1f} s   (load average before: {load:.1f})", flush=True)
                if round_ < args.rounds - 1:
                    shutil.rmtree(out)
        last = args.rounds - 1
        whole = _digests(work / f"out-{last}-0")
        medians = {name: statistics.median(values) for name, values in times.items()}
        base = medians["1 process (--jobs 1)"]
        for name, median in medians.items():
            print(f"median {name}: {median:.1f} s = {(len(whole) + 1) / median:,.0f} files/s, "
                  f"speed-up {base / median:.2f}x")
        union: dict[str, str] = {}
        for shard in range(args.shards):
            part = _digests(work / f"out-{last}-1" / f"shard-{shard}")
            assert not union.keys() & part.keys(), "a file made by two shards"
            union.update(part)
        print(f"union of the shards' files = the unsharded run's, byte for byte: {union == whole} "
              f"({len(whole):,} files)")
        if union != whole:
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
