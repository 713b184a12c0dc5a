"""A read with a bound takes the memory of what it reads, not of the bound: a mount table of a few KiB read with a
64 MiB bound, a small manifest with a 512 MiB one, an inventory file with its own."""
from __future__ import annotations

import io
import tracemalloc

import pytest

from generator.bounded import read_at_most
from generator.inventory.bounds import read_regular


def _peak(work) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("size", [0, 10, (1 << 20) + 3])
def test_read_at_most_reads_everything_up_to_the_limit(size):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert read_at_most(io.BytesIO(data), size + 1) == data
    assert read_at_most(io.BufferedReader(io.BytesIO(data)), max(size - 1, 0)) == data[:max(size - 1, 0)]


def test_a_small_file_read_with_a_large_bound_takes_little_memory(tmp_path):
    small = tmp_path / "mountinfo"
    small.write_bytes(b"36 35 98:0 / /mnt rw - ext3 /dev/root rw\n" * 40)
    with open(small, "rb") as handle:
        assert _peak(lambda: read_at_most(handle, 512 * 1024 * 1024)) < 4 * 1024 * 1024


def test_an_inventory_file_is_read_with_the_memory_of_its_size(tmp_path):
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("organization: {name: A, identifier: com.example}\n", encoding="utf-8")
    read = {}
    assert _peak(lambda: read.setdefault("data", read_regular(inventory, 256 * 1024 * 1024))) < 4 * 1024 * 1024
    assert read["data"] == inventory.read_bytes()
