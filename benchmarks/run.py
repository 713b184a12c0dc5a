"""Benchmark: generate N users cold and warm, validate them, and write the same bytes as the I/O floor.

    python benchmarks/run.py 20000,100000 [--pairs 3] [--syscall-users 1000] [--format-costs]
                                          [--memory-users 200000] [--plan-users 1000000] [--workdir DIR] [--keep]

Every figure is measured in the same run on the same machine, so the ratios hold on a busy
machine too: files/s of the cold run against the floor (the very same files written with
plain open/write/close into a fresh folder, no fsync), in alternating pairs (cold run, floor,
cold run, floor, ...) whose median ratio is the figure, because the floor alone varies from run
to run on a shared disk; the no-change rerun as a share of the cold run; each child's peak RSS
(sampled from /proc); the system calls per file (strace, between two roster sizes); each
format's CPU per file; the memory a cold run needs per user; validate at a very large roster.
mailprofiles runs as a separate process, exactly as an admin runs it.

No tree is deleted between the timed runs (each cold run and each floor writes a folder of its
own; all are removed at the end), and the page cache is written back (``sync``, not timed) before
each: on ext4 without a journal, the kernel will not reuse an inode in the first 60 s after its
deletion (300 s more while its inode table block is dirty) and checks each such inode while it
looks for a free one (``recently_deleted`` in fs/ext4/ialloc.c), so files created in the minutes
after 240,000 were deleted cost several times the system time (seen here with perf: 60 % of a
floor's time in ``recently_deleted``, the floor 2.4 s quiet and 15 to 24 s after a deletion, for
the same 24,003 files). A run that had to delete for room says so on its line. Before the first
run the benchmark waits ``--settle`` seconds (400), for what was deleted before it started: the
``sync`` alone does not end the slow time. Measured with perf and a 2,000-user cold run repeated
after 1,000,000 files were deleted: 1 and 3.5 minutes after the deletion, a fifth of the run's
samples were in ``recently_deleted`` and the workers took 5.7 and 8.3 s of system time; 6 minutes
after, 0.05 % and 0.8 s.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, from /proc/stat (0, 0 where it cannot be read):
    busy is user, nice, system, interrupts and steal, the kernel's writeback included."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(field) for field in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / ticks, sum(fields) / ticks


@dataclasses.dataclass(frozen=True)
class Cpu:
    """CPU seconds of a measured stretch: user and system of the process tree, and how many of the machine's
    cores were busy on average (whoever used them: the kernel's writeback of the page cache counts there)."""

    user: float
    system: float
    cores_busy: float

    def __str__(self) -> str:
        return f"CPU {self.user + self.system:.1f} s (user {self.user:.1f}, system {self.system:.1f}), " \
               f"{self.cores_busy:.2f} of {os.cpu_count()} cores busy"


def run(command: list[str], cpu: list[Cpu] | None = None) -> tuple[float, int, int, bytes]:
    """(seconds, peak RSS of the largest process in KiB, peak RSS of the process tree in KiB, stdout) of one
    command; ``cpu`` gets its :class:`Cpu` (the process and every worker it waited for).

    Both are sampled from /proc every 20 ms: the first is the kernel's high-water mark (VmHWM) of each
    process, which holds the peak between samples; the second sums the child and its worker processes
    (shared pages are counted once per process, so it over-counts). The kernel's ru_maxrss is not used:
    a child started by vfork inherits the high-water mark of this process, which is not the child's own.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy, _ = _machine_cpu()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=_environment())
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
        if cpu is not None:
            cpu.append(Cpu(usage.ru_utime, usage.ru_stime, (_machine_cpu()[0] - busy) / seconds))
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


def floor(source: Path, target: Path, batch: int = 20_000) -> tuple[float, int, Cpu]:
    """Write every file of ``source`` below ``target`` with open/write/close (each file's folder made first).

    The bytes are read in batches of ``batch`` files before the batch is written, and only the writing is
    timed: the floor is what writing the very same files costs, and this process stays small. Its
    :class:`Cpu` is that of the timed writing."""
    seconds, count = 0.0, 0
    pending: list[tuple[Path, bytes]] = []
    spent = [0.0, 0.0, 0.0]         # user, system, the machine's busy seconds

    def write_batch() -> float:
        before, busy = os.times(), _machine_cpu()[0]
        started = time.perf_counter()
        for relative, data in pending:
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
        pending.clear()
        took, after = time.perf_counter() - started, os.times()
        spent[0] += after.user - before.user
        spent[1] += after.system - before.system
        spent[2] += _machine_cpu()[0] - busy
        return took

    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != ".mailprofiles")
        for name in sorted(names):
            path = Path(root, name)
            pending.append((path.relative_to(source), path.read_bytes()))
            count += 1
            if len(pending) >= batch:
                seconds += write_batch()
    seconds += write_batch()
    return seconds, count, Cpu(spent[0], spent[1], spent[2] / seconds if seconds else 0.0)


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

    def verify(fmt: Any, subject: Any, content: bytes) -> None:
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


SYSCALL_GROUPS = {"open": ("openat", "open", "openat2"), "mkdir": ("mkdirat", "mkdir"),
                  "write": ("write", "pwrite64", "writev"), "stat": ("newfstatat", "fstat", "stat", "lstat", "statx"),
                  "close": ("close",), "rename": ("renameat2", "renameat", "rename")}


def _strace_counts(command: list[str], log: Path) -> dict[str, int]:
    """Every system call of a command and its children, by name (``strace -f -c``)."""
    done = subprocess.run(["strace", "-f", "-c", "-o", str(log)] + command, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=_environment())
    if done.returncode != 0:
        sys.exit(f"strace {' '.join(command)} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    counts: dict[str, int] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[3].isdigit():
            counts[fields[-1]] = int(fields[3])
    return counts


def syscalls_per_file(work: Path, sizes: tuple[int, int], jobs: int) -> str:
    """System calls per file of a cold ``generate``: the difference between two roster sizes, so the calls
    of starting Python and loading the package drop out."""
    if shutil.which("strace") is None:
        return "not counted (strace is not installed)"
    found = []
    for users in sizes:
        inventory, out = work / f"strace-{users}", work / f"strace-{users}-out"
        write_inventory(inventory, users)
        counts = _strace_counts([sys.executable, "-m", "generator", "generate", str(inventory), "-o", str(out),
                                 "--json", "--jobs", str(jobs)], work / "strace.log")
        files = sum(len(names) for _, _, names in os.walk(out))
        shutil.rmtree(out)
        found.append((files, counts))
    (small, few), (large, many) = found
    per = {group: (sum(many.get(n, 0) for n in names) - sum(few.get(n, 0) for n in names)) / (large - small)
           for group, names in SYSCALL_GROUPS.items()}
    total = (many.get("total", sum(many.values())) - few.get("total", sum(few.values()))) / (large - small)
    return (", ".join(f"{group} {value:.2f}" for group, value in per.items()) + f", all calls {total:.2f} "
            f"(strace -f, cold runs of {sizes[1]:,} and {sizes[0]:,} users, {large - small:,} files apart)")


def _environment() -> dict[str, str]:
    """The children's environment: as an admin's shell has it (no PYTHONUNBUFFERED, which writes each line
    of the JSON recap with a system call of its own)."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}


_TREES: list[Path] = []    # every tree written and not yet deleted, oldest first (see the module's docstring)
_TREE_BYTES = [0]          # the disk space the largest cold run took so far


def _room(work: Path, keep: Path | None = None) -> int:
    """Delete the oldest trees (never ``keep``) while the disk could not hold one more cold run's tree and
    2 GiB besides; the number of files deleted (0 when there was room)."""
    deleted = 0
    while shutil.disk_usage(work).free < _TREE_BYTES[0] * 1.2 + (2 << 30):
        oldest = next((tree for tree in _TREES if tree != keep), None)
        if oldest is None:
            break
        _TREES.remove(oldest)
        deleted += sum(len(names) for _, _, names in os.walk(oldest))
        shutil.rmtree(oldest)
    return deleted


def _fresh(command: list[str], out: Path, work: Path, cpu: list[Cpu]) -> tuple[float, int, int, bytes, int]:
    """:func:`run` of a cold run into the new folder ``out``, made room for and written back before it (not
    timed); also the number of files deleted for room."""
    freed = _room(work)
    os.sync()
    used = shutil.disk_usage(work).used
    measured = run(command, cpu)
    _TREES.append(out)
    _TREE_BYTES[0] = max(_TREE_BYTES[0], shutil.disk_usage(work).used - used)
    return (*measured, freed)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def measure_size(args: argparse.Namespace, work: Path, inventory: Path, users: int,
                 generate: Callable[[Path, Path], list[str]], reruns: bool) -> int:
    """Validate, the alternating cold generate / I/O floor pairs and (``reruns``) the reruns at one roster size;
    prints them and returns the cold runs' highest peak RSS (largest process, KiB)."""
    command = [sys.executable, "-m", "generator"]
    validate_s, validate_rss, _, _ = run(command + ["validate", str(inventory)])
    pairs: list[tuple[float, int, int, float]] = []
    cpus: list[tuple[Cpu, Cpu]] = []     # per pair: the cold run's and the floor's
    files = 0
    deleted: list[str] = []          # per pair: what had to be deleted for room before it
    out = work / f"out-{users}-1"
    for number in range(1, args.pairs + 1):
        out, floor_out = work / f"out-{users}-{number}", work / f"floor-{users}-{number}"
        measured: list[Cpu] = []
        cold_s, cold_rss, cold_tree, _, freed = _fresh(generate(out, inventory), out, work, measured)
        freed += _room(work, keep=out)
        os.sync()
        floor_s, files, floor_cpu = floor(out, floor_out)
        _TREES.append(floor_out)
        pairs.append((cold_s, cold_rss, cold_tree, floor_s))
        cpus.append((measured[0], floor_cpu))
        deleted.append(f" (after deleting {freed:,} files for room: see the docstring)" if freed else "")
        print(f"  ({users:,} users: pair {len(pairs)} measured)", file=sys.stderr)
    cold_s = _median([p[0] for p in pairs])
    ratios = [p[3] / p[0] for p in pairs]
    print(f"users: {users:,}   files: {files:,}")
    print(f"validate: {validate_s:.2f} s, peak RSS {validate_rss / 1024:.0f} MiB")
    for number, (pair_s, pair_rss, pair_tree, floor_s) in enumerate(pairs, start=1):
        print(f"pair {number}: generate (cold) {pair_s:.2f} s, {files / pair_s:,.0f} files/s, peak RSS "
              f"{pair_rss / 1024:.0f} MiB (largest process), {pair_tree / 1024:.0f} MiB (all processes, sampled); "
              f"I/O floor (open/write/close, same bytes) {floor_s:.2f} s, {files / floor_s:,.0f} files/s; "
              f"ratio {floor_s / pair_s:.2f}x{deleted[number - 1]}")
        cold_cpu, floor_cpu = cpus[number - 1]
        print(f"  pair {number} CPU: generate {cold_cpu}; I/O floor {floor_cpu}; generate's CPU per file "
              f"{1e6 * (cold_cpu.user + cold_cpu.system) / files:.0f} us, the floor's "
              f"{1e6 * (floor_cpu.user + floor_cpu.system) / files:.0f} us")
    print(f"generate (cold): median {cold_s:.2f} s, {files / cold_s:,.0f} files/s, peak RSS "
          f"{max(p[1] for p in pairs) / 1024:.0f} MiB (largest process, the highest of the pairs)")
    print(f"I/O floor: median {_median([p[3] for p in pairs]):.2f} s")
    print(f"ratio to the floor: {_median(ratios):.2f}x (median of {len(pairs)} alternating pairs: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    if reruns:
        before = _stamps(out)
        os.sync()
        warm_s, warm_rss, warm_tree, warm_json = run(generate(out, inventory))
        warm = json.loads(warm_json)
        untouched = _stamps(out) == before
        os.sync()
        check_s, _, _, _ = run(generate(out, inventory) + ["--check"])
        roster = (inventory / "users.csv").read_text(encoding="utf-8")
        (inventory / "users.csv").write_text(roster.replace("user1@example.com,User 1,", "user1@example.com,Usr 1,"),
                                             encoding="utf-8")
        os.sync()
        one_s, _, _, one_json = run(generate(out, inventory))
        one = json.loads(one_json)
        print(f"generate (no change): {warm_s:.2f} s = {100 * warm_s / cold_s:.0f} % of the cold run, "
              f"{warm['rendered']:,} files rendered, {warm['created'] + warm['changed'] + warm['removed']} written, "
              f"output {'untouched' if untouched else 'TOUCHED'}, peak RSS {warm_rss / 1024:.0f} MiB "
              f"({warm_tree / 1024:.0f} MiB all processes)")
        print(f"generate --check (no change): {check_s:.2f} s = {100 * check_s / cold_s:.0f} % of the cold run")
        print(f"generate (one user changed): {one_s:.2f} s, {one['rendered']:,} files rendered, "
              f"{one['changed']} changed")
    sys.stdout.flush()
    return max(p[1] for p in pairs)


def main() -> None:
    if sys.argv[1:2] == ["--format-costs"]:
        format_costs(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", help="roster size, or sizes separated by commas (e.g. 20000,100000): the pairs are "
                                          "measured at each, the reruns at the first")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: the default, one per core and one more)")
    parser.add_argument("--pairs", type=int, default=3, help="alternating cold generate / I/O floor pairs")
    parser.add_argument("--syscall-users", type=int, default=1000,
                        help="count system calls per file between cold runs of this many users and half as many "
                             "(0: not counted)")
    parser.add_argument("--plan-users", type=int, default=0,
                        help="also validate a roster of this many users (e.g. 1000000): time and peak RSS")
    parser.add_argument("--memory-users", type=str, default="",
                        help="also run a cold generate at these roster sizes (e.g. 200000): the memory per user is "
                             "taken between the smallest and the largest size measured")
    parser.add_argument("--format-costs", action="store_true", help="print each format's render and verify cost")
    parser.add_argument("--settle", type=float, default=400,
                        help="seconds to wait (after writing the page cache back) before the first run, so that "
                             "files deleted just before do not slow it down (see the docstring)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.users.split(",")]
    work = Path(tempfile.mkdtemp(prefix="mailprofiles-bench-", dir=args.workdir))
    command = [sys.executable, "-m", "generator"]

    def generate(out: Path, users_inventory: Path) -> list[str]:
        return command + ["generate", str(users_inventory), "-o", str(out), "--json", "--jobs", str(args.jobs)]

    try:
        print(f"cores: {os.cpu_count()}   jobs: {args.jobs or 'one per core and one more'}   pairs: {args.pairs}   "
              f"load before: {os.getloadavg()[0]:.2f}")
        sys.stdout.flush()
        os.sync()
        time.sleep(args.settle)
        cold_rss: list[tuple[int, int]] = []
        for number, users in enumerate(sizes):
            inventory = work / f"inventory-{users}"
            write_inventory(inventory, users)
            cold_rss.append((users, measure_size(args, work, inventory, users, generate, reruns=number == 0)))
        if args.syscall_users:
            syscall_sizes = (max(1, args.syscall_users // 2), args.syscall_users)
            print(f"system calls per file: {syscalls_per_file(work, syscall_sizes, args.jobs)}")
        if args.format_costs:
            print("CPU per file, best of 3 rounds over up to 200 files of each format:")
            sys.stdout.flush()
            subprocess.run([sys.executable, __file__, "--format-costs", str(work / f"inventory-{sizes[0]}")],
                           check=True, env=_environment())
        for users in (int(n) for n in args.memory_users.split(",") if n) if args.memory_users else ():
            folder, target = work / f"memory-{users}", work / f"memory-{users}-out"
            write_inventory(folder, users)
            spent: list[Cpu] = []
            seconds, rss, tree, _, freed = _fresh(generate(target, folder), target, work, spent)
            cold_rss.append((users, rss))
            print(f"generate (cold) at {users:,} users: {seconds:.2f} s, {spent[0]}, peak RSS {rss / 1024:.0f} MiB "
                  f"(largest process), {tree / 1024:.0f} MiB (all processes, sampled)"
                  + (f" (after deleting {freed:,} files for room)" if freed else ""))
        if len({users for users, _ in cold_rss}) >= 2:
            (u1, r1), (u2, r2) = min(cold_rss), max(cold_rss)
            print(f"generate (cold) memory per user: {(r2 - r1) * 1024 / (u2 - u1):,.0f} bytes (peak RSS of the "
                  f"largest process, between {u1:,} and {u2:,} users)")
        if args.plan_users:
            folder = work / "plan"
            write_inventory(folder, args.plan_users)
            seconds, rss, _, _ = run(command + ["validate", str(folder)])
            print(f"plan only (validate) at {args.plan_users:,} users: {seconds:.2f} s, peak RSS {rss / 1024:.0f} MiB")
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
