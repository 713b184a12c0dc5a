"""The shard examples run as they are: the Kubernetes Job's command for every index, and the GNU parallel script.

Their union is compared with one unsharded run, byte for byte (the system tier: it starts the real
shell, GNU parallel and one process per shard, at the same time, as the Job's pods would run).
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import INSTALLED, ROOT

from generator import generate

JOB = ROOT / "examples/kubernetes/mailprofiles-job.yaml"
SCRIPT = ROOT / "examples/parallel/generate-shards.sh"


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".mailprofiles" not in p.parts and p.relative_to(out).as_posix() != "manifest.json"}


def _union(folders: list[Path]) -> dict[str, bytes]:
    union: dict[str, bytes] = {}
    for folder in folders:
        made = _files(folder)
        assert not union.keys() & made.keys(), "a file made by two shards"
        union.update(made)
    return union


@pytest.fixture
def command(tmp_path) -> tuple[Path, dict[str, str]]:
    """A ``mailprofiles`` command on PATH, as an image or a machine with mailprofiles installed has it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    wrapper = folder / "mailprofiles"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m generator "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    if not INSTALLED:
        env["PYTHONPATH"] = str(ROOT)
    return wrapper, env


def _config_map_volume(folder: Path, data: dict[str, str]) -> None:
    """The files of a ConfigMap as the kubelet mounts them: links to ``..data/``, a link to a timestamped folder."""
    stamped = folder / "..2026_01_01_00_00_00.000000001"
    stamped.mkdir(parents=True)
    for name, text in data.items():
        (stamped / name).write_text(text, encoding="utf-8")
        (folder / name).symlink_to(f"..data/{name}")
    (folder / "..data").symlink_to(stamped.name)


def test_every_pod_of_the_indexed_job_runs_its_shard_and_the_union_is_one_run(tmp_path, command):
    _, env = command
    documents = {d["kind"]: d for d in yaml.safe_load_all(JOB.read_text(encoding="utf-8"))}
    job = documents["Job"]["spec"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    script = container["command"][-1]
    assert container["command"][:2] == ["sh", "-c"]
    for mount in container["volumeMounts"]:      # each volume at a folder of the test instead of its mount path
        local = tmp_path / mount["name"]
        if "configMap" in volumes[mount["name"]]:
            _config_map_volume(local, documents["ConfigMap"]["data"])
        else:
            local.mkdir()
        script = re.sub(rf"(?<![\w/]){re.escape(mount['mountPath'])}(?=[/\"\s]|$)", str(local), script)
    pods = [subprocess.Popen(["sh", "-c", script], env={**env, "JOB_COMPLETION_INDEX": str(index)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for index in range(job["completions"])]
    for index, process in enumerate(pods):
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"pod {index}: {stderr}"
        assert "manifest changed" in stdout
    full = tmp_path / "full"
    generate(tmp_path / "inventory", full, jobs=1)
    folders = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in folders] == [f"shard-{index}" for index in range(job["completions"])]
    assert _union(folders) == _files(full) and len(_files(full)) > 20
    assert any(path.startswith("autoconfig/") for path in _files(folders[0]))


def test_gnu_parallel_runs_the_shards_at_once_and_their_union_is_one_run(tmp_path, command):
    _, env = command
    inventory = tmp_path / "inv"
    inventory.mkdir()
    (inventory / "inventory.yaml").write_text(
        "organization: {name: Example GmbH, identifier: com.example}\n"
        "servers:\n  imap: {host: imap.example.com}\n  pop3: {host: pop.example.com}\n"
        "  smtp: {host: smtp.example.com}\nusers_file: users.csv\n",
        encoding="utf-8")
    (inventory / "users.csv").write_text("email,name,devices\n" + "".join(
        f"user{i}@example.{'com' if i % 2 else 'net'},User {i},desktop;phone\n" for i in range(30)), encoding="utf-8")
    out = tmp_path / "out root"          # a space in the path: every argument reaches mailprofiles whole
    result = subprocess.run(["sh", str(SCRIPT), str(inventory), str(out), "3"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert {line.split("\t")[0] for line in result.stdout.splitlines() if "\t" in line} == \
        {"shard 0:", "shard 1:", "shard 2:"}
    full = tmp_path / "full"
    generate(inventory, full, jobs=1)
    assert _union([out / f"shard-{index}" for index in range(3)]) == _files(full)
    again = subprocess.run(["sh", str(SCRIPT), str(inventory), str(out), "3"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "manifest would be" not in again.stdout
    assert again.stdout.count("manifest unchanged") == 3, again.stdout       # a rerun changes nothing
    # Another number of shards into the same folders is refused by each folder that holds files, and the
    # script stops with that shard's exit status.
    refused = subprocess.run(["sh", str(SCRIPT), str(inventory), str(out), "2"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr
    assert "holds shard 0/3's output" in refused.stderr or "holds shard 1/3's output" in refused.stderr
    assert _union([out / f"shard-{index}" for index in range(3)]) == _files(full)
    usage = subprocess.run(["sh", str(SCRIPT), str(inventory)], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
