"""Benchmark: generate N users cold and warm, validate them, and write the same bytes as the I/O floor.

    python benchmarks/run.py 20000 [--workdir DIR] [--keep]

Every figure is measured in the same run on the same machine, so the ratios hold on a busy
machine too: files/s of the cold run against the floor (the very same files written with
plain open/write/close into a fresh folder, no fsync), the no-change rerun as a share of the
cold run, and each child's peak RSS (sampled from /proc). mailprofiles runs as a separate process,
exactly as an admin runs it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
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


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS summed over a process and its descendants, the largest high-water mark among them), in KiB,
    from /proc (0 where it cannot be read)."""
    total, largest, todo = 0, 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        largest = max(largest, int(line.split()[1]))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    todo.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total, largest


def run(command: list[str]) -> tuple[float, int, int, bytes]:
    """(seconds, peak RSS of the largest process in KiB, peak RSS of the process tree in KiB, stdout) of one
    command.

    Both are sampled from /proc every 20 ms: the first is the kernel's high-water mark (VmHWM) of each
    process, which holds the peak between samples; the second sums the child and its worker processes
    (shared pages are counted once per process, so it over-counts). The kernel's ru_maxrss is not used:
    a child started by vfork inherits the high-water mark of this process, which is not the child's own.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        peak = [0, 0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                total, largest = _tree_memory(process.pid)
                peak[0], peak[1] = max(peak[0], largest), max(peak[1], total)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            sys.exit(f"{' '.join(command)} failed ({code}): {err.read().decode(errors='replace')[-2000:]}")
        if peak[0] == 0:   # gone before the first sample: the kernel's figure, an upper bound (see above)
            peak[0] = peak[1] = usage.ru_maxrss
        return seconds, peak[0], peak[1], out.read()


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


def _stamps(folder: Path) -> str:
    """A digest of the path and modification time of every file and folder below ``folder`` (the state
    folder included): a digest, so that this process stays small while the runs are measured."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            digest.update(f"{path}\0{os.lstat(path).st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def format_costs(inventory: Path, files: int = 200, rounds: int = 3) -> None:
    """Print each format's CPU time per file, rendering and verifying (as a run does: the verifier, then the
    connection read back for the cross-check), over up to ``files`` real files of the inventory; the best of
    ``rounds`` rounds (CPU time of this process, so a busy machine slows it less than wall time would)."""
    from collections import defaultdict

    from generator.inventory.load import load_inventory
    from generator.plan.planner import Plan

    plan = Plan(load_inventory(inventory), None)
    samples: dict[str, list[tuple[object, object, bytes]]] = defaultdict(list)
    for unit in plan.units():
        for item in plan.items(unit, inputs=False):
            if len(samples[item.fmt.name]) < files:
                samples[item.fmt.name].append((item.fmt, item.subject, item.fmt.render(plan.site, item.subject)))
    org = plan.site.organization

    def verify(fmt, subject, content):
        assert not fmt.check(content, org, subject)
        if fmt.read_settings is not None:
            fmt.read_settings(content)

    for name, found in sorted(samples.items()):
        costs = []
        for step in (lambda fmt, subject, content: fmt.render(plan.site, subject), verify):
            best = float("inf")
            for _ in range(rounds):
                started = time.process_time()
                for fmt, subject, content in found:
                    step(fmt, subject, content)
                best = min(best, time.process_time() - started)
            costs.append(1e6 * best / len(found))
        print(f"  {name}: render {costs[0]:,.0f} µs, verify {costs[1]:,.0f} µs per file ({len(found)} files)")


def main() -> None:
    if sys.argv[1:2] == ["--format-costs"]:
        format_costs(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", type=int)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: one per core)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailprofiles-bench-", dir=args.workdir))
    command = [sys.executable, "-m", "generator"]
    out = work / "out"
    generate = command + ["generate", str(work / "inventory"), "-o", str(out), "--json", "--jobs", str(args.jobs)]
    try:
        inventory = work / "inventory"
        write_inventory(inventory, args.users)
        validate_s, validate_rss, _, _ = run(command + ["validate", str(inventory)])
        cold_s, cold_rss, cold_tree, _ = run(generate)
        before = _stamps(out)
        warm_s, warm_rss, warm_tree, warm_json = run(generate)
        warm = json.loads(warm_json)
        untouched = _stamps(out) == before
        check_s, _, _, _ = run(generate + ["--check"])
        roster = (inventory / "users.csv").read_text(encoding="utf-8")
        (inventory / "users.csv").write_text(roster.replace("user1@example.com,User 1,", "user1@example.com,Usr 1,"),
                                             encoding="utf-8")
        one_s, _, _, one_json = run(generate)
        one = json.loads(one_json)
        floor_s, files = floor(out, work / "floor")
        print(f"users: {args.users:,}   files: {files:,}   cores: {os.cpu_count()}")
        print(f"validate: {validate_s:.2f} s, peak RSS {validate_rss / 1024:.0f} MiB")
        print(f"generate (cold): {cold_s:.2f} s, {files / cold_s:,.0f} files/s, peak RSS {cold_rss / 1024:.0f} MiB "
              f"(largest process), {cold_tree / 1024:.0f} MiB (all processes, sampled)")
        print(f"I/O floor (open/write/close, same bytes): {floor_s:.2f} s, {files / floor_s:,.0f} files/s")
        print(f"ratio to the floor: {floor_s / cold_s:.2f}x")
        print(f"generate (no change): {warm_s:.2f} s = {100 * warm_s / cold_s:.0f} % of the cold run, "
              f"{warm['rendered']:,} files rendered, {warm['created'] + warm['changed'] + warm['removed']} written, "
              f"output {'untouched' if untouched else 'TOUCHED'}, peak RSS {warm_rss / 1024:.0f} MiB "
              f"({warm_tree / 1024:.0f} MiB all processes)")
        print(f"generate --check (no change): {check_s:.2f} s = {100 * check_s / cold_s:.0f} % of the cold run")
        print(f"generate (one user changed): {one_s:.2f} s, {one['rendered']:,} files rendered, "
              f"{one['changed']} changed")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
