"""Benchmark: generate N users cold and warm, validate them, and write the same bytes as the I/O floor.

    python benchmarks/run.py 20000 [--workdir DIR] [--keep]

Every figure is measured in the same run on the same machine, so the ratios hold on a busy
machine too: files/s of the cold run against the floor (the very same files written with
plain open/write/close into a fresh folder, no fsync), the no-change rerun as a share of the
cold run, and each child's peak RSS (from wait4). mailprofiles runs as a separate process,
exactly as an admin runs it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INVENTORY = """organization: {name: Benchmark GmbH, identifier: com.example.bench}
servers:
  imap: {host: imap.example.com}
  pop3: {host: pop.example.com}
  smtp: {host: smtp.example.com}
groups:
  sales: {servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}}
users_file: users.csv
"""


def write_inventory(folder: Path, users: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    with open(folder / "users.csv", "w", encoding="utf-8") as roster:
        roster.write("email,name,groups,devices\n")
        for i in range(users):
            roster.write(f"user{i}@example.com,User {i},{'sales' if i % 3 == 0 else ''},desktop;laptop;phone\n")


def run(command: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS of the child in KiB, exit code) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else b""
    if process.stderr:
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}): {stderr.decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss, code


def floor(source: Path, target: Path) -> tuple[float, int]:
    """Write every file of ``source`` (already read into memory) below ``target`` with open/write/close."""
    files = [(p.relative_to(source), p.read_bytes()) for p in source.rglob("*")
             if p.is_file() and ".mailprofiles" not in p.parts]
    started = time.perf_counter()
    for relative, data in files:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return time.perf_counter() - started, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", type=int)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailprofiles-bench-", dir=args.workdir))
    command = [sys.executable, "-m", "generator"]
    try:
        inventory = work / "inventory"
        write_inventory(inventory, args.users)
        validate_s, validate_rss, _ = run(command + ["validate", str(inventory)])
        cold_s, cold_rss, _ = run(command + ["generate", str(inventory), "-o", str(work / "out"), "--json"])
        warm_s, warm_rss, _ = run(command + ["generate", str(inventory), "-o", str(work / "out"), "--json"])
        floor_s, files = floor(work / "out", work / "floor")
        print(f"users: {args.users:,}   files: {files:,}")
        print(f"validate: {validate_s:.2f} s, peak RSS {validate_rss / 1024:.0f} MiB")
        print(f"generate (cold): {cold_s:.2f} s, {files / cold_s:,.0f} files/s, peak RSS {cold_rss / 1024:.0f} MiB")
        print(f"I/O floor (open/write/close, same bytes): {floor_s:.2f} s, {files / floor_s:,.0f} files/s")
        print(f"ratio to the floor: {floor_s / cold_s:.2f}x")
        print(f"generate (no change): {warm_s:.2f} s = {100 * warm_s / cold_s:.0f} % of the cold run, "
              f"peak RSS {warm_rss / 1024:.0f} MiB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
